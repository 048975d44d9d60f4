//! The keys a policy lists: OpenPGP certificates and OpenSSH public keys, loaded from key
//! files (public parts only) and told apart by their content; certificates indexed by every
//! key's fingerprint and key id, SSH keys by their bytes, so a signature finds its owner.

use std::collections::HashMap;

use sequoia_openpgp::cert::{Cert, CertParser};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::{Fingerprint, KeyHandle, KeyID};
use toml::Spanned;

use super::parse::Locator;
use super::{Policy, PolicyError, Principal};
use crate::facts::{CertDigest, SignatureFact, SigningKey};
use crate::ssh;

/// A certificate listed in the policy and the signer it belongs to.
#[derive(Debug)]
pub struct KnownCert {
    /// Whose key this is.
    pub principal: Principal,
    /// The parsed certificate.
    pub cert: Cert,
    /// Its owner and exact bytes, which remembered signature facts depend on.
    pub digest: CertDigest,
}

/// An OpenSSH public key listed in the policy and the signer it belongs to.
#[derive(Debug)]
pub struct KnownSshKey {
    /// Whose key this is.
    pub principal: Principal,
    /// The key.
    pub key: ssh_key::PublicKey,
    /// Its `SHA256:…` fingerprint.
    pub fingerprint: String,
    /// Its owner and exact bytes, which remembered signature facts depend on.
    pub digest: CertDigest,
}

impl KnownSshKey {
    /// The key's type as OpenSSH names it.
    pub fn key_type(&self) -> String {
        ssh::key_type(self.key.key_data())
    }
}

/// A key the policy holds, of either format: who made a signature, as a remembered fact
/// names it.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// An OpenPGP certificate.
    OpenPgp(&'a KnownCert),
    /// An OpenSSH public key.
    Ssh(&'a KnownSshKey),
}

impl Known<'_> {
    /// Whose key it is.
    pub fn principal(&self) -> &Principal {
        match self {
            Known::OpenPgp(k) => &k.principal,
            Known::Ssh(k) => &k.principal,
        }
    }
}

/// What a key file holds. Few per policy, and moved once into the keyring: not boxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum ListedKey {
    OpenPgp(Cert),
    Ssh(ssh_key::PublicKey),
}

impl ListedKey {
    /// The key's name in the policy model.
    pub(super) fn id(&self) -> SigningKey {
        match self {
            ListedKey::OpenPgp(cert) => SigningKey::OpenPgp(cert.fingerprint()),
            ListedKey::Ssh(key) => SigningKey::Ssh(ssh::fingerprint(key.key_data())),
        }
    }

    /// Every public key in it, by name and by what it is: an OpenPGP certificate's primary key
    /// and subkeys, or the SSH key.
    fn materials(&self) -> Vec<(SigningKey, ssh::Material)> {
        use sequoia_openpgp::crypto::mpi::PublicKey as Mpis;
        use sequoia_openpgp::types::Curve;
        match self {
            ListedKey::Ssh(key) => ssh::material(key.key_data())
                .map(|m| (SigningKey::Ssh(ssh::fingerprint(key.key_data())), m))
                .into_iter()
                .collect(),
            ListedKey::OpenPgp(cert) => cert
                .keys()
                .filter_map(|ka| {
                    let key = ka.key();
                    let material = match key.mpis() {
                        Mpis::EdDSA { curve: Curve::Ed25519, q } => {
                            let v = q.value();
                            ssh::Material::Ed25519(v.strip_prefix(&[0x40]).unwrap_or(v).to_vec())
                        }
                        Mpis::Ed25519 { a } => ssh::Material::Ed25519(a.to_vec()),
                        Mpis::ECDSA { curve: Curve::NistP256, q } => ssh::Material::P256(q.value().to_vec()),
                        Mpis::RSA { e, n } => ssh::Material::rsa(e.value(), n.value()),
                        _ => return None,
                    };
                    Some((SigningKey::OpenPgp(key.fingerprint()), material))
                })
                .collect(),
        }
    }

    /// Whether it is a FIDO security key (an `sk-*` SSH key).
    pub(super) fn is_hardware(&self) -> bool {
        matches!(self, ListedKey::Ssh(key) if ssh::is_hardware(key.key_data()))
    }
}

/// Every key of a policy: certificates indexed by each (sub)key's fingerprint and key id, SSH
/// keys by their encoded bytes.
#[derive(Debug, Default)]
pub(super) struct Keyring {
    certs: Vec<KnownCert>,
    by_fingerprint: HashMap<Fingerprint, usize>,
    by_keyid: HashMap<KeyID, Vec<usize>>,
    by_digest: HashMap<CertDigest, usize>,
    ssh: Vec<KnownSshKey>,
    ssh_by_blob: HashMap<Vec<u8>, usize>,
    /// Every key by what it is, however written: its owner and its name.
    by_material: HashMap<ssh::Material, (Principal, SigningKey)>,
}

