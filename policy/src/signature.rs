//! Checking one layer's signature against the policy's keys (design.md §4, "a signature
//! counts when").
//!
//! Mirrors what sequoia's streaming verifier does at the signature's creation time (binding
//! valid, certificate and key alive, not revoked — hard revocations void retroactively —
//! signing-capable, standard policy, not from the future), then adds what the product needs
//! on top: the signer must be in the policy, a person's `expires` is respected, and at push
//! time a new layer must also be valid *now* and recent. Never "skips" a bad signature: every
//! outcome is either a signer or a [`Problem`].

use std::time::{Duration, SystemTime};

use gix::objs::signature::Format;
use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::packet::Signature;
use openpgp::parse::{Dearmor, PacketParserBuilder, Parse};
use openpgp::policy::{AsymmetricAlgorithm, HashAlgoSecurity, Policy as _, StandardPolicy};
use openpgp::types::RevocationStatus;
use openpgp::{Fingerprint, KeyHandle, Packet};
use sequoia_openpgp as openpgp;

use crate::facts::{SignatureFact, SigningKey};
use crate::policy::{Known, KnownCert, KnownSshKey, Policy, Principal};
use crate::ssh::{self, Touch};

/// How far in the future a signature may be dated before it is rejected (T11).
pub const CLOCK_SKEW: Duration = Duration::from_secs(10 * 60);
/// The largest signature block accepted, in bytes.
pub const MAX_SIGNATURE_SIZE: usize = 64 * 1024;

static STANDARD_POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// Why a layer's signature does not count.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// No signature at all (T1).
    #[error("is not signed")]
    Unsigned,
    /// X.509 signatures are not checked.
    #[error("carries an {0} signature; git-signed checks OpenPGP and SSH signatures")]
    UnsupportedFormat(&'static str),
    /// An SSH signature made for another namespace than `git`: not a tag signature (T34).
    #[error("carries an SSH signature made for the namespace {0:?}, not \"git\": it was not made to sign a tag")]
    SshNamespace(String),
    /// An SSH signature algorithm that is not accepted.
    #[error("carries an SSH signature made with {0:?}, which is not accepted (supported: {list})", list = ssh::SUPPORTED.join(", "))]
    SshAlgorithm(String),
    /// An SSH signature where the time of signing matters (a change of the policy kept in the
    /// repository, whose history is judged at each signature's time).
    #[error(
        "carries an SSH signature, which records no time; changes of the policy must be signed with an OpenPGP key"
    )]
    NeedsTime,
    /// No SSH key in the policy made it: its fingerprint and, when the signature names it, its type.
    #[error("is signed by SSH key {0}{kind}, which is not in the policy", kind = .1.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    UnknownSshKey(String, Option<String>),
    /// The block cannot be parsed.
    #[error("has a signature block that cannot be parsed: {0}")]
    Malformed(String),
    /// More or fewer than one signature packet.
    #[error("carries {0} signatures; each layer must carry exactly one")]
    NotOne(usize),
    /// No key in the policy made it (T3): the issuers the signature names.
    #[error("is signed by key {}, which is not in the policy", issuers(.0))]
    UnknownKey(Vec<KeyHandle>),
    /// Missing creation time.
    #[error("has a signature without a creation time")]
    NoCreationTime,
    /// The key was not valid when the signature was made (expired, revoked, not yet created, T9).
    #[error("{principal}'s key {} was not valid at the signature's time {}: {reason}", key.to_hex(), format_time(*at))]
    KeyNotValid { principal: Principal, key: Fingerprint, at: SystemTime, reason: String },
    /// The signature does not match the bytes (T4).
    #[error("{principal}'s signature does not match the tag's bytes (altered after signing?): {reason}")]
    BadSignature { principal: Principal, reason: String },
    /// Rejected by the standard policy (T10: SHA-1 and other weak algorithms).
    #[error("{principal}'s signature uses an algorithm that is no longer accepted: {reason}")]
    WeakAlgorithm { principal: Principal, reason: String },
    /// Dated in the future (T11).
    #[error("{principal}'s signature is dated {}, in the future", format_time(*at))]
    Future { principal: Principal, at: SystemTime },
    /// The person's access had expired when they signed (T12).
    #[error("{principal}'s access expired on {expires}; the signature made {} does not count", format_time(*at))]
    AccessExpired { principal: Principal, expires: jiff::civil::Date, at: SystemTime },
    /// At push time: the key is expired or revoked now (T8).
    #[error("{principal}'s key {} is not valid now: {reason}", key.as_ref().map(ToString::to_string).unwrap_or_default())]
    NotValidNow { principal: Principal, key: Option<SigningKey>, reason: String },
    /// At push time: the signature is older than the rule's `max_age`.
    #[error("{principal}'s signature was made {}, more than {} ago; sign again", format_time(*at), crate::duration::format(*max_age))]
    TooOld { principal: Principal, at: SystemTime, max_age: Duration },
    /// At push time: an SSH layer's tag is dated before `max_age` (an SSH signature carries no
    /// time of its own; the tag's date, which the signer chose, can only count against it).
    #[error("{principal}'s SSH-signed layer is dated {}, more than {} ago; sign again", format_time(*at), crate::duration::format(*max_age))]
    TaggedTooLongAgo { principal: Principal, at: SystemTime, max_age: Duration },
}

