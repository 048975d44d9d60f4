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
use openpgp::parse::Parse;
use openpgp::policy::{HashAlgoSecurity, Policy as _, StandardPolicy};
use openpgp::types::RevocationStatus;
use openpgp::{Fingerprint, Packet, PacketPile};
use sequoia_openpgp as openpgp;

use crate::policy::{KnownCert, Policy, Principal};

/// How far in the future a signature may be dated before it is rejected (T11).
pub const CLOCK_SKEW: Duration = Duration::from_secs(10 * 60);
/// The largest signature block accepted, in bytes.
pub const MAX_SIGNATURE_SIZE: usize = 64 * 1024;

static STANDARD_POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// Why a layer's signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No signature at all (T1).
    #[error("is not signed")]
    Unsigned,
    /// SSH or X.509 signatures are not checked yet.
    #[error("carries an {0} signature; git-signed checks OpenPGP signatures only for now")]
    UnsupportedFormat(&'static str),
    /// The block cannot be parsed.
    #[error("has a signature block that cannot be parsed: {0}")]
    Malformed(String),
    /// More or fewer than one signature packet.
    #[error("carries {0} signatures; each layer must carry exactly one")]
    NotOne(usize),
    /// No key in the policy made it (T3).
    #[error("is signed by key {0}, which is not in the policy")]
    UnknownKey(String),
    /// Missing creation time.
    #[error("has a signature without a creation time")]
    NoCreationTime,
    /// The key was not valid when the signature was made (expired, revoked, not yet created, T9).
    #[error("{principal}'s key {key} was not valid at the signature's time {at}: {reason}")]
    KeyNotValid { principal: String, key: String, at: String, reason: String },
    /// The signature does not match the bytes (T4).
    #[error("{principal}'s signature does not match the tag's bytes (altered after signing?): {reason}")]
    BadSignature { principal: String, reason: String },
    /// Rejected by the standard policy (T10: SHA-1 and other weak algorithms).
    #[error("{principal}'s signature uses an algorithm that is no longer accepted: {reason}")]
    WeakAlgorithm { principal: String, reason: String },
    /// Dated in the future (T11).
    #[error("{principal}'s signature is dated {at}, in the future")]
    Future { principal: String, at: String },
    /// The person's access had expired when they signed (T12).
    #[error("{principal}'s access expired on {expires}; the signature made {at} does not count")]
    AccessExpired { principal: String, expires: String, at: String },
    /// At push time: the key is expired or revoked now (T8).
    #[error("{principal}'s key {key} is not valid now: {reason}")]
    NotValidNow { principal: String, key: String, reason: String },
    /// At push time: the signature is older than the rule's `max_age`.
    #[error("{principal}'s signature was made {at}, more than {max_age} ago; sign again")]
    TooOld { principal: String, at: String, max_age: String },
}

/// The result of checking one layer's signature.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// Who made it, when the key is in the policy.
    pub signer: Option<Principal>,
    /// The (sub)key that made it.
    pub key: Option<Fingerprint>,
    /// The signature's creation time.
    pub created: Option<SystemTime>,
    /// Why it does not count, if it doesn't.
    pub problem: Option<Problem>,
}

impl SignatureCheck {
    fn problem(problem: Problem) -> Self {
        SignatureCheck { signer: None, key: None, created: None, problem: Some(problem) }
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
}

/// Format a time as RFC 3339 UTC seconds, for messages and JSON.
pub fn format_time(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.round(jiff::Unit::Second).unwrap_or(ts).to_string())
        .unwrap_or_else(|_| "(unrepresentable time)".to_owned())
}

