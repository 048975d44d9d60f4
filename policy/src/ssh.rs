//! SSH signatures (OpenSSH's PROTOCOL.sshsig, as `git tag -s` writes them with
//! `gpg.format=ssh`) and the OpenSSH public keys a policy lists for them.
//!
//! A layer's SSH signature counts when it is a well-formed `SSHSIG` blob for the namespace
//! `git`, made by a key the policy lists (matched by the key bytes the blob carries), with a
//! supported algorithm, and it verifies over the layer's payload. The FIDO types (`sk-*`)
//! also carry what the authenticator claims (PROTOCOL.u2f): a flags byte, whose bit 0x01 is
//! user presence (a touch) and 0x04 user verification (a PIN or biometric), and a counter.
//! Those are kept as [`Touch`] evidence; the policy decides what it requires.
//!
//! An SSH signature carries no time. What that means for expiry, `max_age`, `expires` and
//! `inactivity` is decided where signatures are judged ([`crate::signature::judge`]).

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey, SshSig};

/// The namespace git signs in; a signature made for any other (`file`, `email`, …) is not a
/// tag signature, whatever it covers.
pub const NAMESPACE: &str = "git";

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus the verifier checks, in bits (the `rsa` crate's limit).
const MAX_RSA_BITS: usize = 4096;

/// Key types a policy may list, as OpenSSH names them.
pub const SUPPORTED: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// What a FIDO authenticator claimed when it signed: the flags byte and the signature counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// The flags byte (PROTOCOL.u2f): 0x01 user presence, 0x04 user verification.
    pub flags: u8,
    /// The authenticator's signature counter.
    pub counter: u32,
}

impl Touch {
    /// The authenticator saw the user (a touch).
    pub fn presence(self) -> bool {
        self.flags & 0x01 != 0
    }

    /// The authenticator verified the user (a PIN or biometric).
    pub fn verification(self) -> bool {
        self.flags & 0x04 != 0
    }
}

/// Whether `text` is an OpenSSH public key file (or meant to be one): its first line that is
/// neither blank nor a comment starts with a key type or an OpenSSH private key marker.
pub fn looks_like_ssh(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else { return false };
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) else {
        return false;
    };
    first.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        || first.split_whitespace().next().is_some_and(|t| {
            t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-") || t.contains("@openssh.com")
        })
}

/// The public keys of an OpenSSH public key file: one `type base64 [comment]` per line, blank
/// lines and `#` comments allowed. A private key, an unsupported type or a malformed line is
/// the error, in a sentence.
pub fn parse_keys(text: &[u8]) -> Result<Vec<PublicKey>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "is not text".to_owned())?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("-----BEGIN") {
            return Err("contains a private key; list the public key (the .pub file) instead".to_owned());
        }
        let kind = line.split_whitespace().next().unwrap_or_default();
        if !SUPPORTED.contains(&kind) {
            return Err(format!(
                "line {}: the key type {kind} is not supported (supported: {})",
                i + 1,
                SUPPORTED.join(", ")
            ));
        }
        let key =
            PublicKey::from_openssh(line).map_err(|e| format!("line {}: not an OpenSSH public key: {e}", i + 1))?;
        check_key(key.key_data()).map_err(|e| format!("line {}: {e}", i + 1))?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("contains no public key".to_owned());
    }
    Ok(keys)
}

/// A key a policy may hold: a supported type, EC points as OpenSSH writes them
/// (uncompressed), and RSA of 2048 to 4096 bits.
fn check_key(key: &KeyData) -> Result<(), String> {
    let uncompressed = |point: &[u8]| {
        if point.len() == 65 && point[0] == 0x04 {
            Ok(())
        } else {
            Err("the key's EC point is not written as OpenSSH writes it (uncompressed)".to_owned())
        }
    };
    match key {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => Ok(()),
        KeyData::SkEcdsaSha2NistP256(k) => uncompressed(k.ec_point().as_bytes()),
        KeyData::Ecdsa(k) if k.curve() == EcdsaCurve::NistP256 => uncompressed(k.as_sec1_bytes()),
        KeyData::Rsa(k) => {
            let n = k.n.as_positive_bytes().filter(|n| !n.is_empty()).ok_or("the RSA key has no modulus")?;
            let bits = (n.len() * 8).saturating_sub(n.first().map_or(8, |b| b.leading_zeros() as usize));
            match bits {
                ..MIN_RSA_BITS => Err(format!("the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")),
                MIN_RSA_BITS..=MAX_RSA_BITS => Ok(()),
                _ => Err(format!("the RSA key has {bits} bits; at most {MAX_RSA_BITS} are supported")),
            }
        }
        other => Err(format!("the key type {} is not supported", other.algorithm())),
    }
}