/// The issuers a signature names, for messages.
fn issuers(handles: &[KeyHandle]) -> String {
    if handles.is_empty() {
        return "(no issuer recorded)".to_owned();
    }
    handles.iter().map(KeyHandle::to_hex).collect::<Vec<_>>().join(", ")
}

/// The result of checking one layer's signature.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// Who made it, when the key is in the policy.
    pub signer: Option<Principal>,
    /// The key that made it.
    pub key: Option<SigningKey>,
    /// The signature's creation time (none for SSH signatures).
    pub created: Option<SystemTime>,
    /// What a FIDO security key claimed when it made the signature.
    pub touch: Option<Touch>,
    /// Why it does not count, if it doesn't.
    pub problem: Option<Problem>,
    /// When the answer can change by time alone, if that lies ahead: the signature expires, a
    /// signature dated in the future comes due, or the standard policy stops accepting the
    /// key's algorithm. Outside a push nothing else about a signature depends on the time, so
    /// what is remembered from this check (a signing history, a verdict) holds until then.
    pub until: Option<SystemTime>,
}

impl SignatureCheck {
    fn problem(problem: Problem) -> Self {
        SignatureCheck { signer: None, key: None, created: None, touch: None, problem: Some(problem), until: None }
    }

    /// Whether the signature counts.
    pub fn is_valid(&self) -> bool {
        self.problem.is_none()
    }
}

/// When a signature is judged.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The current time.
    pub now: SystemTime,
    /// `Some(max_age)` for a layer new at push time: valid now and at most this old.
    pub fresh_within: Option<Duration>,
    /// The date the signed object gives itself (a tag's tagger line), which its signer chose:
    /// never trusted to accept, only to refuse an SSH layer at push that says it is too old.
    pub claimed: Option<SystemTime>,
}

/// Format a time as RFC 3339 UTC seconds, for messages and JSON.
pub fn format_time(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.round(jiff::Unit::Second).unwrap_or(ts).to_string())
        .unwrap_or_else(|_| "(unrepresentable time)".to_owned())
}

