//! What every git-signed binary does as a Unix tool, before it parses its arguments: end
//! quietly when the reader of its output goes away (`git signed verify --all | head`), and
//! write its manual pages and shell completions, generated from its clap definition, when
//! install.sh asks with the hidden `--generate`.
//!
//! The three binaries call it first thing in `main`, so they behave alike. They also read
//! their settings from git config the same way, through [`config`], and keep what verification
//! learned the same way, through [`store`]. It never reads a policy.

pub mod config;
mod manual;
pub mod progress;
pub mod store;

use std::ffi::OsString;
use std::path::Path;

/// The hidden first argument: `--generate man DIR` writes the manual pages into DIR,
/// `--generate bash|zsh|fish` writes the completion script to stdout.
const GENERATE: &str = "--generate";

/// The manual pages of the whole product, for SEE ALSO.
const PRODUCT_PAGES: [&str; 3] = ["git-signed", "git-signed-pre-receive", "git-remote-signed"];

/// When the first argument is `--generate`, write what it asks for and exit (0, or 2 with a
/// message); otherwise return and let the binary parse its arguments.
pub fn generate_if_asked(command: impl FnOnce() -> clap::Command) {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_none_or(|a| a != GENERATE) {
        return;
    }
    let mut cmd = command();
    let name = cmd.get_name().to_owned();
    let rest: Vec<OsString> = args.collect();
    let result = match rest.iter().map(|a| a.to_str()).collect::<Option<Vec<_>>>().as_deref() {
        Some(["man", dir]) => manual::write_all(cmd, Path::new(dir)),
        Some([shell]) => match shell.parse::<clap_complete::Shell>() {
            Ok(shell) => completions(shell, &mut cmd, &mut std::io::stdout().lock()),
            Err(_) => Err(std::io::Error::other(format!("unknown shell {shell} (bash, zsh, fish)"))),
        },
        _ => Err(std::io::Error::other("usage: --generate man DIR | --generate bash|zsh|fish")),
    };
    std::process::exit(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {GENERATE}: {e}");
            2
        }
    });
}

/// Write `shell`'s completion script for `cmd`. For bash, a `git-foo` command also gets
/// `_git_foo`, the function git's own completion calls for `git foo <TAB>`.
fn completions(
    shell: clap_complete::Shell,
    cmd: &mut clap::Command,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, cmd, &name, &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        // clap_complete spells a hyphenated name two ways in bash (clap-rs/clap#6421): the word
        // loop reaches `git__signed__subcmd__verify`, the option table says
        // `git__subcmd__signed__subcmd__verify`, so no subcommand's options would complete.
        script = script.replace(&name.replace('-', "__subcmd__"), &name.replace('-', "__"));
    }
    out.write_all(script.as_bytes())?;
    let function = script.lines().find_map(|l| l.trim_start().strip_prefix("complete -F ")?.split_whitespace().next());
    if let (clap_complete::Shell::Bash, Some(sub), Some(function)) = (shell, name.strip_prefix("git-"), function) {
        // git's completion sets `words`, `cword` and `__git_cmd_idx` (the index of `foo` in
        // `git -C dir foo …`); clap's function reads COMP_WORDS and COMP_CWORD.
        write!(
            out,
            r#"
_git_{git_function}() {{
    local COMP_WORDS=("{name}" "${{words[@]:__git_cmd_idx+1}}") COMP_CWORD=$((cword - __git_cmd_idx))
    {function} "{name}" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
}}
"#,
            git_function = sub.replace('-', "_"),
        )?;
    }
    Ok(())
}

/// End silently, as Unix tools do, when the reader of stdout has gone away: Rust ignores
/// SIGPIPE so that writes fail with EPIPE instead, and `println!` turns that into a panic.
/// Only for binaries that never write into a child's stdin, where a child that exits early
/// must be an error they report, not a silent death.
pub fn die_quietly_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; it only resets
    // one signal's disposition to the default.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The effective user id, for checking that a private directory is ours.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Kill every process of the process group `group` (a child started with
/// `process_group(0)`: its id is the group's), leaving none of its children behind.
pub fn kill_process_group(group: u32) {
    let Ok(group) = libc::pid_t::try_from(group) else { return };
    if group > 1 {
        // SAFETY: kill has no memory preconditions; a negative pid names a process group, and
        // a group that is gone already only makes it fail with ESRCH.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}

/// Have orphaned descendants of this process re-parented to it instead of to init (Linux), so
/// that [`kill_children`] reaches a program's background processes, also those that left its
/// process group or session (`setsid`). Whether it took.
pub fn become_subreaper() -> bool {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes integer arguments only and changes a flag
    // of this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// Kill and reap every child of this process and, as they die, the descendants a subreaper
/// inherits from them, until none is left (or a second has passed).
pub fn kill_children() {
    let me = std::process::id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        // SAFETY: waitpid with a null status pointer and WNOHANG only reaps exited children.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        let children = children_of(me);
        if children.is_empty() || std::time::Instant::now() > deadline {
            return;
        }
        for child in children {
            if let Ok(pid) = libc::pid_t::try_from(child) {
                // SAFETY: kill has no memory preconditions; a process already gone gives ESRCH.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The processes whose parent is `parent`, from `/proc/<pid>/stat` (`pid (comm) state ppid …`,
/// where comm may hold spaces and parentheses: the fields after its last `)`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

/// The oldest git release git-signed works with (install.sh checks it as well).
pub const MIN_GIT: (u32, u32) = (2, 45);

/// A sentence saying that the `git` on PATH is older than [`MIN_GIT`], if it is. Asked only
/// after something failed, so a working setup never pays for the extra process.
pub fn old_git() -> Option<String> {
    let out = std::process::Command::new("git").arg("--version").stdin(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?.to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let found = (parts.next()??, parts.next()??);
    (found < MIN_GIT).then(|| {
        format!("git {version} is older than {}.{}, which git-signed needs; upgrade git", MIN_GIT.0, MIN_GIT.1)
    })
}
