//! A real gitolite mirror over SSH (issue 15): each test starts its own `sshd` on a loopback
//! port with a throw-away host key, a throw-away system user running gitolite3 with the users
//! admin, alice and bob (each with their own SSH key, added through gitolite-admin), and the
//! hook installed by install.sh into the gitolite-managed repository `app`. Pushes and
//! `signed::ssh://` clones go through gitolite-shell exactly as on a real server, so the hook
//! runs as the gitolite user and learns the pusher from gitolite's GL_USER.
//!
//! Needs root (useradd, sshd) and the Debian packages openssh-server, openssh-client and
//! gitolite3. Without them the tests say they are skipped and pass, except with CI set, where
//! they fail naming the package. Everything a test starts it stops when it ends, passing or
//! failing (Drop); a guard process does it when the test binary is killed, and a run reaps
//! what a run killed together with its guards left behind (`reap_stale`).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// The programs these tests run, each with the Debian package that has it.
const NEEDS: [(&str, &str); 7] = [
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("gitolite", "gitolite3"),
    ("useradd", "passwd"),
    ("userdel", "passwd"),
    ("runuser", "util-linux"),
];

/// What the names of everything these tests make start with: `gs-gl-<pid>-<n>` is the system
/// user, and the directory holding its home and sshd's configuration is named after it.
const PREFIX: &str = "gs-gl-";

/// `program` on PATH or in the sbin directories (root's tools), as an absolute path.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file() && p.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 != 0))
}

fn tool(program: &str) -> PathBuf {
    which(program).unwrap_or_else(|| panic!("{program} not found"))
}