/// The packets of an ASCII-armored signature block (RFC 9580 §6.2), read strictly as gpg
/// writes it: the BEGIN line, armor headers (`Key: value`) and the blank line that ends them,
/// base64 lines, an optional `=` checksum line, and the END line last. Any other line is
/// refused: it would be text no one signed inside a signed tag. Decoded here, on the path
/// that runs once per layer, instead of by sequoia's armor reader, which probes the input as
/// binary first (an error, and under RUST_BACKTRACE a backtrace, per signature) and zeroes a
/// large buffer. The checksum is not needed: a changed byte fails the signature itself.
fn dearmor(block: &[u8]) -> Result<Vec<u8>, Problem> {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";
    const END: &str = "-----END PGP SIGNATURE-----";
    let malformed = |why: &str| Problem::Malformed(format!("the ASCII armor {why}"));
    let text = std::str::from_utf8(block).map_err(|_| malformed("is not text"))?;
    let mut lines = text.lines().map(str::trim_end);
    if lines.next() != Some(BEGIN) {
        return Err(malformed("does not start with -----BEGIN PGP SIGNATURE-----"));
    }
    let mut headers_end = lines.by_ref().skip_while(|l| is_armor_header(l));
    if headers_end.next() != Some("") {
        return Err(malformed("has no blank line after its headers"));
    }
    let base64 = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    let mut body = String::with_capacity(block.len());
    let mut last = None;
    for line in lines.by_ref() {
        if line == END || line.starts_with('=') {
            last = Some(line);
            break;
        }
        if !base64(line) {
            return Err(malformed(&format!(
                "has a line that is not base64: {:?}",
                line.chars().take(40).collect::<String>()
            )));
        }
        body.push_str(line);
    }
    if let Some(checksum) = last.filter(|l| l.starts_with('=')) {
        if checksum.len() != 5 || !base64(checksum) {
            return Err(malformed("has a malformed checksum line"));
        }
        last = lines.next();
    }
    if last != Some(END) || lines.next().is_some() {
        return Err(malformed("must end with its -----END PGP SIGNATURE----- line"));
    }
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| malformed("is not base64"))
}

