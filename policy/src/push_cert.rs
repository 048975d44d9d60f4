//! Push certificates (`git push --signed`): who pushed, proven with a key of the policy rather
//! than said by the server.
//!
//! With `receive.certNonceSeed` set, receive-pack asks the client to sign a certificate naming
//! a nonce it issued and every `<old> <new> <ref>` update of the push, stores it as a blob and
//! tells the hooks about it (`GIT_PUSH_CERT`, `GIT_PUSH_CERT_NONCE`,
//! `GIT_PUSH_CERT_NONCE_STATUS`). git checks the signature with gpg's keyring or
//! `gpg.ssh.allowedSignersFile`; this module checks it against the policy's keys instead, and
//! checks that the certificate was made for exactly this push: the nonce receive-pack issued
//! now (a replayed certificate carries an old one), and the same ref updates as the hook's
//! input. A rule's `push_certificate` / `pushers` then says whose certificate a protected tag
//! needs ([`refusals`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gix::objs::signature::Format;

use crate::duration;
use crate::facts::SigningKey;
use crate::policy::{Policy, Principal, Pushers};
use crate::signature::{self, CLOCK_SKEW, Timing};

/// How old a certificate may be: its signature, its pusher date and the nonce's time. A push
/// of a large pack takes a while between the nonce and the hook; an hour is generous for that
/// and still turns away a certificate kept from an earlier day.
pub const MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// The largest certificate read (thousands of ref updates fit).
pub const MAX_SIZE: usize = 16 << 20;

/// A push certificate as git writes it (`send-pack.c`, `generate_push_cert`).
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The certificate's bytes, signature included.
    pub text: Vec<u8>,
    /// The `pusher` line's key id (the signing key or SSH key the client named).
    pub pusher: String,
    /// The `pusher` line's time.
    pub pushed_at: Option<SystemTime>,
    /// The URL the client pushed to (client-supplied: recorded, not trusted).
    pub pushee: Option<String>,
    /// The nonce the client was asked to sign.
    pub nonce: Option<String>,
    /// `push-option` lines.
    pub options: Vec<String>,
    /// The `<old> <new> <ref>` lines it covers.
    pub updates: Vec<String>,
    /// Where the signature starts; the bytes before it are what was signed.
    signed_len: usize,
    format: Format,
}

/// Why a push certificate does not prove who pushed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CertProblem {
    /// The blob `GIT_PUSH_CERT` names cannot be read.
    #[error("cannot be read ({0})")]
    Unreadable(String),
    /// Not a certificate git writes.
    #[error("is malformed: {0}")]
    Malformed(String),
    /// The signature does not count (unknown key, bad signature, expired key, too old, …).
    #[error("{0}")]
    Signature(signature::Problem),
    /// receive-pack did not issue its nonce for this push (a replayed certificate, or a
    /// certificate from another repository or server).
    #[error(
        "was not made for this push: receive-pack reports its nonce as {0} (a certificate replayed from an earlier push?); push again with `git push --signed`"
    )]
    Nonce(String),
    /// The nonce in the certificate is not the one receive-pack issued, or was issued too long
    /// ago (what receive-pack says is checked against the certificate itself).
    #[error("was not made for this push: {0}; push again with `git push --signed`")]
    Stale(String),
    /// The same certificate came with an earlier push (whose updates may not have landed:
    /// turned away after the hook, or cut off), and is sent again.
    #[error("was presented before, at {} (a replayed certificate); push again with `git push --signed`", signature::format_time(*.0))]
    Replayed(SystemTime),
    /// The certificate covers other ref updates than the push makes.
    #[error("covers other ref updates than this push ({0}); push again with `git push --signed`")]
    Updates(String),
}

/// What receive-pack says about a push's certificate (the `GIT_PUSH_CERT*` environment).
#[derive(Debug, Clone, Default)]
pub struct Presented {
    /// `GIT_PUSH_CERT_NONCE`: the nonce receive-pack issued.
    pub nonce: Option<String>,
    /// `GIT_PUSH_CERT_NONCE_STATUS`: `OK`, `SLOP`, `BAD`, `MISSING` or `UNSOLICITED`.
    pub nonce_status: Option<String>,
}

/// Who a valid certificate proves pushed.
#[derive(Debug, Clone)]
pub struct Pusher {
    /// The person or machine of the policy whose key signed it.
    pub signer: Principal,
    /// That key.
    pub key: Option<SigningKey>,
}

