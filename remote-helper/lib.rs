//! `git-remote-signed`, the remote helper git runs for `signed::<url>` URLs, as a library. It
//! speaks the remote-helper protocol's `fetch`, `push`, `option` and `object-format`
//! capabilities (never `connect`: splicing the wire protocol is where verification gets
//! bypassed or hangs), lists only the refs this environment may see, and lets no unverified
//! tag object into the repository.
//!
//! stdout is the protocol channel: nothing else may write to it. Errors go to stderr and end
//! the session with exit code 128, which git reports as a failed fetch (fail closed).
//!
//! The layers, from git's side to the mirror's; every decision is the core's
//! (`git_signed_policy`):
//!
//! - [`session`]: one conversation with git: reads commands, keeps what later ones need,
//!   answers each; reports hidden refs on stderr.
//! - [`protocol`]: the commands and replies themselves, typed; pure text.
//! - [`options`]: what git set with `option`.
//! - [`settings`]: environment, policy, strictness, the remote's refspecs (git config through
//!   `git_signed_tool::config`, or environment variables).
//! - [`listing`]: pure: the advertisement and the verdicts → the refs git sees.
//! - [`verify`]: the core's verdicts on the tags the names cannot decide, over the [`cache`].
//! - [`cache`]: per-URL tag objects and remembered accepted verdicts.
//! - [`pinned`]: the policy pinned by `signed.root`, from the mirror's `refs/signed/policy`.
//! - [`arriving`]: signature facts learned from a clone's pack while it arrives.
//! - [`fetch`]: a fetch batch: inner fetch (or a clone's transfer made while listing),
//!   followed tags, scan, migrate.
//! - [`quarantine`]: where fetched objects wait: scan, migrate, or discard.
//! - [`push`]: `git push --porcelain`, translated into status lines.
//! - [`upstream`]: the one place that runs and reads `git ls-remote` and the inner fetches.
//! - [`git`]: child git processes and their hygiene (recursion guard, stdout kept clean).
//! - [`error`]: why a session ends early.

pub mod arriving;
pub mod cache;
pub mod error;
pub mod fetch;
pub mod git;
pub mod listing;
pub mod options;
pub mod pinned;
pub mod protocol;
pub mod push;
pub mod quarantine;
pub mod session;
pub mod settings;
pub mod upstream;
pub mod verify;

pub use error::Error;
pub use session::run;

/// With `GIT_SIGNED_TRACE=1`, print how long each phase took (milliseconds since start).
pub fn trace(label: &str) {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<(Instant, bool)> = OnceLock::new();
    let (start, on) = START.get_or_init(|| (Instant::now(), std::env::var_os("GIT_SIGNED_TRACE").is_some()));
    if *on {
        eprintln!("signed: trace {:8.2} ms {label}", start.elapsed().as_secs_f64() * 1000.0);
    }
}

/// What the unit tests share.
#[cfg(test)]
mod testing {
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// `git <args>` in `dir` with `input` on stdin, as a fixed identity; its stdout. Panics if it fails.
    pub fn git(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("git");
        child.stdin.take().expect("stdin").write_all(input).expect("input");
        let out = child.wait_with_output().expect("git");
        assert!(out.status.success(), "git {args:?}");
        out.stdout
    }
}
