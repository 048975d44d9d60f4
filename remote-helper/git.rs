//! Child `git` processes, run with the hygiene a remote helper needs: stdin never inherited
//! (it is the protocol stream), stdout captured (it is the protocol channel), repository
//! variables cleared and set explicitly, lazy fetches disabled, and `url.<U>.insteadOf=<U>`
//! so no rewrite can route an inner command back through `signed::` (T20). Commands that talk
//! to the mirror from the helper's own caches carry the user's repository's transport settings.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;

/// Set in every child; a helper that finds it set refuses to run (recursion guard, T20).
pub const DEPTH_GUARD: &str = "GIT_REMOTE_SIGNED_ACTIVE";

/// Repository-local variables git itself clears for subprocesses that work elsewhere.
const LOCAL_REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_SHALLOW_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
];

/// The transport git will use for `url`, as named by `protocol.<name>.allow`.
pub fn transport(url: &str) -> &str {
    // `<transport>::<address>` runs git-remote-<transport>, as git's transport_get() decides.
    if let Some((helper, _)) = url.split_once("::")
        && helper.starts_with(|c: char| c.is_ascii_alphabetic())
        && helper.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        return helper;
    }
    match url.split_once("://") {
        Some((scheme, _)) => scheme,
        // scp-like `host:path` is ssh; anything else without a scheme is a local path.
        None if url.split_once(':').is_some_and(|(host, _)| !host.contains('/')) => "ssh",
        None => "file",
    }
}

/// A `git` command for talking to `url`, in repository `git_dir` if there is one.
///
/// An environment that makes the helper unavoidable sets `protocol.allow=never` and
/// `protocol.signed.allow=always`; the helper's own calls re-allow exactly the transport of
/// its URL, so only it can reach the mirror.
pub fn git(url: &str, git_dir: Option<&Path>) -> Command {
    let mut cmd = local(git_dir);
    if let Some((user_dir, settings)) = user_transport_config()
        && git_dir.and_then(|d| std::path::absolute(d).ok()).as_ref() != Some(user_dir)
    {
        carry(&mut cmd, settings);
    }
    cmd.args(["-c", &format!("url.{url}.insteadOf={url}"), "-c", &format!("url.{url}.pushInsteadOf={url}")])
        .args(["-c", &format!("protocol.{}.allow=always", transport(url))]);
    cmd
}

/// Config settings, key and value, in order.
type Settings = Vec<(OsString, OsString)>;

/// What the user's repository says about reaching a server (`http.*`: CA, client certificate,
/// proxy, extra headers; `credential.*`; `core.sshCommand`, `ssh.*`), from its own config and
/// the files that includes: an inner command run in the tag or policy cache (another
/// repository) would not see it and go out without the user's CA or credentials. Global,
/// system and command-line settings reach every child anyway. Read once, from the `GIT_DIR`
/// git gave the helper; `None` outside a repository.
fn user_transport_config() -> Option<&'static (PathBuf, Settings)> {
    static CONFIG: OnceLock<Option<(PathBuf, Settings)>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let dir = std::path::absolute(std::env::var_os("GIT_DIR")?).ok()?;
            if nothing_to_carry(&dir) {
                return Some((dir, Vec::new()));
            }
            let mut cmd = local(Some(&dir));
            cmd.args(["config", "--local", "--includes", "-z", "--get-regexp"])
                .arg(r"^(http|credential|ssh)\.|^core\.sshcommand$")
                .stderr(Stdio::null());
            // Nothing set (exit 1) or nothing readable: nothing to carry.
            let out = cmd.output().ok().filter(|o| o.status.success()).map(|o| o.stdout).unwrap_or_default();
            let settings = out
                .split(|&b| b == 0)
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    // `key\nvalue`, or `key` alone for a boolean written without a value (true).
                    let (key, value) = match entry.iter().position(|&b| b == b'\n') {
                        Some(i) => (&entry[..i], &entry[i + 1..]),
                        None => (entry, &b"true"[..]),
                    };
                    (OsStr::from_bytes(key).to_owned(), OsStr::from_bytes(value).to_owned())
                })
                .collect();
            Some((dir, settings))
        })
        .as_ref()
}

