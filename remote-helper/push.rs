//! `push`: delegated to `git push --porcelain` against the real URL (the mirror's hook is the
//! gate for pushes), with every ref's result translated into the status lines git expects, so
//! `[rejected]` and `[remote rejected]` show up as usual (Concourse's `out` greps for them).

use std::path::Path;

use crate::git;

/// Push-related options git set with `option …`.
#[derive(Debug, Default, Clone)]
pub struct PushOptions {
    pub cas: Vec<String>,
    pub force_if_includes: bool,
    pub atomic: bool,
    pub push_options: Vec<String>,
    pub dry_run: bool,
    pub signed: Option<String>,
    pub verbosity: u32,
    pub progress: bool,
}

/// `list for-push`: upstream refs without `HEAD` and without peeled lines.
pub fn list_for_push(url: &str, git_dir: Option<&Path>) -> Result<String, String> {
    let mut cmd = git::git(url, git_dir);
    cmd.args(["ls-remote", url]);
    let out = git::run(cmd, None, "git ls-remote")?;
    let text = String::from_utf8_lossy(&out);
    let mut reply = String::new();
    for line in text.lines() {
        if let Some((id, name)) = line.split_once('\t')
            && name != "HEAD"
            && !name.ends_with("^{}")
        {
            reply.push_str(&format!("{id} {name}\n"));
        }
    }
    Ok(reply)
}

/// Push `specs` (`[+]<src>:<dst>`) and return one status line per destination.
pub fn push(url: &str, git_dir: &Path, specs: &[String], opts: &PushOptions) -> Vec<String> {
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
        Err(e) => return dsts.iter().map(|d| format!("error {d} cannot run git push: {e}")).collect(),
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
            None => format!("error {dst} {}", quote(&failure_reason(&output.stderr))),
        });
    }
    statuses
}

fn failure_reason(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("push failed").trim().to_owned()
}

/// Translate one porcelain line (`<flag>\t<from>:<to>\t<summary>[ (<reason>)]`).
fn status_line(dst: &str, line: &str) -> String {
    let mut fields = line.split('\t');
    let flag = fields.next().unwrap_or("!");
    let summary = fields.nth(1).unwrap_or("");
    let reason = summary.rsplit_once(" (").map(|(_, r)| r.trim_end_matches(')')).unwrap_or("");
    match flag {
        " " | "*" | "-" => format!("ok {dst}"),
        "+" => format!("ok {dst} forced update"),
        "=" => format!("ok {dst} up to date"),
        "X" => format!("error {dst} no match"),
        _ => {
            let why = match reason {
                "non-fast-forward" => "non-fast forward".to_owned(),
                "remote failed to report status" => "expecting report".to_owned(),
                "" => "rejected".to_owned(),
                other => other.to_owned(),
            };
            format!("error {dst} {}", quote(&why))
        }
    }
}

/// C-quote a reason when git would misread it.
fn quote(s: &str) -> String {
    if s.contains('\n') || s.starts_with('"') { format!("{s:?}") } else { s.to_owned() }
}