impl Keyring {
    /// Add `principal`'s keys; a key may belong to one signer only (the error says which key
    /// and whose).
    pub(super) fn add(&mut self, principal: &Principal, keys: Vec<ListedKey>) -> Result<(), String> {
        // One key written two ways (OpenPGP and SSH, a security key's form and a plain one)
        // is still one key, and may belong to one signer only.
        for key in &keys {
            for (id, material) in key.materials() {
                match self.by_material.get(&material) {
                    Some((owner, other)) if owner != principal && *other == id => {
                        return Err(format!(
                            "key {id} belongs to both {owner} and {principal}; a key must belong to one signer"
                        ));
                    }
                    Some((owner, other)) if owner != principal => {
                        return Err(format!(
                            "{principal}'s key {id} is the same key as {owner}'s key {other}; a key must belong to one signer"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.by_material.insert(material, (principal.clone(), id));
                    }
                }
            }
        }
        let mut certs = Vec::new();
        for key in keys {
            match key {
                ListedKey::OpenPgp(cert) => certs.push(cert),
                ListedKey::Ssh(key) => self.add_ssh(principal, key)?,
            }
        }
        self.add_certs(principal, certs)
    }

    fn add_ssh(&mut self, principal: &Principal, key: ssh_key::PublicKey) -> Result<(), String> {
        let blob = ssh_key::PublicKey::from(key.key_data().clone())
            .to_bytes()
            .map_err(|e| format!("{principal}: cannot encode SSH key: {e}"))?;
        let fingerprint = ssh::fingerprint(key.key_data());
        if let Some(&other) = self.ssh_by_blob.get(&blob) {
            let owner = &self.ssh[other].principal;
            if owner == principal {
                return Ok(());
            }
            return Err(format!(
                "SSH key {fingerprint} belongs to both {owner} and {principal}; a key must belong to one signer"
            ));
        }
        let digest = CertDigest::new(principal, &blob);
        self.ssh_by_blob.insert(blob, self.ssh.len());
        self.ssh.push(KnownSshKey { principal: principal.clone(), key, fingerprint, digest });
        Ok(())
    }

    fn add_certs(&mut self, principal: &Principal, certs: Vec<Cert>) -> Result<(), String> {
        for cert in certs {
            // Two copies of one certificate for the same signer (an updated export beside the
            // old file, a revocation in one of them) are one certificate: merged, so the
            // revocation is seen whichever copy is listed first, and so one digest names it.
            let same =
                self.certs.iter().position(|k| k.principal == *principal && k.cert.fingerprint() == cert.fingerprint());
            let (idx, cert) = match same {
                Some(i) => {
                    let merged =
                        self.certs[i].cert.clone().merge_public(cert).map_err(|e| format!("{principal}: {e}"))?;
                    self.by_digest.remove(&self.certs[i].digest);
                    (i, merged)
                }
                None => (self.certs.len(), cert),
            };
            for key in cert.keys() {
                let fpr = key.key().fingerprint();
                if let Some(&other) = self.by_fingerprint.get(&fpr) {
                    let owner = &self.certs[other].principal;
                    if owner == principal {
                        continue;
                    }
                    return Err(format!(
                        "key {fpr} belongs to both {owner} and {principal}; a key must belong to one signer"
                    ));
                }
                self.by_fingerprint.insert(fpr, idx);
                self.by_keyid.entry(key.key().keyid()).or_default().push(idx);
            }
            let bytes = cert
                .to_vec()
                .map_err(|e| format!("{principal}: cannot serialize certificate {}: {e}", cert.fingerprint()))?;
            let digest = CertDigest::new(principal, &bytes);
            self.by_digest.insert(digest, idx);
            let known = KnownCert { principal: principal.clone(), cert, digest };
            match same {
                Some(i) => self.certs[i] = known,
                None => self.certs.push(known),
            }
        }
        Ok(())
    }
}

impl Policy {
    /// The certificates that may have issued a signature naming `issuers`, each with its owner.
    pub fn certs_for(&self, issuers: &[KeyHandle]) -> Vec<&KnownCert> {
        let mut found: Vec<usize> = Vec::new();
        for issuer in issuers {
            let hits: &[usize] = match issuer {
                KeyHandle::Fingerprint(fpr) => self.keyring.by_fingerprint.get(fpr).map_or(&[], std::slice::from_ref),
                KeyHandle::KeyID(id) => self.keyring.by_keyid.get(id).map_or(&[], Vec::as_slice),
            };
            for hit in hits {
                if !found.contains(hit) {
                    found.push(*hit);
                }
            }
        }
        found.into_iter().filter_map(|i| self.keyring.certs.get(i)).collect()
    }

    /// The SSH key in the policy with exactly the key data a signature names.
    pub fn ssh_key_for(&self, key: &ssh_key::public::KeyData) -> Option<&KnownSshKey> {
        let blob = ssh_key::PublicKey::from(key.clone()).to_bytes().ok()?;
        self.keyring.ssh_by_blob.get(&blob).and_then(|&i| self.keyring.ssh.get(i))
    }

    /// The key a remembered signature fact still stands on: the one the policy holds with the
    /// fact's digest, and the one its signing key belongs to now (so the fact is judged
    /// against exactly the key a full check would use).
    pub fn known_for_fact(&self, fact: &SignatureFact) -> Option<Known<'_>> {
        match &fact.key {
            SigningKey::OpenPgp(fpr) => {
                let i = *self.keyring.by_digest.get(&fact.cert)?;
                (self.keyring.by_fingerprint.get(fpr) == Some(&i))
                    .then(|| self.keyring.certs.get(i).map(Known::OpenPgp))
                    .flatten()
            }
            SigningKey::Ssh(fpr) => {
                self.keyring.ssh.iter().find(|k| k.digest == fact.cert && k.fingerprint == *fpr).map(Known::Ssh)
            }
        }
    }

    /// Every certificate in the policy with its owner.
    pub fn certs(&self) -> &[KnownCert] {
        &self.keyring.certs
    }

    /// Every SSH key in the policy with its owner.
    pub fn ssh_keys(&self) -> &[KnownSshKey] {
        &self.keyring.ssh
    }

    /// Keys that cannot make a valid signature today (expired, revoked, no signing-capable key
    /// under the standard policy), one sentence each. Not errors: their old signatures may
    /// still count; `git signed policy check` and `audit` show them.
    pub fn unusable_keys(&self, now: std::time::SystemTime) -> Vec<String> {
        let standard = sequoia_openpgp::policy::StandardPolicy::new();
        self.keyring
            .certs
            .iter()
            .filter_map(|k| {
                let fpr = k.cert.fingerprint();
                let why = match k.cert.with_policy(&standard, now) {
                    Err(e) => e.to_string(),
                    Ok(vc) if vc.alive().is_err() => "it has expired".to_owned(),
                    Ok(vc) if vc.keys().for_signing().alive().revoked(false).next().is_none() => {
                        "it has no valid signing-capable key".to_owned()
                    }
                    Ok(_) => return None,
                };
                Some(format!("{}'s key {fpr} cannot sign now: {why}", k.principal))
            })
            .collect()
    }
}

/// Reads a key file given its path as the policy writes it.
pub type ReadKey<'a> = dyn Fn(&str) -> std::io::Result<Vec<u8>> + 'a;

pub(super) fn load(
    loc: &Locator<'_>,
    read_key: &ReadKey<'_>,
    owner: &Principal,
    keys: &Spanned<Vec<Spanned<String>>>,
    digest: &mut gix::hash::Hasher,
) -> Result<Vec<ListedKey>, PolicyError> {
    if keys.get_ref().is_empty() {
        return Err(loc.span(
            keys,
            format!(
                "{owner} has no keys, so nothing they sign could ever be checked; list at least one key file (an OpenPGP certificate or an OpenSSH .pub file)"
            ),
        ));
    }
    let mut certs = Vec::new();
    for key in keys.get_ref() {
        let path = key.get_ref();
        let bytes = read_key(path).map_err(|e| loc.span(key, format!("{owner}: cannot read key file {path}: {e}")))?;
        digest.update(&(bytes.len() as u64).to_be_bytes());
        digest.update(&bytes);
        // Told apart by content, not by name: `alice.pub` may hold either.
        if ssh::looks_like_ssh(&bytes) {
            let keys = ssh::parse_keys(&bytes).map_err(|e| loc.span(key, format!("{owner}: {path} {e}")))?;
            certs.extend(keys.into_iter().map(ListedKey::Ssh));
            continue;
        }
        let mut found = 0;
        for cert in CertParser::from_bytes(&bytes)
            .map_err(|e| loc.span(key, format!("{owner}: {} is not an OpenPGP certificate: {e}", path)))?
        {
            let cert = cert.map_err(|e| loc.span(key, format!("{owner}: {} holds a broken certificate: {e}", path)))?;
            if cert.is_tsk() {
                return Err(loc.span(key, format!(
                    "{owner}: {} contains secret key material; export only the public certificate (gpg --export --armor)",
                    path
                )));
            }
            certs.push(ListedKey::OpenPgp(cert));
            found += 1;
        }
        if found == 0 {
            return Err(
                loc.span(key, format!("{owner}: {path} contains no OpenPGP certificate and no OpenSSH public key"))
            );
        }
    }
    Ok(certs)
}