/// Whether the config file of the repository at `dir` (not a linked worktree's) plainly has
/// no transport settings: no `http`, `credential` or `ssh` section, no `core.sshCommand`, no
/// include. Most clones' configs have none, and reading it here is cheaper than a `git config`.
fn nothing_to_carry(dir: &Path) -> bool {
    if dir.join("commondir").exists() {
        return false;
    }
    let Ok(file) = gix::config::File::from_path_no_includes(dir.join("config"), gix::config::Source::Local) else {
        return false;
    };
    file.sections().all(|section| {
        // `[credential.example "com"]` is git's `credential.example.com.*`: the part before
        // the first dot is the section.
        let full = section.header().name().to_ascii_lowercase();
        let name = full.split(|&b| b == b'.').next().unwrap_or_default();
        let transport = [&b"http"[..], b"credential", b"ssh", b"include", b"includeif"].contains(&name);
        let ssh_command =
            name == b"core" && section.body().value_names().any(|key| key.eq_ignore_ascii_case("sshcommand"));
        !transport && !ssh_command
    })
}

/// Give `cmd` `settings` through `GIT_CONFIG_COUNT` (the environment, not the command line:
/// `http.extraHeader` may hold a token), ahead of any the user set there, which so still win
/// as they do over the repository's config.
fn carry(cmd: &mut Command, settings: &[(OsString, OsString)]) {
    if settings.is_empty() {
        return;
    }
    let count = std::env::var("GIT_CONFIG_COUNT").ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    let theirs = (0..count).map(|i| {
        let var = |what: &str| std::env::var_os(format!("GIT_CONFIG_{what}_{i}")).unwrap_or_default();
        (var("KEY"), var("VALUE"))
    });
    let all: Vec<(OsString, OsString)> = settings.iter().cloned().chain(theirs).collect();
    for (i, (key, value)) in all.iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    cmd.env("GIT_CONFIG_COUNT", all.len().to_string());
}