/// The public key itself, however it is written (OpenSSH or OpenPGP, a security key's or a
/// plain one): what "a key belongs to one signer" compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Material {
    /// An ed25519 public key.
    Ed25519(Vec<u8>),
    /// A NIST P-256 point, uncompressed.
    P256(Vec<u8>),
    /// An RSA public key: exponent and modulus, big-endian without leading zeros.
    Rsa(Vec<u8>, Vec<u8>),
}

impl Material {
    /// An RSA key from its exponent and modulus, big-endian (leading zeros dropped).
    pub fn rsa(e: &[u8], n: &[u8]) -> Material {
        let trim = |b: &[u8]| b.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
        Material::Rsa(trim(e), trim(n))
    }
}

/// The [`Material`] of an SSH key ([`check_key`] has accepted it).
pub fn material(key: &KeyData) -> Option<Material> {
    match key {
        KeyData::Ed25519(k) => Some(Material::Ed25519(k.0.to_vec())),
        KeyData::SkEd25519(k) => Some(Material::Ed25519(k.public_key().0.to_vec())),
        KeyData::Ecdsa(k) => Some(Material::P256(k.as_sec1_bytes().to_vec())),
        KeyData::SkEcdsaSha2NistP256(k) => Some(Material::P256(k.ec_point().as_bytes().to_vec())),
        KeyData::Rsa(k) => Some(Material::rsa(k.e.as_positive_bytes()?, k.n.as_positive_bytes()?)),
        _ => None,
    }
}

/// Whether `key` is a FIDO (security key) type, whose signatures carry [`Touch`] evidence.
pub fn is_hardware(key: &KeyData) -> bool {
    matches!(key, KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_))
}

/// The key's type as OpenSSH names it (`ssh-ed25519`, `sk-ssh-ed25519@openssh.com`, …).
pub fn key_type(key: &KeyData) -> String {
    key.algorithm().as_str().to_owned()
}

/// The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:…`.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// An SSH signature block read, not yet verified.
#[derive(Debug, Clone)]
pub struct Signed {
    sig: SshSig,
}

/// Why an SSH signature block does not count, before any key is tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Not a PEM-armored SSHSIG blob.
    #[error("the SSH signature block cannot be parsed: {0}")]
    Malformed(String),
    /// Made for another namespace than `git` (T34).
    #[error("the SSH signature was made for the namespace {0:?}, not \"git\": it is not a tag signature")]
    Namespace(String),
    /// An algorithm git-signed does not accept.
    #[error("the SSH signature uses {0:?}, which is not accepted (supported: {list})", list = SUPPORTED.join(", "))]
    Algorithm(String),
}