impl Certificate {
    /// Read a certificate strictly as git writes it: the version line, `pusher`, optional
    /// `pushee` and `nonce`, `push-option` lines, a blank line, the update lines, and one
    /// signature block (the last armor line at a line start, as git's `parse_signed_buffer`).
    pub fn parse(text: Vec<u8>) -> Result<Certificate, CertProblem> {
        let bad = |why: String| CertProblem::Malformed(why);
        if text.len() > MAX_SIZE {
            return Err(bad(format!("{} bytes, more than the {MAX_SIZE}-byte limit", text.len())));
        }
        let (signed_len, format) = last_signature(&text).ok_or_else(|| bad("it carries no signature".to_owned()))?;
        let body = std::str::from_utf8(&text[..signed_len]).map_err(|_| bad("it is not UTF-8 text".to_owned()))?;
        let (header, updates) =
            body.split_once("\n\n").ok_or_else(|| bad("no blank line after its header".to_owned()))?;
        let mut lines = header.lines();
        if lines.next() != Some("certificate version 0.1") {
            return Err(bad("it does not start with `certificate version 0.1`".to_owned()));
        }
        let mut cert = Certificate {
            text: Vec::new(),
            pusher: String::new(),
            pushed_at: None,
            pushee: None,
            nonce: None,
            options: Vec::new(),
            updates: Vec::new(),
            signed_len,
            format,
        };
        let mut seen_pusher = false;
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "pusher" if !seen_pusher => {
                    seen_pusher = true;
                    let mut parts = value.rsplitn(3, ' ');
                    let (_tz, seconds, ident) = (parts.next(), parts.next(), parts.next());
                    cert.pusher = ident.unwrap_or(value).to_owned();
                    cert.pushed_at = seconds.and_then(duration::from_unix_seconds);
                }
                "pushee" if cert.pushee.is_none() => cert.pushee = Some(value.to_owned()),
                "nonce" if cert.nonce.is_none() => cert.nonce = Some(value.to_owned()),
                "push-option" => cert.options.push(value.to_owned()),
                _ => return Err(bad(format!("unexpected header line {:?}", truncate(line)))),
            }
        }
        if !seen_pusher {
            return Err(bad("it has no `pusher` line".to_owned()));
        }
        for line in updates.lines() {
            let mut parts = line.splitn(3, ' ');
            let ids = parts.next().zip(parts.next()).filter(|(o, n)| is_hex_id(o) && is_hex_id(n));
            if ids.is_none() || parts.next().is_none_or(str::is_empty) {
                return Err(bad(format!("{:?} is not an `<old> <new> <ref>` line", truncate(line))));
            }
            cert.updates.push(line.to_owned());
        }
        if cert.updates.is_empty() {
            return Err(bad("it covers no ref update".to_owned()));
        }
        cert.text = text;
        Ok(cert)
    }

    /// The signed bytes.
    pub fn payload(&self) -> &[u8] {
        &self.text[..self.signed_len]
    }

    /// The signature block and its format.
    pub fn signature(&self) -> (Format, &[u8]) {
        (self.format, &self.text[self.signed_len..])
    }

    /// Whether the certificate proves that someone in `policy` made exactly this push at
    /// `now`: its signature counts as a new one at push (a key of the policy, valid now, signed
    /// within [`MAX_AGE`]), receive-pack issued its nonce for this push (`OK`, and the same
    /// nonce, not older than [`MAX_AGE`]), and its update lines are `updates`, the hook's input.
    pub fn check(
        &self,
        policy: &Policy,
        presented: &Presented,
        updates: &[String],
        now: SystemTime,
    ) -> Result<Pusher, CertProblem> {
        match presented.nonce_status.as_deref() {
            Some("OK") => {}
            Some(other) => return Err(CertProblem::Nonce(other.to_owned())),
            None => return Err(CertProblem::Nonce("absent (the mirror sets no receive.certNonceSeed)".to_owned())),
        }
        if self.nonce.is_none() || self.nonce != presented.nonce {
            return Err(CertProblem::Stale(format!(
                "it names the nonce {:?}, and receive-pack issued {:?}",
                self.nonce.as_deref().unwrap_or(""),
                presented.nonce.as_deref().unwrap_or("")
            )));
        }
        let issued = self
            .nonce
            .as_deref()
            .and_then(|n| n.split_once('-'))
            .and_then(|(stamp, _)| duration::from_unix_seconds(stamp));
        match issued {
            Some(t) if t <= now + CLOCK_SKEW && now.duration_since(t).unwrap_or_default() <= MAX_AGE => {}
            Some(t) => {
                return Err(CertProblem::Stale(format!(
                    "its nonce was issued at {}, not within {} of this push",
                    signature::format_time(t),
                    duration::format(MAX_AGE)
                )));
            }
            None => return Err(CertProblem::Stale("its nonce carries no time".to_owned())),
        }
        let mut theirs: Vec<&str> = self.updates.iter().map(String::as_str).collect();
        let mut ours: Vec<&str> = updates.iter().map(String::as_str).collect();
        theirs.sort_unstable();
        ours.sort_unstable();
        if theirs != ours {
            let (their_set, our_set): (BTreeSet<&str>, BTreeSet<&str>) =
                (theirs.iter().copied().collect(), ours.iter().copied().collect());
            // A few of each, for a message a person reads.
            let some = |set: std::collections::btree_set::Difference<'_, &str>| {
                let all: Vec<&str> = set.copied().collect();
                let more = all.len().saturating_sub(3);
                let shown = all.iter().take(3).copied().collect::<Vec<_>>().join(", ");
                (all.len(), if more > 0 { format!("{shown} and {more} more") } else { shown })
            };
            let mut said = Vec::new();
            if let (1.., missing) = some(our_set.difference(&their_set)) {
                said.push(format!("not covered: {missing}"));
            }
            if let (1.., extra) = some(their_set.difference(&our_set)) {
                said.push(format!("covered but not pushed: {extra}"));
            }
            if said.is_empty() {
                said.push("an update is listed twice".to_owned());
            }
            return Err(CertProblem::Updates(said.join("; ")));
        }
        let timing = Timing { now, fresh_within: Some(MAX_AGE), claimed: self.pushed_at };
        let check = signature::check(policy, Some(self.signature()), self.payload(), timing);
        match (check.problem, check.signer) {
            (None, Some(signer)) => Ok(Pusher { signer, key: check.key }),
            (Some(problem), _) => Err(CertProblem::Signature(problem)),
            (None, None) => Err(CertProblem::Signature(signature::Problem::Unsigned)),
        }
    }
}

