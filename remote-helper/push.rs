//! `push`: delegated to `git push --porcelain` against the real URL (the mirror's hook is the
//! gate for pushes), with every ref's result translated into the status lines git expects, so
//! `[rejected]` and `[remote rejected]` show up as usual (Concourse's `out` greps for them).

use std::path::Path;

use crate::git;
use crate::options::PushOptions;
use crate::protocol::{PushStatus, Ref};
use crate::upstream;

/// `list for-push`: upstream refs without `HEAD` and without peeled lines.
pub fn list_for_push(url: &str, git_dir: Option<&Path>) -> Result<Vec<Ref>, upstream::Error> {
    let upstream = upstream::advertisement(url, git_dir)?;
    Ok(upstream.refs.into_iter().filter(|r| r.name != "HEAD").map(|r| Ref { peeled: None, ..r }).collect())
}

/// Push `specs` (`[+]<src>:<dst>`) and return one status line per destination.
pub fn push(url: &str, git_dir: &Path, specs: &[String], opts: &PushOptions) -> Vec<PushStatus> {
    let dsts: Vec<String> = specs.iter().map(|s| s.rsplit_once(':').map_or(s.clone(), |(_, d)| d.to_owned())).collect();
    let mut cmd = git::git(url, Some(git_dir));
    cmd.args(["push", "--porcelain", "--no-verify", "--no-follow-tags", "--recurse-submodules=no"]);
    for cas in &opts.cas {
        cmd.arg(format!("--force-with-lease={cas}"));
    }
    if opts.force_if_includes {
        cmd.arg("--force-if-includes");
    }
    if opts.atomic {
        cmd.arg("--atomic");
    }
    for o in &opts.push_options {
        cmd.arg(format!("--push-option={o}"));
    }
    if opts.dry_run {
        cmd.arg("--dry-run");
    }
    if let Some(s) = &opts.signed {
        cmd.arg(format!("--signed={s}"));
    }
    if opts.verbosity == 0 {
        cmd.arg("-q");
    }
    cmd.arg(if opts.progress { "--progress" } else { "--no-progress" });
    cmd.arg(url).args(specs);
    let output = match cmd.stderr(std::process::Stdio::piped()).output() {
        Ok(o) => o,
        Err(e) => {
            let why = |dst: &String| PushStatus::Error { dst: dst.clone(), why: format!("cannot run git push: {e}") };
            return dsts.iter().map(why).collect();
        }
    };
    // The mirror's messages ("remote: git-signed: REJECTED …") belong to the user.
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut statuses = Vec::new();
    for dst in &dsts {
        let line = stdout
            .lines()
            .find(|l| l.split('\t').nth(1).and_then(|refs| refs.rsplit_once(':')).is_some_and(|(_, to)| to == dst));
        statuses.push(match line {
            Some(l) => status_line(dst, l),
            None => PushStatus::Error { dst: dst.clone(), why: failure_reason(&output.stderr) },
        });
    }
    statuses
}

fn failure_reason(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("push failed").trim().to_owned()
}

/// Translate one porcelain line (`<flag>\t<from>:<to>\t<summary>[ (<reason>)]`).
fn status_line(dst: &str, line: &str) -> PushStatus {
    let mut fields = line.split('\t');
    let flag = fields.next().unwrap_or("!");
    let summary = fields.nth(1).unwrap_or("");
    let reason = summary.rsplit_once(" (").map(|(_, r)| r.trim_end_matches(')')).unwrap_or("");
    let ok = |note| PushStatus::Ok { dst: dst.to_owned(), note };
    let why = match flag {
        " " | "*" | "-" => return ok(None),
        "+" => return ok(Some("forced update")),
        "=" => return ok(Some("up to date")),
        "X" => "no match",
        _ => match reason {
            "non-fast-forward" => "non-fast forward",
            "remote failed to report status" => "expecting report",
            "" => "rejected",
            other => other,
        },
    };
    PushStatus::Error { dst: dst.to_owned(), why: why.to_owned() }
}