/// A `git` command that talks to no remote, in repository `git_dir` if there is one.
pub fn local(git_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    for var in LOCAL_REPO_ENV {
        cmd.env_remove(var);
    }
    if let Some(dir) = git_dir {
        cmd.env("GIT_DIR", dir);
    }
    cmd.env("GIT_NO_LAZY_FETCH", "1")
        .env(DEPTH_GUARD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// A child `git` that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// git could not be started.
    #[error("cannot run git ({what}): {source}")]
    Spawn { what: &'static str, source: std::io::Error },
    /// Feeding its stdin or collecting its output failed.
    #[error("{what}: {source}")]
    Io { what: &'static str, source: std::io::Error },
    /// It exited unsuccessfully; `detail` is the last line of its stderr, when captured.
    #[error("{what} failed{}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
    Failed { what: &'static str, detail: String },
}

/// Run `cmd` feeding `input` on stdin; returns stdout, or an error naming `what` with stderr
/// when it was captured.
pub fn run(cmd: Command, input: Option<&str>, what: &'static str) -> Result<Vec<u8>, RunError> {
    finish(start(cmd, input, what)?, what)
}

/// Start `cmd` and feed it `input` on stdin (closed after); [`finish`] collects it.
pub fn start(mut cmd: Command, input: Option<&str>, what: &'static str) -> Result<Child, RunError> {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn { what, source })?;
    // Without input, a stdin the caller piped stays open for it.
    let Some(text) = input else { return Ok(child) };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        if let Err(source) = stdin.write_all(text.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Io { what, source });
        }
    }
    Ok(child)
}

/// Wait for a child [`start`] started; returns stdout, or an error naming `what` with stderr
/// when it was captured.
pub fn finish(child: Child, what: &'static str) -> Result<Vec<u8>, RunError> {
    let out = child.wait_with_output().map_err(|source| RunError::Io { what, source })?;
    outcome(out.status, out.stdout, &out.stderr, what)
}

/// stdout if `status` is success, else the failure with the last line of `stderr`.
fn outcome<T>(status: ExitStatus, stdout: T, stderr: &[u8], what: &'static str) -> Result<T, RunError> {
    if status.success() {
        return Ok(stdout);
    }
    let err = String::from_utf8_lossy(stderr);
    let detail = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    Err(RunError::Failed { what, detail })
}

/// A child git left running while the helper does other work (a clone's transfer while its
/// tags are judged): its output pipes are read in threads, so a full pipe never stops it.
/// What it prints is read into a `T` as it comes ([`spawn_reading`]). Dropped before
/// [`Running::finish`], it is killed and reaped.
pub struct Running<T = Vec<u8>> {
    child: Child,
    /// Its stdin, while it waits for input ([`Running::feed`]).
    stdin: Option<ChildStdin>,
    /// The input being written, once fed.
    feeding: Option<JoinHandle<std::io::Result<()>>>,
    stdout: Option<JoinHandle<std::io::Result<T>>>,
    stderr: Option<JoinHandle<std::io::Result<Vec<u8>>>>,
    what: &'static str,
}

/// Start `cmd` and leave it running.
pub fn spawn(cmd: Command, what: &'static str) -> Result<Running, RunError> {
    spawn_reading(cmd, what, read_all)
}

/// [`spawn`], reading stdout with `read` as it comes. `read` reads to the end, or the child
/// may stop on a full pipe.
pub fn spawn_reading<T: Send + 'static>(
    cmd: Command,
    what: &'static str,
    read: impl FnOnce(ChildStdout) -> std::io::Result<T> + Send + 'static,
) -> Result<Running<T>, RunError> {
    let mut child = start(cmd, None, what)?;
    let stdout = child.stdout.take().map(|p| std::thread::spawn(move || read(p)));
    let stderr = child.stderr.take().map(|p| std::thread::spawn(move || read_all(p)));
    Ok(Running { child, stdin: None, feeding: None, stdout, stderr, what })
}

/// [`spawn`] `cmd` now, to read its input later ([`Running::feed`]): the process starts
/// while the input is still being worked out.
pub fn spawn_waiting(mut cmd: Command, what: &'static str) -> Result<Running, RunError> {
    cmd.stdin(Stdio::piped());
    let mut running = spawn(cmd, what)?;
    running.stdin = running.child.stdin.take();
    Ok(running)
}

fn read_all(mut pipe: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    pipe.read_to_end(&mut buf).map(|_| buf)
}

impl<T> Running<T> {
    /// Write `input` to the stdin of a child [`spawn_waiting`] started, and close it: in a
    /// thread, as fast as the child reads it (100,000 ids take it 40 ms).
    pub fn feed(&mut self, input: String) -> Result<(), RunError> {
        use std::io::Write;
        let what = self.what;
        let mut stdin = self.stdin.take().ok_or(RunError::Io { what, source: std::io::Error::other("fed twice") })?;
        self.feeding = Some(std::thread::spawn(move || stdin.write_all(input.as_bytes())));
        Ok(())
    }

    /// Wait for it to end; returns what was read of stdout, or an error naming what it was.
    pub fn finish(mut self) -> Result<T, RunError> {
        let what = self.what;
        // A child still waiting for input gets none.
        drop(self.stdin.take());
        let status = self.child.wait().map_err(|source| RunError::Io { what, source })?;
        let stopped = || RunError::Io { what, source: std::io::Error::other("its output reader stopped") };
        let fed = match self.feeding.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(source))) => Err(RunError::Io { what, source }),
            Some(Err(_)) => Err(RunError::Io { what, source: std::io::Error::other("its input writer stopped") }),
        };
        let stderr = match self.stderr.take().map(JoinHandle::join) {
            None => Vec::new(),
            Some(Ok(read)) => read.map_err(|source| RunError::Io { what, source })?,
            Some(Err(_)) => return Err(stopped()),
        };
        let stdout = match self.stdout.take().map(JoinHandle::join) {
            Some(Ok(read)) => read.map_err(|source| RunError::Io { what, source }),
            Some(Err(_)) => Err(stopped()),
            None => Err(RunError::Io { what, source: std::io::Error::other("its output was not read") }),
        };
        // A failed child is reported as such, whatever its output was (or its input, when it
        // stopped reading).
        let stdout = outcome(status, stdout, &stderr, what)?;
        fed?;
        stdout
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        // Nothing after `finish` (a reaped child is not signalled); the readers end with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_settings_are_read_with_git_unless_the_config_plainly_has_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let with = |text: &str| {
            std::fs::write(dir.path().join("config"), text).expect("config");
            nothing_to_carry(dir.path())
        };
        let origin = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://mirror/x.git\n";
        assert!(with(origin), "a URL is not a setting");
        for carried in [
            "[http]\n\tsslCAInfo = /ca.pem\n",
            "[HTTP \"https://mirror/\"]\n\textraHeader = x\n",
            "[credential]\n\thelper = store\n",
            "[ssh]\n\tvariant = ssh\n",
            "[Core]\n\tSSHCommand = ssh -i key\n",
            "[include]\n\tpath = more\n",
            "[includeIf \"gitdir:/x/\"]\n\tpath = more\n",
            "[credential.example \"com\"]\n\thelper = store\n",
            "[http.https://mirror/]\n\tsslVerify = true\n",
            "[core\n",
        ] {
            assert!(!with(&format!("{origin}{carried}")), "{carried:?}");
        }
        assert!(!nothing_to_carry(&dir.path().join("missing")), "no config file: ask git");
        with(origin);
        std::fs::write(dir.path().join("commondir"), "../..\n").expect("commondir");
        assert!(!nothing_to_carry(dir.path()), "a linked worktree: ask git");
    }
}