/// Where the last signature block starts, at a line start, and its format.
fn last_signature(text: &[u8]) -> Option<(usize, Format)> {
    let mut found = None;
    let mut start = 0;
    while start < text.len() {
        if let Some(format) = Format::from_signature(&text[start..]) {
            found = Some((start, format));
        }
        start = text[start..].iter().position(|b| *b == b'\n').map_or(text.len(), |nl| start + nl + 1);
    }
    found
}

fn is_hex_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn truncate(line: &str) -> String {
    line.chars().take(80).collect()
}

/// Why a protected tag's push does not satisfy a rule's `push_certificate` / `pushers`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unproven {
    /// The push carries no certificate.
    #[error(
        "{rule} requires a signed push, and this push carries no push certificate; push with `git push --signed` (the mirror must set receive.certNonceSeed)"
    )]
    NoCertificate {
        /// The rule's description.
        rule: Arc<str>,
    },
    /// It carries one that proves nothing.
    #[error("{rule} requires a signed push, and the push certificate {problem}")]
    Invalid {
        /// The rule's description.
        rule: Arc<str>,
        /// Why the certificate does not count.
        problem: CertProblem,
    },
    /// It was signed by someone the rule does not name.
    #[error("{rule} accepts pushes signed by {} only; this push certificate is signed by {signer}", pushers.join(" or "))]
    NotAPusher {
        /// The rule's description.
        rule: Arc<str>,
        /// Who signed the certificate.
        signer: Principal,
        /// Who may.
        pushers: Vec<String>,
    },
}

/// What the push of protected `tag` lacks for the rules that apply at push and ask for a
/// signed push, given what its certificate proved (`None`: the push carries none).
pub fn refusals(policy: &Policy, tag: &str, pushed: Option<&Result<Pusher, CertProblem>>) -> Vec<Unproven> {
    let mut out = Vec::new();
    for rule in policy.rules_for(tag, crate::PUSH_ENVIRONMENT) {
        let Some(pushers) = &rule.pushers else { continue };
        let refusal = match pushed {
            None => Unproven::NoCertificate { rule: rule.description() },
            Some(Err(problem)) => Unproven::Invalid { rule: rule.description(), problem: problem.clone() },
            Some(Ok(p)) if pushers.admit(p.signer.name()) => continue,
            Some(Ok(p)) => Unproven::NotAPusher {
                rule: rule.description(),
                signer: p.signer.clone(),
                pushers: match pushers {
                    Pushers::Only(names) => names.clone(),
                    Pushers::Anyone => Vec::new(),
                },
            },
        };
        out.push(refusal);
    }
    out
}
