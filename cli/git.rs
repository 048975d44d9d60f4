//! Running the user's own `git` for the workflow commands: signing (`git tag -s`, so
//! `gpg.program`, `gpg.format`, `user.signingKey` and hardware tokens work unchanged),
//! fetching and pushing. Nothing here writes to our stdout, which may carry JSON, and git's
//! own chatter (`Updated tag …`, `(forced update)`, `fatal: …`) is shown only inside our
//! message when a step fails.

use std::process::{Command, Output, Stdio};

use crate::exit::Error;

/// git with the settings every call needs: no nested-tag hint (wrapping a tag in a signed
/// layer is the point here) and no terminal prompts from a remote we only ask.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(["-c", "advice.nestedTag=false"]).args(args).stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Result<Output, Error> {
    command(args).output().map_err(|e| Error::Git(format!("cannot run git: {e}")))
}

/// What git said on stderr, one indented line each, for our messages.
fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .map(|l| format!("\n  {l}"))
        .collect()
}

/// Run git and return its stdout (trimmed). Fails with `what` and what git said.
pub fn output(args: &[&str], what: &str) -> Result<String, Error> {
    let out = run(args)?;
    if !out.status.success() {
        return Err(Error::Git(format!("{what} failed (git {}):{}", args.join(" "), said(&out))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// [`output`], feeding `input` on stdin.
pub fn output_with_input(args: &[&str], input: &[u8], what: &str) -> Result<String, Error> {
    use std::io::Write;
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(Error::Git(format!("{what} failed (git {}):{}", args.join(" "), said(&out))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// [`output`] with one more environment variable.
pub fn output_env(args: &[&str], (key, value): (&str, &str), what: &str) -> Result<String, Error> {
    let out = command(args).env(key, value).output().map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::Git(format!("{what} failed (git {}):{}", args.join(" "), said(&out))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Sign with git (`git commit-tree -S …`) and return what it prints; its stderr stays on the
/// terminal (gpg's pinentry, a token's touch prompt, why signing failed).
pub fn sign_output(args: &[&str], what: &str) -> Result<String, Error> {
    let out = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::Git(format!(
            "{what} failed (git {}); check user.signingKey and that git commit -S works here",
            args.join(" ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Run git quietly and say whether it succeeded (for probes like "is this an ancestor?").
pub fn succeeds(args: &[&str]) -> bool {
    command(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Sign with `git tag -s …`. Its stderr stays on the terminal (gpg's pinentry, a token's
/// touch prompt, why signing failed); its stdout (`Updated tag …`) is dropped.
pub fn sign(args: &[&str], what: &str) -> Result<(), Error> {
    let status = Command::new("git")
        .args(["-c", "advice.nestedTag=false"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Git(format!(
            "{what} failed (git {}); check user.signingKey and that git tag -s works here",
            args.join(" ")
        )))
    }
}

/// Why a push failed.
pub enum PushFailed {
    /// The remote refused a ref (its pre-receive hook, or a stale lease): git's lines.
    Rejected(String),
    /// Anything else (the remote cannot be reached, …): the error.
    Failed(Error),
}

/// `git push <args>`; what git prints is shown only when it fails.
pub fn push(args: &[&str]) -> Result<(), PushFailed> {
    let mut full = vec!["push", "--porcelain"];
    full.extend_from_slice(args);
    let out = run(&full).map_err(PushFailed::Failed)?;
    if out.status.success() {
        return Ok(());
    }
    // --porcelain prints one line per ref on stdout: `!\t<src>:<dst>\t[remote rejected] (…)`.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refused: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("!\t"))
        .map(|l| {
            let (spec, why) = l.split_once('\t').unwrap_or((l, ""));
            format!("\n  {}: {why}", spec.rsplit_once(':').map_or(spec, |(_, dst)| dst))
        })
        .collect();
    if !refused.is_empty() {
        // The mirror's own lines (`remote: …`) say why; git's summary adds nothing.
        let remote: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim_end)
            .filter(|l| l.starts_with("remote:") && l.len() > "remote:".len())
            .map(|l| format!("\n  {l}"))
            .collect();
        return Err(PushFailed::Rejected(format!("{}{remote}", refused.concat())));
    }
    Err(PushFailed::Failed(Error::Git(format!("pushing failed (git {}):{}", full.join(" "), said(&out)))))
}

/// The object a ref or revision names, if it exists.
pub fn resolve(rev: &str) -> Option<String> {
    let out = command(&["rev-parse", "-q", "--verify", rev]).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