/// Parse an armored signature block that must hold exactly one signature.
pub fn parse_single(block: &[u8]) -> Result<Signature, Problem> {
    if block.len() > MAX_SIGNATURE_SIZE {
        return Err(Problem::Malformed(format!(
            "{} bytes, more than the {MAX_SIGNATURE_SIZE}-byte limit",
            block.len()
        )));
    }
    let pile = PacketPile::from_bytes(block).map_err(|e| Problem::Malformed(e.to_string()))?;
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

/// Check a layer's `signature` over `payload` against `policy`.
pub fn check(policy: &Policy, signature: Option<(Format, &[u8])>, payload: &[u8], timing: Timing) -> SignatureCheck {
    let block = match signature {
        None => return SignatureCheck::problem(Problem::Unsigned),
        Some((Format::OpenPgp, block)) => block,
        Some((Format::Ssh, _)) => return SignatureCheck::problem(Problem::UnsupportedFormat("SSH")),
        Some((Format::X509, _)) => return SignatureCheck::problem(Problem::UnsupportedFormat("X.509")),
    };
    let sig = match parse_single(block) {
        Ok(sig) => sig,
        Err(problem) => return SignatureCheck::problem(problem),
    };
    let Some(created) = sig.signature_creation_time() else {
        return SignatureCheck::problem(Problem::NoCreationTime);
    };
    let issuers = sig.get_issuers();
    let candidates = policy.certs_for(&issuers);
    if candidates.is_empty() {
        let names: Vec<String> = issuers.iter().map(|h| h.to_hex()).collect();
        let mut out = SignatureCheck::problem(Problem::UnknownKey(if names.is_empty() {
            "(no issuer recorded)".to_owned()
        } else {
            names.join(", ")
        }));
        out.created = Some(created);
        return out;
    }
    let mut last = None;
    for known in candidates {
        let outcome = check_with(policy, known, &sig, created, payload, timing);
        if outcome.is_valid() {
            return outcome;
        }
        last = Some(outcome);
    }
    last.unwrap_or_else(|| SignatureCheck::problem(Problem::UnknownKey(String::new())))
}

fn check_with(
    policy: &Policy,
    known: &KnownCert,
    sig: &Signature,
    created: SystemTime,
    payload: &[u8],
    timing: Timing,
) -> SignatureCheck {
    let principal = known.principal.to_string();
    let at = format_time(created);
    let issuers = sig.get_issuers();
    let mut out =
        SignatureCheck { signer: Some(known.principal.clone()), key: None, created: Some(created), problem: None };
    let not_valid = |key: &str, reason: String| Problem::KeyNotValid {
        principal: principal.clone(),
        key: key.to_owned(),
        at: at.clone(),
        reason,
    };
    let cert_fpr = known.cert.fingerprint().to_hex();

    let vc = match known.cert.with_policy(&STANDARD_POLICY, created) {
        Ok(vc) => vc,
        Err(e) => return with_problem(out, not_valid(&cert_fpr, e.to_string())),
    };
    if let Err(e) = vc.alive() {
        return with_problem(out, not_valid(&cert_fpr, format!("certificate not alive: {e}")));
    }
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return with_problem(out, not_valid(&cert_fpr, "the certificate is revoked".to_owned()));
    }
    let mut problem = not_valid(&cert_fpr, "no valid signing key matches the signature's issuer".to_owned());
    for ka in vc.keys().key_handles(issuers.iter()) {
        let key_fpr = ka.key().fingerprint();
        out.key = Some(key_fpr.clone());
        let key_hex = key_fpr.to_hex();
        problem = if let Err(e) = ka.alive() {
            not_valid(&key_hex, format!("key not alive: {e}"))
        } else if let RevocationStatus::Revoked(_) = ka.revocation_status() {
            not_valid(&key_hex, "the signing key is revoked".to_owned())
        } else if !ka.for_signing() {
            not_valid(&key_hex, "the key is not signing-capable".to_owned())
        } else if sig.signature_alive(timing.now, CLOCK_SKEW).is_err() {
            if created > timing.now {
                Problem::Future { principal: principal.clone(), at: at.clone() }
            } else {
                not_valid(&key_hex, "the signature itself has expired".to_owned())
            }
        } else if let Err(e) = sig.verify_message(ka.key(), payload) {
            Problem::BadSignature { principal: principal.clone(), reason: e.to_string() }
        } else if let Err(e) = STANDARD_POLICY.signature(sig, HashAlgoSecurity::CollisionResistance) {
            Problem::WeakAlgorithm { principal: principal.clone(), reason: e.to_string() }
        } else {
            return access_and_freshness(policy, known, out, created, timing);
        };
    }
    with_problem(out, problem)
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
    let principal = known.principal.to_string();
    if let Principal::Person(name) = &known.principal
        && let Some(person) = policy.people.get(name)
        && let Some(end) = Policy::access_end(person)
    {
        let end = SystemTime::from(end);
        let judged = if timing.fresh_within.is_some() { timing.now.max(created) } else { created };
        if judged >= end {
            let expires = person.expires.map(|d| d.to_string()).unwrap_or_default();
            let at = format_time(judged);
            return with_problem(out, Problem::AccessExpired { principal, expires, at });
        }
    }
    let Some(max_age) = timing.fresh_within else {
        return out;
    };
    let key_hex = out.key.as_ref().map(Fingerprint::to_hex).unwrap_or_default();
    let not_now = |reason: String| Problem::NotValidNow { principal: principal.clone(), key: key_hex.clone(), reason };
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
    let key_ok = out
        .key
        .as_ref()
        .is_some_and(|fpr| vc.keys().key_handle(fpr.clone()).for_signing().alive().revoked(false).next().is_some());
    if !key_ok {
        return with_problem(out, not_now("the signing key has expired or is revoked".to_owned()));
    }
    if timing.now.duration_since(created).is_ok_and(|age| age > max_age) {
        let at = format_time(created);
        return with_problem(out, Problem::TooOld { principal, at, max_age: crate::duration::format(max_age) });
    }
    out
}

fn with_problem(mut out: SignatureCheck, problem: Problem) -> SignatureCheck {
    out.problem = Some(problem);
    out
}