/// Why these tests cannot run here, if they cannot.
fn unmet() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: the tests create a system user with useradd and start sshd".to_owned());
    }
    NEEDS
        .iter()
        .find(|(program, _)| which(program).is_none())
        .map(|(program, package)| format!("{program} not found: install the apt package {package}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// useradd and userdel lock /etc/passwd; tests running side by side take turns.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// Run useradd or userdel, again while another program holds the lock on /etc/passwd.
fn accounts(args: &[&str]) -> Output {
    let program = tool(args[0]);
    let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Command::new(&program).args(&args[1..]).stdin(Stdio::null()).output().expect(args[0]);
    for _ in 0..20 {
        if out.status.success() || !text(&out).contains("lock") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = Command::new(&program).args(&args[1..]).stdin(Stdio::null()).output().expect(args[0]);
    }
    out
}

/// The test process a name made by these tests belongs to: `gs-gl-<pid>-…` anywhere in `s`.
fn owner_pid(s: &str) -> Option<u32> {
    let rest = &s[s.find(PREFIX)? + PREFIX.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Whether `pid` is a live run of these tests (from any build or work tree: other runs on the
/// same machine keep their instances).
fn is_live_run(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("mirror_gitolite")
}

/// Stop the sshd processes and remove the users that an earlier run left behind when it was
/// killed together with its guards (kill -9 of the whole process group): each carries the pid
/// of its run in its name, and that run is gone.
fn reap_stale() {
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let cmdline = String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).unwrap_or_default())
            .replace('\0', " ");
        let is_sshd = cmdline.starts_with("sshd") || cmdline.starts_with("/usr/sbin/sshd");
        if let (true, Some(run)) = (is_sshd, owner_pid(&cmdline))
            && !is_live_run(run)
        {
            // SAFETY: kill with a pid read from /proc and a valid signal has no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for user in passwd.lines().filter_map(|l| l.split(':').next()).filter(|u| u.starts_with(PREFIX)) {
        if owner_pid(user).is_some_and(|run| !is_live_run(run)) {
            accounts(&["userdel", "-f", user]);
        }
    }
}

/// Stops sshd and removes the user (and its home) if this test binary dies before
/// [`Gitolite`]'s Drop can.
/// It waits on a pipe only this process holds (closed by the kernel on any exit, SIGKILL too)
/// and ignores the Ctrl-C that stops `cargo test`; Drop tells it `done` when all is clean.
const GUARD: &str = r#"trap '' INT HUP TERM
pid=
while read -r word arg; do
    case $word in
        sshd) pid=$arg ;;
        done) exit 0 ;;
    esac
done
if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
    kill "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null
fi
i=0
while pgrep -u "$1" > /dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
userdel -f "$1" > /dev/null 2>&1
rm -rf "$2""#;

/// A gitolite3 instance behind its own sshd: a system user `gs-gl-<pid>-<n>` with its home in
/// the test's scratch directory, gitolite set up there with admin's key, and sshd on a free
/// loopback port letting in only that user, by key.
struct Gitolite {
    user: String,
    /// Holds home/ (the user's), sshd's configuration and host key, and everyone's keys.
    dir: tempfile::TempDir,
    port: u16,
    sshd: Option<Child>,
    /// What sshd logged, for failure messages.
    sshd_log: Arc<Mutex<String>>,
    user_created: bool,
    guard: Option<(Child, ChildStdin)>,
}

impl Gitolite {
    fn start() -> Gitolite {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        reap_stale();
        let user = format!("{PREFIX}{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::SeqCst));
        // The gitolite user must reach its home inside the scratch directory (0700).
        chmod(scratch(), 0o711);
        let dir = tempfile::Builder::new().prefix(&format!("{user}-")).tempdir_in(scratch()).expect("tempdir");
        chmod(dir.path(), 0o711);
        let mut gl =
            Gitolite { user, dir, port: 0, sshd: None, sshd_log: Arc::default(), user_created: false, guard: None };
        for key in ["host_key", "admin", "alice", "bob"] {
            run_ok(
                Command::new(tool("ssh-keygen"))
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                    .arg(gl.path(key)),
            );
        }

        // The user, and the guard that removes it (and stops sshd) if this process dies.
        let home = gl.home();
        let home_str = home.to_str().expect("utf8").to_owned();
        let out = accounts(&["useradd", "-M", "-U", "-d", &home_str, "-s", "/bin/sh", "-p", "*", &gl.user]);
        assert!(out.status.success(), "useradd {}: {}", gl.user, text(&out));
        gl.user_created = true;
        gl.guard = Some(guard(GUARD, "gs-gl-guard", &[gl.user.as_ref(), gl.dir.path().as_os_str()]));
        std::fs::create_dir(&home).expect("home");
        chmod(&home, 0o755); // whatever the umask: sshd's StrictModes refuses a writable home
        run_ok(Command::new("chown").arg(format!("{}:", gl.user)).arg(&home));

        // gitolite, with admin as its administrator.
        std::fs::copy(gl.path("admin.pub"), home.join("admin.pub")).expect("copy admin.pub");
        run_ok(Command::new("chown").arg(format!("{}:", gl.user)).arg(home.join("admin.pub")));
        run_ok(&mut gl.as_user(&["gitolite", "setup", "-pk", &format!("{home_str}/admin.pub")]));

        gl.start_sshd();
        let host_key = std::fs::read_to_string(gl.path("host_key.pub")).expect("host key");
        std::fs::write(gl.path("known_hosts"), format!("[127.0.0.1]:{} {host_key}", gl.port)).expect("known_hosts");
        gl
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// A repository on the server, as gitolite keeps it.
    fn repo(&self, name: &str) -> PathBuf {
        self.home().join(format!("repositories/{name}.git"))
    }

    /// A command run as the gitolite user, with its HOME (runuser sets it), from /.
    fn as_user(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("runuser"));
        c.args(["-u", &self.user, "--"])
            .args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null());
        c
    }

    /// sshd in the foreground (`-D -e`), as this process's child, on a free loopback port; a
    /// port taken between choosing and binding it is chosen again.
    fn start_sshd(&mut self) {
        // sshd's privilege separation directory, which the package's service would make.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let config = self.path("sshd_config");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1:{port}\n\
                     HostKey {host_key}\n\
                     PidFile {pid_file}\n\
                     AuthorizedKeysFile .ssh/authorized_keys\n\
                     AllowUsers {user}\n\
                     UsePAM no\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PermitRootLogin no\n\
                     StrictModes yes\n\
                     X11Forwarding no\n\
                     AllowTcpForwarding no\n\
                     AllowAgentForwarding no\n\
                     PermitTTY no\n",
                    host_key = self.path("host_key").display(),
                    pid_file = self.path("sshd.pid").display(),
                    user = self.user,
                ),
            )
            .expect("sshd_config");
            let mut child = Command::new(tool("sshd"))
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start sshd");
            if let Some((_, pipe)) = self.guard.as_mut() {
                let _ = writeln!(pipe, "sshd {}", child.id());
            }
            // Read sshd's log in a thread: until it listens (or gives up), then keep it.
            let stderr = child.stderr.take().expect("sshd stderr");
            let log = Arc::clone(&self.sshd_log);
            let (ready, listening) = mpsc::channel();
            std::thread::spawn(move || {
                let mut ready = Some(ready);
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.starts_with("Server listening on")
                        && let Some(r) = ready.take()
                    {
                        let _ = r.send(true);
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("{line}\n"));
                }
                if let Some(r) = ready {
                    let _ = r.send(false);
                }
            });
            if listening.recv_timeout(Duration::from_secs(10)).unwrap_or(false) {
                self.port = port;
                self.sshd = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start:\n{}", self.sshd_log.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// GIT_SSH_COMMAND for gitolite user `who`: their key only, the throw-away host key pinned.
    fn ssh_command(&self, who: &str) -> String {
        format!(
            "ssh -F /dev/null -p {} -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={} \
             -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o LogLevel=ERROR",
            self.port,
            self.path(who).display(),
            self.path("known_hosts").display(),
        )
    }

    /// The gitolite user's uid.
    fn uid(&self) -> u32 {
        std::fs::metadata(self.home()).expect("home").uid()
    }

    fn url(&self, repo: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}/{repo}.git", self.user, self.port)
    }
}