impl Signed {
    /// Read an armored `-----BEGIN SSH SIGNATURE-----` block as git stores it in a tag. Only
    /// the one encoding of a signature is accepted (what is read must encode back to the same
    /// bytes), so no one but the signer can make another tag object carrying it, and the
    /// signature's algorithm must be its key's.
    pub fn parse(block: &[u8]) -> Result<Signed, Unreadable> {
        let malformed = |why: &str| Unreadable::Malformed(why.to_owned());
        let sig = SshSig::from_pem(block).map_err(|e| Unreadable::Malformed(e.to_string()))?;
        let again = sig.to_pem(ssh_key::LineEnding::LF).map_err(|e| Unreadable::Malformed(e.to_string()))?;
        let read = pem_body(block).ok_or_else(|| malformed("its armor cannot be read"))?;
        if pem_body(again.as_bytes()).is_none_or(|canonical| canonical != read) {
            return Err(malformed("it is not encoded as OpenSSH encodes it (fields longer than their contents?)"));
        }
        if sig.namespace() != NAMESPACE {
            return Err(Unreadable::Namespace(sig.namespace().to_owned()));
        }
        let algorithm = sig.signature().algorithm();
        let accepted = match (&algorithm, sig.public_key()) {
            (Algorithm::Ed25519, KeyData::Ed25519(_))
            | (Algorithm::SkEd25519, KeyData::SkEd25519(_))
            | (Algorithm::SkEcdsaSha2NistP256, KeyData::SkEcdsaSha2NistP256(_))
            | (Algorithm::Rsa { hash: Some(_) }, KeyData::Rsa(_)) => true,
            (Algorithm::Ecdsa { curve }, KeyData::Ecdsa(k)) => *curve == EcdsaCurve::NistP256 && k.curve() == *curve,
            _ => false,
        };
        if !accepted || check_key(sig.public_key()).is_err() {
            let name = match algorithm {
                Algorithm::Rsa { hash: None } => "ssh-rsa (RSA with SHA-1)".to_owned(),
                other => other.as_str().to_owned(),
            };
            return Err(Unreadable::Algorithm(name));
        }
        Ok(Signed { sig })
    }

    /// The key the signature says made it.
    pub fn key(&self) -> &KeyData {
        self.sig.public_key()
    }

    /// Verify the signature over `payload` with `key` (the policy's copy of [`Signed::key`]);
    /// for FIDO keys, the authenticator's claims it was made with.
    pub fn verify(&self, key: &PublicKey, payload: &[u8]) -> Result<Option<Touch>, String> {
        key.verify(NAMESPACE, payload, &self.sig).map_err(|e| e.to_string())?;
        if !is_hardware(key.key_data()) {
            return Ok(None);
        }
        // PROTOCOL.u2f: the signature ends with the flags byte and a big-endian u32 counter
        // (verified above as part of what the authenticator signed).
        let bytes = self.sig.signature_bytes();
        let trailer = bytes.len().checked_sub(5).and_then(|at| bytes.get(at..)).ok_or("no FIDO trailer")?;
        let counter = u32::from_be_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
        Ok(Some(Touch { flags: trailer[0], counter }))
    }
}

/// The bytes of a PEM block's base64 body (the lines between its BEGIN and END lines).
fn pem_body(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines().map(str::trim_end);
    lines.next().filter(|l| l.starts_with("-----BEGIN "))?;
    let body: String = lines.take_while(|l| !l.starts_with("-----END ")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_told_apart_by_content() {
        assert!(looks_like_ssh(b"ssh-ed25519 AAAAC3Nz alice@laptop\n"));
        assert!(looks_like_ssh(b"# alice\n\nsk-ssh-ed25519@openssh.com AAAA x\n"));
        assert!(looks_like_ssh(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(!looks_like_ssh(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
        assert!(!looks_like_ssh(&[0x99, 0x01, 0x0d]));
    }

    /// A hostile signature's RSA key with no modulus (or a negative one) is refused, never a
    /// panic or a wrapped size that passes.
    #[test]
    fn an_rsa_key_without_a_modulus_is_refused() {
        for n in [&[][..], &[0x80, 1][..]] {
            let e = ssh_key::Mpint::from_positive_bytes(&[1, 0, 1]).expect("e");
            let n = ssh_key::Mpint::try_from(n).expect("n");
            let key = KeyData::Rsa(ssh_key::public::RsaPublicKey { e, n });
            assert!(check_key(&key).is_err());
        }
    }

    #[test]
    fn unsupported_types_and_private_keys_are_refused_by_name() {
        let dss = parse_keys(b"ssh-dss AAAAB3NzaC1kc3MAAACBAP x\n").unwrap_err();
        assert!(dss.contains("ssh-dss is not supported"), "{dss}");
        let p384 = parse_keys(b"ecdsa-sha2-nistp384 AAAA x\n").unwrap_err();
        assert!(p384.contains("ecdsa-sha2-nistp384"), "{p384}");
        let private = parse_keys(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n").unwrap_err();
        assert!(private.contains("private key"), "{private}");
        assert!(parse_keys(b"# nothing\n").unwrap_err().contains("no public key"));
    }
}