/// `Key: value`, as armor headers are written (`Comment: …`, `Hash: SHA256`).
fn is_armor_header(line: &str) -> bool {
    line.split_once(": ")
        .is_some_and(|(key, _)| !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Parse an armored signature block that must hold exactly one signature.
pub fn parse_single(block: &[u8]) -> Result<Signature, Problem> {
    if block.len() > MAX_SIGNATURE_SIZE {
        return Err(Problem::Malformed(format!(
            "{} bytes, more than the {MAX_SIGNATURE_SIZE}-byte limit",
            block.len()
        )));
    }
    let binary = dearmor(block)?;
    let pile = PacketParserBuilder::from_bytes(&binary)
        .map(|b| b.dearmor(Dearmor::Disabled))
        .and_then(PacketParserBuilder::into_packet_pile)
        .map_err(|e| Problem::Malformed(e.to_string()))?;
    let mut packets: Vec<Packet> = pile.into_children().collect();
    if packets.len() != 1 {
        return Err(Problem::NotOne(packets.len()));
    }
    match packets.pop() {
        Some(Packet::Signature(sig)) => Ok(sig),
        Some(other) => Err(Problem::Malformed(format!("expected a signature packet, found {}", other.tag()))),
        None => Err(Problem::NotOne(0)),
    }
}

/// Check a layer's `signature` over `payload` against `policy`: the cryptography (see
/// [`crypto`]), then what depends on the time and the policy's people (see [`judge`]).
pub fn check(policy: &Policy, signature: Option<(Format, &[u8])>, payload: &[u8], timing: Timing) -> SignatureCheck {
    match crypto(policy, signature, payload) {
        Ok(fact) => judge(policy, &fact, timing),
        Err(check) => *check,
    }
}

/// Judge a signature already known to be cryptographically valid (`fact`, freshly made or
/// remembered) at `timing`: the signature's own validity period and clock skew (T11), the
/// person's `expires` (T12), and at push time validity now and `max_age` (T8). A fact whose
/// certificate is not in the policy any more is a caller's error, reported as an unknown key.
pub fn judge(policy: &Policy, fact: &SignatureFact, timing: Timing) -> SignatureCheck {
    let (known, key) = match (policy.known_for_fact(fact), &fact.key) {
        (Some(Known::OpenPgp(known)), SigningKey::OpenPgp(key)) => (known, key),
        (Some(Known::Ssh(known)), _) => return judge_ssh(policy, known, fact, timing),
        (_, SigningKey::OpenPgp(key)) => {
            return SignatureCheck::problem(Problem::UnknownKey(vec![KeyHandle::from(key.clone())]));
        }
        (_, SigningKey::Ssh(key)) => return SignatureCheck::problem(Problem::UnknownSshKey(key.clone(), None)),
    };
    let Some(created) = fact.created else {
        return SignatureCheck::problem(Problem::NoCreationTime);
    };
    let mut out = SignatureCheck {
        signer: Some(known.principal.clone()),
        key: Some(fact.key.clone()),
        created: Some(created),
        touch: None,
        problem: None,
        until: None,
    };
    if let Some(earliest) = created.checked_sub(CLOCK_SKEW).filter(|earliest| *earliest > timing.now) {
        out.until = Some(earliest);
        return with_problem(out, Problem::Future { principal: known.principal.clone(), at: created });
    }
    if fact.expires.is_some_and(|end| end <= timing.now) {
        let reason = "the signature itself has expired".to_owned();
        let problem =
            Problem::KeyNotValid { principal: known.principal.clone(), key: key.clone(), at: created, reason };
        return with_problem(out, problem);
    }
    // The standard policy judges a key's algorithm at the real time, not the signature's, so
    // a remembered fact must be judged again against it.
    let cutoff = algorithm_cutoff(known, key);
    if let Some(cutoff) = cutoff.filter(|c| *c <= timing.now) {
        let reason = format!("the key's algorithm is not accepted since {}", format_time(cutoff));
        return with_problem(out, Problem::WeakAlgorithm { principal: known.principal.clone(), reason });
    }
    out.until = [fact.expires, cutoff].into_iter().flatten().min();
    access_and_freshness(policy, known, out, created, timing)
}

/// Judge an SSH signature, which carries no time: wherever it is judged, it is judged *now*.
/// The key must be in the policy now and the signer's access (`expires`) valid now, so access
/// that ends ends the signatures with it; the verdict holds until then. At push, the tag's own
/// date can only refuse it: dated before `max_age`, or in the future. (`inactivity`, which needs
/// to know when people signed, cannot be combined with SSH keys for people: a policy error.)
fn judge_ssh(policy: &Policy, known: &KnownSshKey, fact: &SignatureFact, timing: Timing) -> SignatureCheck {
    let principal = known.principal.clone();
    let mut out = SignatureCheck {
        signer: Some(principal.clone()),
        key: Some(fact.key.clone()),
        created: None,
        touch: fact.touch,
        problem: None,
        until: None,
    };
    let now = timing.now;
    if let Principal::Person(name) = &principal
        && let Some(person) = policy.people.get(name)
        && let Some(end) = Policy::access_end(person)
    {
        let end = SystemTime::from(end);
        match (now >= end, person.expires) {
            (true, Some(expires)) => return with_problem(out, Problem::AccessExpired { principal, expires, at: now }),
            _ => out.until = Some(end),
        }
    }
    if let (Some(max_age), Some(claimed)) = (timing.fresh_within, timing.claimed) {
        if claimed.checked_sub(CLOCK_SKEW).is_some_and(|earliest| earliest > now) {
            return with_problem(out, Problem::Future { principal, at: claimed });
        }
        if now.duration_since(claimed).is_ok_and(|age| age > max_age) {
            return with_problem(out, Problem::TaggedTooLongAgo { principal, at: claimed, max_age });
        }
    }
    out
}

/// The type of the key a fact names, as its format names it: OpenSSH's key type
/// (`sk-ssh-ed25519@openssh.com`), or the OpenPGP public-key algorithm (`EdDSA`, `RSA`).
pub fn key_type(policy: &Policy, fact: &SignatureFact) -> Option<String> {
    match (policy.known_for_fact(fact)?, &fact.key) {
        (Known::Ssh(known), _) => Some(known.key_type()),
        (Known::OpenPgp(known), SigningKey::OpenPgp(fpr)) => {
            known.cert.keys().map(|ka| ka.key()).find(|k| k.fingerprint() == *fpr).map(|k| k.pk_algo().to_string())
        }
        _ => None,
    }
}

/// When the standard policy stops accepting the algorithm of `known`'s primary key or of its
/// (sub)key `key`, whichever comes first. Classified by algorithm and size as the standard
/// policy does (a test holds the two together).
fn algorithm_cutoff(known: &KnownCert, key: &Fingerprint) -> Option<SystemTime> {
    let primary = known.cert.primary_key().key().role_as_unspecified();
    let signing = known.cert.keys().map(|ka| ka.key()).find(|k| k.fingerprint() == *key);
    [Some(primary), signing]
        .into_iter()
        .flatten()
        .filter_map(|k| STANDARD_POLICY.asymmetric_algo_cutoff(asymmetric_algorithm(k)))
        .min()
}

/// The standard policy's class of a public key: algorithm and size, or curve.
fn asymmetric_algorithm(
    key: &openpgp::packet::Key<openpgp::packet::key::PublicParts, openpgp::packet::key::UnspecifiedRole>,
) -> AsymmetricAlgorithm {
    use AsymmetricAlgorithm as A;
    use openpgp::crypto::mpi::PublicKey as Mpis;
    use openpgp::types::{Curve, PublicKeyAlgorithm as Pk};
    let sized = |b: usize, classes: [A; 4]| match b {
        ..2048 => classes[0],
        2048..3072 => classes[1],
        3072..4096 => classes[2],
        _ => classes[3],
    };
    let bits = key.mpis().bits().unwrap_or(0);
    #[allow(deprecated)]
    match key.pk_algo() {
        Pk::RSAEncryptSign | Pk::RSAEncrypt | Pk::RSASign => {
            sized(bits, [A::RSA1024, A::RSA2048, A::RSA3072, A::RSA4096])
        }
        Pk::ElGamalEncrypt | Pk::ElGamalEncryptSign => {
            sized(bits, [A::ElGamal1024, A::ElGamal2048, A::ElGamal3072, A::ElGamal4096])
        }
        Pk::DSA => sized(bits, [A::DSA1024, A::DSA2048, A::DSA3072, A::DSA4096]),
        Pk::X25519 => A::X25519,
        Pk::X448 => A::X448,
        Pk::Ed25519 => A::Ed25519,
        Pk::Ed448 => A::Ed448,
        _ => match key.mpis() {
            Mpis::EdDSA { curve, .. } | Mpis::ECDSA { curve, .. } | Mpis::ECDH { curve, .. } => match curve {
                Curve::NistP256 => A::NistP256,
                Curve::NistP384 => A::NistP384,
                Curve::NistP521 => A::NistP521,
                Curve::BrainpoolP256 => A::BrainpoolP256,
                Curve::BrainpoolP384 => A::BrainpoolP384,
                Curve::BrainpoolP512 => A::BrainpoolP512,
                Curve::Ed25519 => A::EdDSA,
                Curve::Cv25519 => A::Cv25519,
                _ => A::Unknown,
            },
            _ => A::Unknown,
        },
    }
}

/// The part of a signature check that never changes for the same layer and the same
/// certificate: the block parses to one signature, a certificate in the policy names its
/// issuer, and the key was valid at the signature's time (binding, alive, not revoked — hard
/// revocations void retroactively — signing-capable, standard policy) and made it over
/// `payload`. Returns the [`SignatureFact`] to judge (and to remember), or why it fails.
pub fn crypto(
    policy: &Policy,
    signature: Option<(Format, &[u8])>,
    payload: &[u8],
) -> Result<SignatureFact, Box<SignatureCheck>> {
    let block = match signature {
        None => return Err(Box::new(SignatureCheck::problem(Problem::Unsigned))),
        Some((Format::OpenPgp, block)) => block,
        Some((Format::Ssh, block)) => return crypto_ssh(policy, block, payload),
        Some((Format::X509, _)) => return Err(Box::new(SignatureCheck::problem(Problem::UnsupportedFormat("X.509")))),
    };
    let sig = parse_single(block).map_err(|p| Box::new(SignatureCheck::problem(p)))?;
    let Some(created) = sig.signature_creation_time() else {
        return Err(Box::new(SignatureCheck::problem(Problem::NoCreationTime)));
    };
    let issuers = sig.get_issuers();
    let candidates = policy.certs_for(&issuers);
    if candidates.is_empty() {
        let mut out = SignatureCheck::problem(Problem::UnknownKey(issuers));
        out.created = Some(created);
        return Err(Box::new(out));
    }
    let mut last = None;
    for known in candidates {
        match crypto_with(known, &sig, created, payload) {
            Ok(fact) => return Ok(fact),
            Err(outcome) => last = Some(outcome),
        }
    }
    Err(last.unwrap_or_else(|| Box::new(SignatureCheck::problem(Problem::UnknownKey(Vec::new())))))
}

/// [`crypto`] for an SSH signature block: an `SSHSIG` for the namespace `git`, with an accepted
/// algorithm, by a key the policy lists (found by the key the blob names), verifying over
/// `payload`; for FIDO keys, with what the authenticator claimed.
fn crypto_ssh(policy: &Policy, block: &[u8], payload: &[u8]) -> Result<SignatureFact, Box<SignatureCheck>> {
    let fail = |problem| Box::new(SignatureCheck::problem(problem));
    if block.len() > MAX_SIGNATURE_SIZE {
        return Err(fail(Problem::Malformed(format!(
            "{} bytes, more than the {MAX_SIGNATURE_SIZE}-byte limit",
            block.len()
        ))));
    }
    // Nothing may follow the armor: it would be text no one signed inside a signed tag.
    let text = std::str::from_utf8(block).map_err(|_| fail(Problem::Malformed("the SSH armor is not text".into())))?;
    if !text.trim_end().ends_with("-----END SSH SIGNATURE-----") {
        return Err(fail(Problem::Malformed(
            "the SSH armor must end with its -----END SSH SIGNATURE----- line".into(),
        )));
    }
    let signed = ssh::Signed::parse(block).map_err(|e| {
        fail(match e {
            ssh::Unreadable::Malformed(why) => Problem::Malformed(why),
            ssh::Unreadable::Namespace(ns) => Problem::SshNamespace(ns),
            ssh::Unreadable::Algorithm(name) => Problem::SshAlgorithm(name),
        })
    })?;
    let Some(known) = policy.ssh_key_for(signed.key()) else {
        return Err(fail(Problem::UnknownSshKey(ssh::fingerprint(signed.key()), Some(ssh::key_type(signed.key())))));
    };
    let principal = known.principal.clone();
    let touch = signed.verify(&known.key, payload).map_err(|reason| {
        let mut out = SignatureCheck::problem(Problem::BadSignature { principal: principal.clone(), reason });
        out.signer = Some(principal.clone());
        out.key = Some(SigningKey::Ssh(known.fingerprint.clone()));
        Box::new(out)
    })?;
    Ok(SignatureFact {
        cert: known.digest,
        key: SigningKey::Ssh(known.fingerprint.clone()),
        created: None,
        expires: None,
        touch,
    })
}

fn crypto_with(
    known: &KnownCert,
    sig: &Signature,
    created: SystemTime,
    payload: &[u8],
) -> Result<SignatureFact, Box<SignatureCheck>> {
    let principal = &known.principal;
    let issuers = sig.get_issuers();
    let mut out = SignatureCheck {
        signer: Some(principal.clone()),
        key: None,
        created: Some(created),
        touch: None,
        problem: None,
        until: None,
    };
    let not_valid = |key: &Fingerprint, reason: String| Problem::KeyNotValid {
        principal: principal.clone(),
        key: key.clone(),
        at: created,
        reason,
    };
    let cert_fpr = known.cert.fingerprint();

    let vc = match known.cert.with_policy(&STANDARD_POLICY, created) {
        Ok(vc) => vc,
        Err(e) => return Err(Box::new(with_problem(out, not_valid(&cert_fpr, e.to_string())))),
    };
    if let Err(e) = vc.alive() {
        return Err(Box::new(with_problem(out, not_valid(&cert_fpr, format!("certificate not alive: {e}")))));
    }
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return Err(Box::new(with_problem(out, not_valid(&cert_fpr, "the certificate is revoked".to_owned()))));
    }
    let mut problem = not_valid(&cert_fpr, "no valid signing key matches the signature's issuer".to_owned());
    for ka in vc.keys().key_handles(issuers.iter()) {
        let key_fpr = ka.key().fingerprint();
        problem = if let Err(e) = ka.alive() {
            not_valid(&key_fpr, format!("key not alive: {e}"))
        } else if let RevocationStatus::Revoked(_) = ka.revocation_status() {
            not_valid(&key_fpr, "the signing key is revoked".to_owned())
        } else if !ka.for_signing() {
            not_valid(&key_fpr, "the key is not signing-capable".to_owned())
        } else if let Err(e) = sig.verify_message(ka.key(), payload) {
            Problem::BadSignature { principal: principal.clone(), reason: e.to_string() }
        } else if let Err(e) = STANDARD_POLICY.signature(sig, HashAlgoSecurity::CollisionResistance) {
            Problem::WeakAlgorithm { principal: principal.clone(), reason: e.to_string() }
        } else {
            let expires = sig.signature_validity_period().filter(|p| !p.is_zero()).map(|p| created + p);
            let key = SigningKey::OpenPgp(key_fpr);
            return Ok(SignatureFact { cert: known.digest, key, created: Some(created), expires, touch: None });
        };
        out.key = Some(SigningKey::OpenPgp(key_fpr));
    }
    Err(Box::new(with_problem(out, problem)))
}

/// The product's own rules on top of the cryptography: a person's `expires`, and at push
/// time validity now and `max_age`.
fn access_and_freshness(
    policy: &Policy,
    known: &KnownCert,
    out: SignatureCheck,
    created: SystemTime,
    timing: Timing,
) -> SignatureCheck {
    let principal = known.principal.clone();
    if let Principal::Person(name) = &known.principal
        && let Some(person) = policy.people.get(name)
        && let Some(end) = Policy::access_end(person)
    {
        let end = SystemTime::from(end);
        let judged = if timing.fresh_within.is_some() { timing.now.max(created) } else { created };
        if let (true, Some(expires)) = (judged >= end, person.expires) {
            return with_problem(out, Problem::AccessExpired { principal, expires, at: judged });
        }
    }
    let Some(max_age) = timing.fresh_within else {
        return out;
    };
    let key = out.key.clone();
    let not_now = |reason: String| Problem::NotValidNow { principal: principal.clone(), key: key.clone(), reason };
    let vc = match known.cert.with_policy(&STANDARD_POLICY, timing.now) {
        Ok(vc) => vc,
        Err(e) => return with_problem(out, not_now(e.to_string())),
    };
    if let Err(e) = vc.alive() {
        return with_problem(out, not_now(format!("the certificate has expired: {e}")));
    }
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return with_problem(out, not_now("the certificate is revoked".to_owned()));
    }
    let key_ok = match &out.key {
        Some(SigningKey::OpenPgp(fpr)) => {
            vc.keys().key_handle(fpr.clone()).for_signing().alive().revoked(false).next().is_some()
        }
        _ => false,
    };
    if !key_ok {
        return with_problem(out, not_now("the signing key has expired or is revoked".to_owned()));
    }
    if timing.now.duration_since(created).is_ok_and(|age| age > max_age) {
        return with_problem(out, Problem::TooOld { principal, at: created, max_age });
    }
    out
}

