//! Running the user's own `git` for the workflow commands: signing (`git tag -s`, so
//! `gpg.program`, `gpg.format`, `user.signingKey` and hardware tokens work unchanged),
//! fetching and pushing. Nothing here writes to our stdout, which may carry JSON.

use std::process::{Command, Stdio};

use crate::context::Error;

fn command(args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(["-c", "advice.nestedTag=false"]).args(args);
    c
}

/// Run git and return its stdout (trimmed); stderr goes to the user. Fails with `what`.
pub fn output(args: &[&str], what: &str) -> Result<String, Error> {
    let out = command(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed (git {})", args.join(" ")).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Run git quietly and say whether it succeeded (for probes like "does this ref exist?").
pub fn succeeds(args: &[&str]) -> bool {
    command(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Run git with the terminal available (gpg's pinentry, a token's touch prompt), its stdout
/// sent to stderr. Fails with `what`.
pub fn interactive(args: &[&str], what: &str) -> Result<(), Error> {
    let status = command(args)
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed (git {})", args.join(" ")).into()) }
}

/// The object a ref or revision names, if it exists.
pub fn resolve(rev: &str) -> Option<String> {
    let out =
        command(&["rev-parse", "-q", "--verify", rev]).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
