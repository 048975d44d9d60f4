//! The audit log: one JSON line per decision, appended under an exclusive lock with a single
//! write, so concurrent pushes never interleave or lose lines (T19).

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use git_signed_policy::signature::format_time;

use crate::decide::{Decision, Update};

#[derive(serde::Serialize)]
struct Line<'a> {
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
}

/// Who pushed, when the hosting platform says (GitLab, Gitea/Forgejo, gitolite, HTTP auth).
fn pusher() -> Option<String> {
    ["GL_USERNAME", "GITEA_PUSHER_NAME", "GL_USER", "REMOTE_USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// Append one line per decision to `log`.
pub fn append(
    log: &Path,
    updates: &[Update],
    decisions: &[Decision],
    push_accepted: bool,
    now: SystemTime,
) -> std::io::Result<()> {
    let pusher = pusher();
    let mut text = String::new();
    for (u, d) in updates.iter().zip(decisions) {
        let line = Line {
            time: format_time(now),
            refname: &d.refname,
            old: u.old.to_string(),
            new: u.new.to_string(),
            verdict: if d.accepted { "accepted" } else { "rejected" },
            push: if push_accepted { "accepted" } else { "declined" },
            signers: &d.signers,
            reasons: &d.reasons,
            pusher: pusher.clone(),
        };
        text.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    file.lock()?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_data());
    let unlocked = file.unlock();
    written.and(unlocked)
}
