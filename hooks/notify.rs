//! `signed.notify`: a program told of every accepted change to a protected ref (a deploy tag,
//! the policy history), after the push is in.
//!
//! The pre-receive hook knows what it decided but not whether git then updated the refs; the
//! post-receive hook knows what git updated but not the decisions. So the pre-receive hook
//! leaves each accepted protected change's decision in `<git dir>/git-signed/notify/`, named
//! after its `<old> <new> <ref>` line, and the post-receive hook takes the ones whose line git
//! hands it and runs the program once with them as JSON on stdin. The program is bounded in
//! time (`signed.notifyTimeout`, default 10s), after which it and everything it started is
//! killed (its process group, and as the hook is a subreaper, whatever left the group or the
//! session); its output is read into memory and goes to the audit log, never to the pusher's
//! terminal; its failure is one line to the pusher and one in the audit log: it never fails,
//! and cannot hold up, the push.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use git_signed_policy::signature::format_time;
use git_signed_tool::store::{private_dir, write_private};

use crate::audit::Line;

/// How long the program may run when `signed.notifyTimeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Decisions left behind by a push git did not complete are removed after this long.
const STALE: Duration = Duration::from_secs(24 * 60 * 60);
/// How much of the program's output is kept for the report.
const KEEP_OUTPUT: usize = 4096;

fn dir(git_dir: &Path) -> PathBuf {
    git_dir.join("git-signed").join("notify")
}

/// The file a decision on the update `line` (`<old> <new> <ref>`) waits in.
fn file_for(dir: &Path, line: &str) -> PathBuf {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(line.as_bytes());
    let id = hasher.try_finalize().map_or_else(|_| "unnamed".to_owned(), |id| id.to_hex().to_string());
    dir.join(format!("{id}.json"))
}

/// Pre-receive, push accepted: leave the decisions to notify of for the post-receive hook.
pub fn stage(git_dir: &Path, lines: &[Line<'_>]) -> std::io::Result<()> {
    let wanted: Vec<&Line<'_>> = lines.iter().filter(|l| l.notify).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let dir = dir(git_dir);
    private_dir(&dir).map_err(std::io::Error::other)?;
    for line in wanted {
        let json = serde_json::to_string(line).map_err(std::io::Error::other)?;
        write_private(&file_for(&dir, &line.update_line()), &json)?;
    }
    Ok(())
}

/// Post-receive: take the staged decisions for the updates git made (`input`, the hook's
/// stdin) and tell `program` of them. Never fails: what goes wrong is said on stderr and, with
/// `audit_log`, written there.
pub fn post_receive(git_dir: &Path, input: &str, program: &Path, timeout: Duration, audit_log: Option<&Path>) {
    let dir = dir(git_dir);
    if git_signed_tool::store::private(&dir).is_err() {
        return; // nothing staged (or a directory someone else could have written: not ours)
    }
    let mut changes = Vec::new();
    for line in input.lines().filter(|l| !l.is_empty()) {
        let file = file_for(&dir, line);
        if let Ok(text) = std::fs::read_to_string(&file) {
            let _ = std::fs::remove_file(&file);
            if let Ok(change) = serde_json::from_str::<serde_json::Value>(&text) {
                changes.push(change);
            }
        }
    }
    remove_stale(&dir);
    if changes.is_empty() {
        return;
    }
    let document = serde_json::json!({
        "repository": git_dir.display().to_string(),
        "changes": changes,
    });
    let started = Instant::now();
    let Err((failure, said)) = run(program, document.to_string().into_bytes(), timeout) else { return };
    let where_said = match (audit_log, said.is_empty()) {
        (Some(_), false) => " (its output is in the audit log)",
        _ => "",
    };
    eprintln!(
        "git-signed: notify: {} {failure}{where_said}; the push itself is done (signed.notify)",
        program.display()
    );
    if let Some(log) = audit_log {
        let line = serde_json::json!({
            "time": format_time(SystemTime::now()),
            "event": "notify",
            "program": program.display().to_string(),
            "result": "failed",
            "detail": failure,
            "output": said,
            "seconds": started.elapsed().as_secs_f64(),
            "refs": document["changes"].as_array().map(|c| c.iter().map(|c| c["ref"].clone()).collect::<Vec<_>>()),
        });
        if let Err(e) = crate::audit::append(log, &[line]) {
            eprintln!("git-signed: notify: cannot write the audit log {}: {e}", log.display());
        }
    }
}

/// Remove decisions left by pushes git did not complete.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if old.is_some_and(|age| age > STALE) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Run `program` with `input` on stdin for at most `timeout`; why it failed, if it did, and
/// what it printed.
fn run(program: &Path, input: Vec<u8>, timeout: Duration) -> Result<(), (String, String)> {
    use std::os::unix::process::CommandExt;
    git_signed_tool::become_subreaper();
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| (format!("could not be started: {e}"), String::new()))?;
    let group = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || stdin.write_all(&input));
    }
    let output = [child.stdout.take().map(read_some), child.stderr.take().map(read_some)];
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                git_signed_tool::kill_process_group(group);
                git_signed_tool::kill_children();
                return Err((format!("could not be waited for: {e}"), String::new()));
            }
        }
    };
    // Whatever it left running in the background goes too: the bound is for all of it.
    git_signed_tool::kill_process_group(group);
    let _ = child.wait();
    git_signed_tool::kill_children();
    let said: Vec<String> = output
        .into_iter()
        .flatten()
        .filter_map(|rx| rx.recv_timeout(Duration::from_millis(200)).ok())
        .filter(|s| !s.trim().is_empty())
        .collect();
    let said = said.join("\n").trim().to_owned();
    match status {
        None => Err((
            format!("did not finish within {} and was stopped", git_signed_policy::duration::format(timeout)),
            said,
        )),
        Some(s) if s.success() => Ok(()),
        Some(s) => Err((format!("failed ({s})"), said)),
    }
}

/// Read a pipe to its end on a thread, keeping the first [`KEEP_OUTPUT`] bytes.
fn read_some(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            let room = KEEP_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
    });
    rx
}
