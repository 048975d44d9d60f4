//! The audit log: one JSON line per decision, appended under an exclusive lock with a single
//! write, so concurrent pushes never interleave or lose lines (T19). The same lines are what
//! `signed.notify` is told of an accepted change to a protected ref.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use git_signed_policy::signature::format_time;

use crate::decide::{Decision, Update};
use crate::signed_push::SignedPush;

/// One decision, as the audit log and the notify program read it.
#[derive(serde::Serialize)]
pub struct Line<'a> {
    time: String,
    #[serde(rename = "ref")]
    refname: &'a str,
    old: String,
    new: String,
    verdict: &'static str,
    push: &'static str,
    signers: &'a [String],
    reasons: &'a [String],
    pusher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_certificate: Option<&'a Proven>,
    /// Told to `signed.notify` once the push is in (not written to the log).
    #[serde(skip)]
    pub notify: bool,
}

/// What the push's certificate proves, on each decision's line: who signed it, or why it
/// proves nothing, and the blob it came in.
#[derive(serde::Serialize)]
pub struct Proven {
    id: String,
    signer: Option<String>,
    key: Option<String>,
    problem: Option<String>,
}

impl Proven {
    pub fn of(push: &SignedPush) -> Proven {
        let (signer, key, problem) = match &push.outcome {
            Ok(p) => (Some(p.signer.to_string()), p.key.as_ref().map(ToString::to_string), None),
            Err(e) => (None, None, Some(format!("the push certificate {e}"))),
        };
        Proven { id: push.id.clone(), signer, key, problem }
    }
}

/// The certificate itself, which git keeps nowhere: one line per push that changes a protected
/// ref (not one per decision: a push of many refs carries a certificate as long as itself).
#[derive(serde::Serialize)]
pub struct Kept<'a> {
    time: String,
    event: &'static str,
    #[serde(flatten)]
    proven: &'a Proven,
    pusher: Option<&'a str>,
    pushee: Option<&'a str>,
    nonce: Option<&'a str>,
    text: String,
}

impl<'a> Kept<'a> {
    /// The line keeping `push`'s certificate, when it was readable.
    pub fn of(push: &'a SignedPush, proven: &'a Proven, now: SystemTime) -> Option<Kept<'a>> {
        let cert = push.certificate.as_ref()?;
        Some(Kept {
            time: format_time(now),
            event: "push-certificate",
            proven,
            pusher: Some(cert.pusher.as_str()),
            pushee: cert.pushee.as_deref(),
            nonce: cert.nonce.as_deref(),
            text: String::from_utf8_lossy(&cert.text).into_owned(),
        })
    }
}

impl Line<'_> {
    /// The `<old> <new> <ref>` line git gives the hooks for this update.
    pub fn update_line(&self) -> String {
        format!("{} {} {}", self.old, self.new, self.refname)
    }
}

/// Who pushed, when the hosting platform says (GitLab, Gitea/Forgejo, gitolite, HTTP auth).
fn pusher() -> Option<String> {
    ["GL_USERNAME", "GITEA_PUSHER_NAME", "GL_USER", "REMOTE_USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// One line per decision.
pub fn lines<'a>(
    updates: &[Update],
    decisions: &'a [Decision],
    push_accepted: bool,
    certificate: Option<&'a Proven>,
    now: SystemTime,
) -> Vec<Line<'a>> {
    let pusher = pusher();
    updates
        .iter()
        .zip(decisions)
        .map(|(u, d)| Line {
            time: format_time(now),
            refname: &d.refname,
            old: u.old.to_string(),
            new: u.new.to_string(),
            verdict: if d.accepted { "accepted" } else { "rejected" },
            push: if push_accepted { "accepted" } else { "declined" },
            signers: &d.signers,
            reasons: &d.reasons,
            pusher: pusher.clone(),
            push_certificate: certificate,
            notify: push_accepted && d.protected,
        })
        .collect()
}

/// Append `lines` to `log`, each serialized as one JSON line.
pub fn append<T: serde::Serialize>(log: &Path, lines: &[T]) -> std::io::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    file.lock()?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_data());
    let unlocked = file.unlock();
    written.and(unlocked)
}