impl Drop for Gitolite {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("sshd's log:\n{}", self.sshd_log.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if let Some(mut sshd) = self.sshd.take() {
            // SAFETY: signals our own child, which has not been waited for yet.
            unsafe { libc::kill(sshd.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while sshd.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        if self.user_created {
            // A connection's own sshd process may still be exiting for a moment.
            let mut out = accounts(&["userdel", &self.user]);
            for _ in 0..30 {
                if out.status.success() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                out = accounts(&["userdel", &self.user]);
            }
            if !out.status.success() {
                out = accounts(&["userdel", "-f", &self.user]);
            }
            if !out.status.success() {
                eprintln!("userdel {}: {}", self.user, text(&out));
            }
        }
        if let Some((mut guard, mut pipe)) = self.guard.take() {
            let _ = writeln!(pipe, "done");
            drop(pipe);
            let _ = guard.wait();
        }
    }
}

/// A gitolite mirror of `app`, RW+ for alice and bob, with the hook installed by install.sh
/// (layout detected), the standard policy with [`DEPLOY_RULES`] and an audit log; and a world
/// to work in. Declared before `w`, `gl` goes first when a test ends.
struct Mirror {
    gl: Gitolite,
    w: World,
    audit_log: PathBuf,
}

impl Mirror {
    /// A new mirror, or `None` (after saying why) where the tests cannot run; with CI set,
    /// they must run.
    fn start() -> Option<Mirror> {
        if let Some(why) = unmet() {
            assert!(std::env::var_os("CI").is_none(), "the gitolite tests cannot run: {why}");
            // Past the test harness's capture, so a passing run shows it too.
            let _ = writeln!(std::io::stderr(), "mirror_gitolite: test skipped: {why}");
            return None;
        }
        let gl = Gitolite::start();
        let w = World::new();
        w.policy(DEPLOY_RULES);
        let m = Mirror { audit_log: gl.home().join("git-signed/audit.jsonl"), gl, w };
        m.admin_push(&["alice", "bob"], "repo app\n    RW+ = alice bob\n");
        // The hook runs as the gitolite user: it must reach the policy and its keys, whatever
        // the umask they were written with.
        chmod(m.w.path(), 0o711);
        chmod(&m.w.path().join("policy.toml"), 0o644);
        chmod(&m.w.path().join("keys"), 0o755);
        for key in std::fs::read_dir(m.w.path().join("keys")).expect("keys").flatten() {
            chmod(&key.path(), 0o644);
        }
        let out = m.install(&m.gl.repo("app"), &[]);
        assert!(out.status.success(), "install.sh: {}", text(&out));
        assert!(text(&out).contains("(gitolite layout)"), "gitolite detected: {}", text(&out));
        Some(m)
    }

    /// install.sh --repo REPO --policy <the world's> --audit-log <in the gitolite home> [extra].
    fn install(&self, repo: &Path, extra: &[&str]) -> Output {
        let policy = self.w.path().join("policy.toml");
        let mut args = vec![
            "--repo",
            repo.to_str().expect("utf8"),
            "--policy",
            policy.to_str().expect("utf8"),
            "--audit-log",
            self.audit_log.to_str().expect("utf8"),
        ];
        args.extend(extra);
        self.w.install(&args)
    }

    /// git in `dir` connecting as gitolite user `who`.
    fn git_as(&self, who: &str, dir: &Path) -> Command {
        let mut c = self.w.git(dir);
        c.env("GIT_SSH_COMMAND", self.gl.ssh_command(who)).stdin(Stdio::null());
        c
    }

    /// admin adds the keys of `users` and appends `conf` to gitolite.conf, through
    /// gitolite-admin over SSH.
    fn admin_push(&self, users: &[&str], conf: &str) {
        let admin = self.w.path().join("gitolite-admin");
        if !admin.exists() {
            run_ok(self.git_as("admin", self.w.path()).args(["clone", "-q", &self.gl.url("gitolite-admin")]));
        }
        for user in users {
            std::fs::copy(self.gl.path(&format!("{user}.pub")), admin.join(format!("keydir/{user}.pub"))).expect("key");
        }
        let file = admin.join("conf/gitolite.conf");
        let before = std::fs::read_to_string(&file).expect("gitolite.conf");
        std::fs::write(&file, format!("{before}\n{conf}")).expect("gitolite.conf");
        run_ok(self.git_as("admin", &admin).args(["add", "-A"]));
        run_ok(self.git_as("admin", &admin).args(["commit", "-q", "-m", "git-signed test"]));
        run_ok(self.git_as("admin", &admin).args(["push", "-q", "origin", "HEAD"]));
    }

    /// `who`'s clone of app over SSH, with a first commit on main (pushed when app is empty).
    fn work(&self, who: &str) -> PathBuf {
        let dir = self.w.path().join(format!("work-{who}"));
        run_ok(self.git_as(who, self.w.path()).args(["clone", "-q", &self.gl.url("app")]).arg(&dir));
        if !self
            .git_as(who, &dir)
            .args(["rev-parse", "-q", "--verify", "HEAD"])
            .output()
            .expect("rev-parse")
            .status
            .success()
        {
            self.w.commit(&dir, "first");
            run_ok(self.git_as(who, &dir).args(["push", "-q", "origin", "HEAD:refs/heads/main"]));
        }
        dir
    }

    /// `who` pushes `refs/tags/<tag>` from `work`: (accepted, what git printed).
    fn push_tag(&self, who: &str, work: &Path, tag: &str) -> (bool, String) {
        let out = self.git_as(who, work).args(["push", "origin", &format!("refs/tags/{tag}:refs/tags/{tag}")]).output();
        let out = out.expect("push");
        (out.status.success(), text(&out))
    }

    /// The tags the mirror has, as `git ls-remote` over SSH lists them: (name, object).
    fn mirror_tags(&self) -> Vec<(String, String)> {
        let out = run_ok(self.git_as("alice", self.w.path()).args(["ls-remote", "--tags", &self.gl.url("app")]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.ends_with("^{}"))
            .filter_map(|l| l.split_once('\t'))
            .map(|(id, name)| (name.to_owned(), id.to_owned()))
            .collect()
    }

    /// The audit log's line about `refname` (the last one).
    fn audit(&self, refname: &str) -> serde_json::Value {
        let log = std::fs::read_to_string(&self.audit_log).expect("audit log");
        log.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}"))
            })
            .rfind(|l| l["ref"] == refname)
            .unwrap_or_else(|| panic!("no audit line for {refname}:\n{log}"))
    }

    /// `git clone signed::ssh://…/app.git NAME` as environment `env`, connecting as alice:
    /// (the tags it got, what git printed).
    fn signed_clone(&self, env: &str, name: &str) -> (Vec<String>, String) {
        let out = self
            .git_as("alice", self.w.path())
            .env("GIT_SIGNED_POLICY", self.w.path().join("policy.toml"))
            .env("GIT_SIGNED_ENVIRONMENT", env)
            .args(["clone", &format!("signed::{}", self.gl.url("app")), name])
            .output()
            .expect("clone");
        assert!(out.status.success(), "signed:: clone as {env}: {}", text(&out));
        let tags = self.w.git_ok(&self.w.path().join(name), &["tag"]);
        (tags.lines().map(ToOwned::to_owned).collect(), text(&out))
    }

    /// A one-person tag `tag` (signed by alice) that `who` pushes: it must be rejected by
    /// git-signed's hook, which names the rule.
    fn assert_hook_rejects_one_person_tag(&self, who: &str, work: &Path, tag: &str) {
        self.w.sign_chain(work, tag, &["alice"]);
        let (ok, err) = self.push_tag(who, work, tag);
        assert!(!ok, "a one-person tag must be rejected: {err}");
        assert!(
            err.contains(&format!(
                "git-signed: REJECTED refs/tags/{tag}: {tag}: rule 1 (deploy/*: 2 people): needs 2 people, has 1 (alice)"
            )),
            "{err}"
        );
        assert!(err.contains("pre-receive hook declined"), "{err}");
        assert!(!self.mirror_tags().iter().any(|(name, _)| *name == format!("refs/tags/{tag}")));
    }
}

#[test]
fn t41_alice_pushes_a_two_person_tag_over_ssh_and_the_audit_log_names_her() {
    let Some(m) = Mirror::start() else { return };
    let work = m.work("alice");
    m.w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = m.push_tag("alice", &work, "deploy/1");
    assert!(ok, "{err}");
    assert!(err.contains("git-signed: ok refs/tags/deploy/1: deploy/1: ok, signed by alice, bob"), "{err}");
    let tag = m.w.git_ok(&work, &["rev-parse", "deploy/1"]);
    assert_eq!(m.mirror_tags(), vec![("refs/tags/deploy/1".to_owned(), tag.clone())]);

    let line = m.audit("refs/tags/deploy/1");
    assert_eq!(line["verdict"], "accepted", "{line}");
    assert_eq!(line["push"], "accepted", "{line}");
    assert_eq!(line["new"], tag.as_str(), "{line}");
    assert_eq!(line["pusher"], "alice", "gitolite's GL_USER: {line}");
    // install.sh gave the log to the gitolite user, whose hook appends to it.
    assert_eq!(std::fs::metadata(&m.audit_log).expect("log").uid(), m.gl.uid());
}

#[test]
fn t41_bob_pushes_a_one_person_tag_and_the_hook_rejects_it_and_the_audit_log_names_him() {
    let Some(m) = Mirror::start() else { return };
    let work = m.work("bob");
    m.assert_hook_rejects_one_person_tag("bob", &work, "deploy/2");
    let line = m.audit("refs/tags/deploy/2");
    assert_eq!(line["verdict"], "rejected", "{line}");
    assert_eq!(line["push"], "declined", "{line}");
    assert_eq!(line["signers"], serde_json::json!(["alice"]), "{line}");
    assert_eq!(line["pusher"], "bob", "gitolite's GL_USER: {line}");
}

#[test]
fn a_signed_ssh_clone_verifies_and_shows_only_the_accepted_tag() {
    let Some(m) = Mirror::start() else { return };
    let work = m.work("alice");
    m.w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    assert!(m.push_tag("alice", &work, "deploy/1").0);
    // An unprotected tag passes the hook, but a signed:: clone does not show it.
    m.w.git_ok(&work, &["tag", "v1"]);
    assert!(m.push_tag("alice", &work, "v1").0);
    m.assert_hook_rejects_one_person_tag("bob", &work, "deploy/2");
    let on_mirror: Vec<String> = m.mirror_tags().into_iter().map(|(name, _)| name).collect();
    assert_eq!(on_mirror, ["refs/tags/deploy/1", "refs/tags/v1"]);

    let (tags, err) = m.signed_clone("staging", "staging");
    assert_eq!(tags, ["deploy/1"]);
    assert!(err.contains("signed: hid 1 other ref(s) (unprotected tags"), "v1 hidden: {err}");
    assert_eq!(
        m.w.git_ok(&m.w.path().join("staging"), &["rev-parse", "deploy/1"]),
        m.w.git_ok(&work, &["rev-parse", "deploy/1"])
    );
    // Production also needs the staging CI's signature, which deploy/1 does not have yet.
    let (tags, err) = m.signed_clone("production", "production");
    assert!(tags.is_empty(), "{tags:?}");
    assert!(
        err.contains("signed: hiding refs/tags/deploy/1: rule 2 (deploy/* in production: machine staging-ci)"),
        "says which tag it hid and why: {err}"
    );
}

#[test]
fn t41_the_hook_stays_through_gitolite_setup_and_a_push_to_gitolite_admin() {
    let Some(m) = Mirror::start() else { return };
    let work = m.work("alice");
    let hook = m.gl.repo("app").join("hooks/pre-receive");
    let installed = std::fs::read_to_string(&hook).expect("hook");
    for setup in [&["gitolite", "setup", "--hooks-only"][..], &["gitolite", "setup"]] {
        let out = m.gl.as_user(setup).output().expect("gitolite setup");
        assert!(out.status.success(), "{setup:?}: {}", text(&out));
    }
    // A push to gitolite-admin compiles the conf and runs gitolite's POST_COMPILE triggers.
    m.admin_push(&[], "repo other\n    RW+ = alice\n");
    assert!(m.gl.repo("other").exists(), "the admin push was compiled");
    assert!(!hook.is_symlink(), "gitolite did not link its own hook there");
    assert_eq!(std::fs::read_to_string(&hook).expect("hook"), installed, "the hook is the one install.sh wrote");
    assert!(m.gl.repo("app").join("hooks/update").is_symlink(), "gitolite's own update hook is in place");
    // And it still runs.
    m.assert_hook_rejects_one_person_tag("alice", &work, "deploy/3");

    // --uninstall takes it out and leaves a repository gitolite's user can still use: git
    // config run as root replaces the config file, which must stay the user's.
    let app = m.gl.repo("app");
    let out = m.w.install(&["--uninstall", "--repo", app.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!hook.exists());
    assert_eq!(std::fs::metadata(app.join("config")).expect("config").uid(), m.gl.uid());
    let (ok, err) = m.push_tag("alice", &work, "deploy/3");
    assert!(ok, "without the hook, gitolite alone decides: {err}");
}

#[test]
fn t41_install_sh_refuses_what_gitolite_or_its_user_would_defeat() {
    let Some(m) = Mirror::start() else { return };
    // gitolite's repo-specific hooks would replace hooks/pre-receive of `other`.
    m.admin_push(&[], "repo other\n    RW+ = alice\n    option hook.pre-receive = audit\n");
    let other = m.gl.repo("other");
    let out = m.install(&other, &["--layout", "gitolite"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("option hook.pre-receive"), "{}", text(&out));
    assert!(!other.join("hooks/pre-receive").exists());

    // A pre-receive in $LOCAL_CODE/hooks/common, which gitolite links into every repository.
    let rc = m.gl.home().join(".gitolite.rc");
    let original = std::fs::read_to_string(&rc).expect("rc");
    let local = "# LOCAL_CODE                =>  \"$ENV{HOME}/local\",";
    assert!(original.contains(local), "the default rc names LOCAL_CODE");
    std::fs::write(&rc, original.replace(local, "LOCAL_CODE => \"$ENV{HOME}/local\",")).expect("rc");
    let common = m.gl.home().join("local/hooks/common");
    std::fs::create_dir_all(&common).expect("mkdir");
    std::fs::write(common.join("pre-receive"), "#!/bin/sh\n").expect("hook");
    run_ok(Command::new("chown").arg("-R").arg(format!("{}:", m.gl.user)).arg(m.gl.home().join("local")));
    let out = m.install(&m.gl.repo("app"), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("gitolite links {}/pre-receive", common.display())), "{}", text(&out));
    std::fs::write(&rc, original).expect("rc");

    // A policy the gitolite user cannot read (the world is root's alone again).
    chmod(m.w.path(), 0o700);
    let out = m.install(&m.gl.repo("app"), &[]);
    chmod(m.w.path(), 0o711);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "the hook runs as {} (the owner of the repository), who cannot use the policy",
            m.gl.user
        )),
        "{}",
        text(&out)
    );
    // An audit log the gitolite user cannot write.
    let private = m.w.path().join("private");
    std::fs::create_dir(&private).expect("mkdir");
    chmod(&private, 0o700);
    let out = m.w.install(&[
        "--repo",
        m.gl.repo("app").to_str().expect("utf8"),
        "--policy",
        m.w.path().join("policy.toml").to_str().expect("utf8"),
        "--audit-log",
        private.join("audit.jsonl").to_str().expect("utf8"),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("cannot write the audit log"), "{}", text(&out));
}