fn with_problem(mut out: SignatureCheck, problem: Problem) -> SignatureCheck {
    out.problem = Some(problem);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "iHUEABYKAB0WIQ==";

    fn armored(headers: &str, body: &str, crc: &str) -> String {
        format!("-----BEGIN PGP SIGNATURE-----\n{headers}\n{body}\n{crc}-----END PGP SIGNATURE-----\n")
    }

    #[test]
    fn armor_is_decoded_with_or_without_headers_and_checksum() {
        let expected = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, BODY).expect("base64");
        for block in [
            armored("", BODY, "=abcd\n"),
            armored("", BODY, ""),
            armored("Comment: made by gpg\nHash: SHA256\n", BODY, "=abcd\n"),
            armored("", "iHUEABYKAB0W\nIQ==", ""),
            armored("", BODY, "").replace('\n', "\r\n"),
        ] {
            assert_eq!(dearmor(block.as_bytes()), Ok(expected.clone()), "{block}");
        }
    }

    /// `algorithm_cutoff` classifies keys as the standard policy does: a policy that rejects
    /// exactly the class we name for a key rejects that key, and one that rejects another class
    /// accepts it.
    #[test]
    fn keys_are_classified_as_the_standard_policy_classifies_them() {
        use openpgp::cert::{CertBuilder, CipherSuite};
        let (cutoff, later) = (
            SystemTime::UNIX_EPOCH + Duration::from_secs(2_500_000_000),
            SystemTime::UNIX_EPOCH + Duration::from_secs(2_600_000_000),
        );
        for suite in
            [CipherSuite::RSA2k, CipherSuite::RSA3k, CipherSuite::Cv25519, CipherSuite::P256, CipherSuite::P384]
        {
            let (cert, _) =
                CertBuilder::general_purpose(Some("a@example.org")).set_cipher_suite(suite).generate().expect("key");
            let class = asymmetric_algorithm(cert.primary_key().key().role_as_unspecified());
            let other = if class == AsymmetricAlgorithm::NistP521 {
                AsymmetricAlgorithm::Ed448
            } else {
                AsymmetricAlgorithm::NistP521
            };
            for (rejected, accepted) in [(class, false), (other, true)] {
                let mut policy = StandardPolicy::at(later);
                policy.reject_asymmetric_algo_at(rejected, cutoff);
                assert_eq!(cert.with_policy(&policy, None).is_ok(), accepted, "{suite:?} classified {class:?}");
            }
        }
    }

    #[test]
    fn broken_armor_is_a_malformed_signature() {
        for block in [
            armored("", "not base64!", ""),
            armored("", BODY, "").replace("-----END PGP SIGNATURE-----\n", ""),
            armored("", BODY, "").replace("PGP SIGNATURE-----\n", "PGP MESSAGE-----\n"),
            String::from_utf8_lossy(b"-----BEGIN PGP SIGNATURE-----\n\n\xff\n").into_owned(),
            armored("", BODY, "=abcd\nReviewed-by: security (checks waived)\n"),
            armored("", BODY, "=abcd\n-----END PGP SIGNATURE-----\nApproved-by: CTO\n"),
            armored("", &format!("{BODY}\nnot base64 at all"), ""),
            armored("", BODY, "=abcd\n=efgh\n"),
            armored("", BODY, "").replace("-----BEGIN PGP SIGNATURE-----\n\n", "-----BEGIN PGP SIGNATURE-----\n"),
        ] {
            assert!(matches!(dearmor(block.as_bytes()), Err(Problem::Malformed(_))), "{block}");
        }
    }
}
