//! The mirror as it is run (issue 15): smart HTTP behind nginx with TLS and basic
//! authentication, git-http-backend under fcgiwrap, the hook installed by install.sh. Pushes
//! over `https://` as alice and as bob, a `signed::https://` clone, fetch and push checked
//! against a throw-away CA with `http.sslCAInfo`, and a push without credentials refused.
//!
//! nginx serves docs/nginx-mirror.conf, the server block README.md shows, with only its port,
//! certificate, password file, socket and paths replaced; every request is authenticated,
//! reads too. Each test has its own world and its own nginx and fcgiwrap on free loopback
//! resources, stopped when the test ends however it ends ([`Server`]).
//!
//! Needs nginx, fcgiwrap and openssl (Debian packages of the same names): without them each
//! test says it is skipped, or fails when `CI` is set.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::*;

/// The users in the password file, with their passwords.
const USERS: [(&str, &str); 2] = [("alice", "alice-pw-8d1f"), ("bob", "bob-pw-29c4")];

/// The server block of README.md's section "A mirror behind nginx with TLS".
const SERVER_BLOCK: &str = include_str!("../docs/nginx-mirror.conf");

/// The programs the tests run, found once.
struct Programs {
    nginx: PathBuf,
    fcgiwrap: PathBuf,
    openssl: PathBuf,
    backend: PathBuf,
}

/// `name` on PATH or in the sbin directories (not on a non-root user's PATH everywhere).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_programs() -> Result<Programs, String> {
    let need = |name: &str, package: &str| {
        find(name).ok_or_else(|| format!("{name} is not installed (Debian package `{package}`)"))
    };
    let exec_path = Command::new("git").arg("--exec-path").output().map_err(|e| format!("cannot run git: {e}"))?;
    let backend = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-http-backend");
    if !backend.is_file() {
        return Err(format!("{} is missing (Debian package `git`)", backend.display()));
    }
    Ok(Programs {
        nginx: need("nginx", "nginx")?,
        fcgiwrap: need("fcgiwrap", "fcgiwrap")?,
        openssl: need("openssl", "openssl")?,
        backend,
    })
}

/// The programs, or `None` after saying why the test is skipped; with `CI` set a missing
/// program fails the test instead.
fn programs() -> Option<&'static Programs> {
    static PROGRAMS: OnceLock<Result<Programs, String>> = OnceLock::new();
    match PROGRAMS.get_or_init(find_programs) {
        Ok(p) => Some(p),
        Err(why) if std::env::var_os("CI").is_some() => panic!("{why}; .ci/run installs it"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A throw-away CA, a certificate it issued for 127.0.0.1 (an IP SAN), and the password file
/// for [`USERS`]; made once per test binary in its scratch directory.
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    htpasswd: PathBuf,
}

fn tls(p: &Programs) -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = scratch().join("tls");
        std::fs::create_dir(&dir).expect("tls dir");
        let openssl = |args: &[&str]| run_ok(Command::new(&p.openssl).current_dir(&dir).args(args));
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let ca = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"];
        openssl(
            &[
                &["req", "-x509", "-days", "1", "-subj", "/CN=git-signed test CA"][..],
                &ec,
                &ca,
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
        );
        openssl(
            &[&["req", "-subj", "/CN=127.0.0.1"][..], &ec, &["-keyout", "server.key", "-out", "server.csr"]].concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("extensions");
        let sign = ["x509", "-req", "-days", "1", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"];
        openssl(&[&sign[..], &["-set_serial", "2", "-extfile", "server.ext", "-out", "server.pem"]].concat());
        let mut htpasswd = String::new();
        for (user, password) in USERS {
            let hash = String::from_utf8(openssl(&["passwd", "-apr1", password]).stdout).expect("utf8");
            htpasswd.push_str(&format!("{user}:{}\n", hash.trim()));
        }
        std::fs::write(dir.join("htpasswd"), htpasswd).expect("htpasswd");
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            htpasswd: dir.join("htpasswd"),
        }
    })
}

/// A free loopback port (nginx may still lose it to another process: [`Server::start`] retries).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs fcgiwrap and nginx as its children and stops both (and waits for them) when its stdin
/// closes: when the [`Server`] is dropped, passed or panicked, and when the test binary ends
/// any other way, even killed, since the kernel then closes the pipe. Rust opens the pipe
/// close-on-exec, so no other child holds it. It ignores SIGINT and SIGHUP from its first line
/// on (and so do its children, as a script's background jobs do): Ctrl-C ends the test binary,
/// which closes the pipe; a supervisor dying of it first would leave its children behind.
const SUPERVISOR: &str = r#"trap '' INT HUP
dir=$1 fcgiwrap=$2 backend=$3 nginx=$4
"$fcgiwrap" -s "unix:$dir/fcgiwrap.sock" -p "$backend" < /dev/null >> "$dir/fcgiwrap.log" 2>&1 &
f=$!
"$nginx" -q -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' < /dev/null >> "$dir/nginx.log" 2>&1 &
n=$!
trap '' TERM
cat > /dev/null
kill -TERM "$n" "$f" 2> /dev/null
wait"#;

/// nginx in front of fcgiwrap and git-http-backend, serving the repositories of one world on a
/// free loopback port, with its configuration, pid file, logs and temporary files in the
/// world's `https/` directory; stopped and waited for on drop.
struct Server {
    supervisor: Child,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// `text` with `from` replaced by `to`, which must occur exactly once (so the test notices
/// when docs/nginx-mirror.conf changes under it).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "docs/nginx-mirror.conf should contain {from:?} once");
    text.replacen(from, to, 1)
}

impl Server {
    fn start(w: &World, p: &Programs, tls: &Tls) -> Server {
        let dir = w.path().join("https");
        std::fs::create_dir(&dir).expect("https dir");
        for _ in 0..3 {
            let port = free_port();
            let show = |p: &Path| p.display().to_string();
            let mut block = replace_once(SERVER_BLOCK, "listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"));
            for (from, to) in [
                ("/etc/ssl/git.example.org/fullchain.pem", show(&tls.cert)),
                ("/etc/ssl/git.example.org/key.pem", show(&tls.key)),
                ("/etc/nginx/git.htpasswd", show(&tls.htpasswd)),
                ("unix:/run/fcgiwrap.socket", format!("unix:{}", dir.join("fcgiwrap.sock").display())),
                ("/usr/lib/git-core/git-http-backend", show(&p.backend)),
                ("/srv/git", show(w.path())),
            ] {
                block = replace_once(&block, from, &to);
            }
            std::fs::write(dir.join("server.conf"), block).expect("server.conf");
            std::fs::write(dir.join("nginx.conf"), nginx_conf(&dir)).expect("nginx.conf");
            let check = Command::new(&p.nginx)
                .args(["-t", "-q", "-e"])
                .arg(dir.join("error.log"))
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .stdin(Stdio::null())
                .output()
                .expect("nginx -t");
            assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
            let mut supervisor = w
                .cmd("sh")
                .args(["-c", SUPERVISOR, "gs-https-supervisor"])
                .arg(&dir)
                .arg(&p.fcgiwrap)
                .arg(&p.backend)
                .arg(&p.nginx)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx and fcgiwrap");
            let stdin = supervisor.stdin.take();
            let server = Server { supervisor, stdin, dir: dir.clone(), port };
            match server.ready() {
                Ok(()) => return server,
                Err(log) if log.contains("Address already in use") => {
                    drop(server);
                    for stale in ["error.log", "fcgiwrap.sock"] {
                        let _ = std::fs::remove_file(dir.join(stale));
                    }
                }
                Err(log) => panic!("nginx did not start:\n{log}"),
            }
        }
        panic!("nginx found no free port in three tries");
    }

    /// Wait until nginx listens (its pid file is written after it bound the port) and fcgiwrap
    /// has made its socket; the error log when nginx gave up instead.
    fn ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let log = self.log("error.log");
            if log.contains("[emerg]") {
                return Err(log);
            }
            if self.dir.join("nginx.pid").exists()
                && self.dir.join("fcgiwrap.sock").exists()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{}{}", self.log("error.log"), self.log("fcgiwrap.log")))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The access log's lines: `<status> <user or -> <method> <uri with query>`.
    fn requests(&self) -> Vec<String> {
        self.log("access.log").lines().map(ToOwned::to_owned).collect()
    }
}

/// The main configuration around the server block: everything nginx writes stays in `dir`.
/// Workers run as the test's user (as root nginx would otherwise switch them to `nobody`,
/// who can neither read the password file nor reach fcgiwrap's socket in the private scratch
/// directory); fcgiwrap runs as the test's user too, who owns the repositories.
fn nginx_conf(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata(dir).expect("https dir").uid() == 0;
    let d = dir.display();
    format!(
        "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         log_format requests '$status $remote_user $request_method $request_uri';\n\
         access_log {d}/access.log requests;\n\
         client_body_temp_path {d}/body;\nfastcgi_temp_path {d}/fastcgi;\nproxy_temp_path {d}/proxy;\n\
         scgi_temp_path {d}/scgi;\nuwsgi_temp_path {d}/uwsgi;\n\
         include {d}/server.conf;\n}}\n",
        user = if root { "user root;\n" } else { "" },
    )
}

/// A team's mirror (the hook installed by install.sh, the standard policy, an audit log)
/// served over https by its own [`Server`].
struct Https {
    team: Team,
    server: Server,
    tls: &'static Tls,
}

impl Https {
    /// `None` (the test is skipped) when a program is missing.
    fn new() -> Option<Https> {
        let p = programs()?;
        let tls = tls(p);
        let team = Team::new();
        let server = Server::start(&team.w, p, tls);
        Some(Https { team, server, tls })
    }

    fn w(&self) -> &World {
        &self.team.w
    }

    /// `https://127.0.0.1:<port>/mirror.git`.
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/mirror.git", self.server.port)
    }

    /// git in `dir` with nothing from the environment that would change TLS or credentials:
    /// no `GIT_SSL_*` (an inherited `GIT_SSL_CAINFO` overrides `http.sslCAInfo`), no proxy, no
    /// askpass, no prompt; neither the CA nor credentials (see [`Https::ca`], [`Https::login`]).
    fn git(&self, dir: &Path) -> Command {
        let mut c = self.w().git(dir);
        for var in [
            "GIT_SSL_CAINFO",
            "GIT_SSL_CAPATH",
            "GIT_SSL_NO_VERIFY",
            "GIT_SSL_CERT",
            "GIT_SSL_KEY",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "http_proxy",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            c.env_remove(var);
        }
        c.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
        c
    }

    /// `http.sslCAInfo=<the test CA>`, for `-c`.
    fn ca(&self) -> String {
        format!("http.sslCAInfo={}", self.tls.ca.display())
    }

    /// `credential.helper=store --file=…` holding `user`'s password for the server, for `-c`.
    fn login(&self, user: &str) -> String {
        let password = USERS.iter().find(|(u, _)| *u == user).map_or("wrong-password", |(_, p)| p);
        let file = self.w().write(
            &format!("https/{user}.credentials"),
            &format!("https://{user}:{password}@127.0.0.1:{}\n", self.server.port),
        );
        format!("credential.helper=store --file={}", file.display())
    }

    /// git in `dir` trusting the test CA and logged in as `user`.
    fn git_as(&self, user: &str, dir: &Path) -> Command {
        let mut c = self.git(dir);
        c.args(["-c", &self.ca(), "-c", &self.login(user)]);
        c
    }

    /// `git push <https url> <refspecs>` from `dir` as `user`.
    fn push_as(&self, user: &str, dir: &Path, refspecs: &[&str]) -> Output {
        self.git_as(user, dir).arg("push").arg(self.url()).args(refspecs).output().expect("push")
    }

    /// git in `dir` through `signed::` as environment `staging`, with the team's policy.
    fn signed_git(&self, dir: &Path) -> Command {
        let mut c = self.git(dir);
        c.env("GIT_SIGNED_POLICY", self.w().path().join("policy.toml")).env("GIT_SIGNED_ENVIRONMENT", "staging");
        c
    }

    /// `git clone -c http.sslCAInfo=… -c credential.helper=… signed::https://… name` as `user`:
    /// the clone keeps both settings in its config, so later fetches and pushes need nothing.
    fn signed_clone(&self, user: &str, name: &str) -> Output {
        let url = format!("signed::{}", self.url());
        self.signed_git(self.w().path())
            .args(["clone", "-c", &self.ca(), "-c", &self.login(user), &url, name])
            .output()
            .expect("clone")
    }

    /// Put `tag` from `repo` into the mirror behind the hook's back (a fetch runs no hook), as
    /// a compromised mirror or an admin's mistake would.
    fn smuggle(&self, repo: &Path, tag: &str) {
        let spec = format!("refs/tags/{tag}:refs/tags/{tag}");
        self.w().git_ok(&self.team.mirror, &["fetch", "-q", repo.to_str().expect("utf8"), &spec]);
        assert!(self.team.mirror_has(&format!("refs/tags/{tag}")));
    }

    /// The audit log's last line for `refname`.
    fn audited(&self, refname: &str) -> serde_json::Value {
        let lines = self.w().audit();
        let last = lines.iter().rev().find(|l| l["ref"] == refname);
        last.cloned().unwrap_or_else(|| panic!("no audit line for {refname}: {lines:?}"))
    }

    /// The mirror holds `refname` exactly when the hook accepted it, and its last audit line
    /// for it says so (`verdict`), pushed by `pusher`.
    #[track_caller]
    fn assert_audited(&self, refname: &str, verdict: &str, pusher: &str) {
        assert_eq!(self.team.mirror_has(refname), verdict == "accepted", "{refname}");
        let line = self.audited(refname);
        assert_eq!((&line["verdict"], &line["pusher"]), (&verdict.into(), &pusher.into()), "{line}");
    }

    fn tags(&self, repo: &str) -> Vec<String> {
        let out = self.w().git_ok(&self.w().path().join(repo), &["tag", "--list"]);
        out.lines().map(ToOwned::to_owned).collect()
    }

    fn has_object(&self, repo: &str, id: &str) -> bool {
        let mut c = self.w().git(&self.w().path().join(repo));
        c.env("GIT_NO_LAZY_FETCH", "1").args(["cat-file", "-e", id]).output().is_ok_and(|o| o.status.success())
    }
}

fn chmod_x(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[track_caller]
fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {err}");
    err
}

#[track_caller]
fn failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should have failed: {err}");
    err
}

/// The line of `stderr` containing `text`, which must be one the server sent (`remote: …`).
#[track_caller]
fn remote_line<'a>(stderr: &'a str, text: &str) -> &'a str {
    let line = stderr.lines().find(|l| l.contains(text)).unwrap_or_else(|| panic!("no {text:?} in: {stderr}"));
    assert!(line.starts_with("remote: "), "{line:?} should come from the mirror's hook: {stderr}");
    line
}

#[test]
fn t41_a_two_person_tag_pushed_over_https_as_alice_is_accepted_and_audited_as_pushed_by_alice() {
    let Some(m) = Https::new() else { return };
    // A hook install.sh chains before ours (as it keeps an existing one) notes what hooks see.
    let seen = m.w().path().join("hook-environment");
    m.w().write(
        "mirror.git/hooks/pre-receive.before-git-signed",
        &format!("#!/bin/sh\necho \"user=$REMOTE_USER authorization=$HTTP_AUTHORIZATION\" >> {}\n", seen.display()),
    );
    chmod_x(&m.team.mirror.join("hooks/pre-receive.before-git-signed"));
    let alice = m.team.member("alice");
    m.w().sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    let err = ok(&m.push_as("alice", &alice, &["refs/tags/deploy/1"]));
    remote_line(&err, "git-signed: ok refs/tags/deploy/1: deploy/1: ok, signed by alice, bob");
    m.assert_audited("refs/tags/deploy/1", "accepted", "alice");
    let push = "200 alice POST /mirror.git/git-receive-pack";
    assert!(m.server.requests().iter().any(|r| r == push), "{:?}", m.server.requests());
    let seen = std::fs::read_to_string(seen).expect("the chained hook ran");
    assert_eq!(seen, "user=alice authorization=\n", "hooks see the user, never the password");
}

#[test]
fn t41_a_one_person_tag_pushed_as_bob_is_rejected_with_the_hooks_message_and_audited_as_pushed_by_bob() {
    let Some(m) = Https::new() else { return };
    let bob = m.team.member("bob");
    m.w().sign_chain(&bob, "deploy/1", &["bob"]);
    let err = failed(&m.push_as("bob", &bob, &["refs/tags/deploy/1"]));
    let rejected = "REJECTED refs/tags/deploy/1: deploy/1: rule 1 (deploy/*: 2 people): needs 2 people, has 1 (bob)";
    remote_line(&err, &format!("git-signed: {rejected}"));
    assert!(err.contains("[remote rejected]") && err.contains("pre-receive hook declined"), "{err}");
    m.assert_audited("refs/tags/deploy/1", "rejected", "bob");
}

#[test]
fn a_signed_https_clone_and_fetch_verify_and_hide_a_tag_put_into_the_mirror_behind_the_hooks_back() {
    let Some(m) = Https::new() else { return };
    let w = m.w();
    let alice = m.team.member("alice");
    w.sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    ok(&m.push_as("alice", &alice, &["refs/tags/deploy/1"]));
    w.commit(&alice, "only alice signed this");
    w.sign_chain(&alice, "deploy/2", &["alice"]);
    m.smuggle(&alice, "deploy/2");

    // Without the CA, the certificate is refused: TLS is checked, not switched off.
    let mut ls_remote = m.signed_git(w.path());
    ls_remote.args(["-c", &m.login("alice"), "ls-remote", &format!("signed::{}", m.url())]);
    let err = failed(&ls_remote.output().expect("ls-remote"));
    assert!(err.contains("certificate"), "{err}");

    let err = ok(&m.signed_clone("alice", "c"));
    assert!(err.contains("hiding refs/tags/deploy/2"), "{err}");
    assert_eq!(m.tags("c"), ["deploy/1"]);
    assert!(!m.has_object("c", &w.git_ok(&alice, &["rev-parse", "deploy/2"])), "the hidden tag never arrives");
    let c = w.path().join("c");
    assert_eq!(w.git_ok(&c, &["config", "http.sslCAInfo"]), m.tls.ca.display().to_string());

    // Later: a verified tag pushed over https, another bad one put in behind the hook's back.
    w.commit(&alice, "reviewed");
    w.sign_chain(&alice, "deploy/3", &["alice", "bob"]);
    ok(&m.push_as("alice", &alice, &["HEAD:refs/heads/main", "refs/tags/deploy/3"]));
    w.sign_chain(&alice, "deploy/4", &["alice"]);
    m.smuggle(&alice, "deploy/4");
    let err = ok(&m.signed_git(&c).args(["fetch", "origin"]).output().expect("fetch"));
    assert!(err.contains("hiding refs/tags/deploy/4"), "{err}");
    assert_eq!(m.tags("c"), ["deploy/1", "deploy/3"]);
    assert!(!m.has_object("c", &w.git_ok(&alice, &["rev-parse", "deploy/4"])));
    let users: Vec<String> = m.server.requests().iter().map(|r| r.split(' ').nth(1).unwrap_or("").to_owned()).collect();
    assert!(users.iter().all(|u| u == "alice" || u == "-"), "every request as alice or asking who: {users:?}");
}

#[test]
fn pushes_through_the_signed_https_url_are_judged_by_the_mirrors_hook() {
    let Some(m) = Https::new() else { return };
    let w = m.w();
    ok(&m.signed_clone("alice", "c"));
    let c = w.path().join("c");
    w.commit(&c, "to deploy");
    w.sign_chain(&c, "deploy/1", &["alice", "bob"]);
    let err = ok(&m
        .signed_git(&c)
        .args(["push", "origin", "HEAD:refs/heads/main", "refs/tags/deploy/1"])
        .output()
        .expect("push"));
    remote_line(&err, "git-signed: ok refs/tags/deploy/1: deploy/1: ok, signed by alice, bob");
    assert!(m.team.mirror_has("refs/tags/deploy/1"));
    assert_eq!(m.audited("refs/tags/deploy/1")["pusher"], "alice");

    w.commit(&c, "not reviewed");
    w.sign_chain(&c, "deploy/2", &["alice"]);
    let err = failed(&m.signed_git(&c).args(["push", "origin", "refs/tags/deploy/2"]).output().expect("push"));
    remote_line(&err, "git-signed: REJECTED refs/tags/deploy/2");
    assert!(err.contains("[remote rejected]") && err.contains("needs 2 people, has 1 (alice)"), "{err}");
    m.assert_audited("refs/tags/deploy/2", "rejected", "alice");
}

#[test]
fn t41_a_push_without_credentials_is_refused_by_the_server() {
    let Some(m) = Https::new() else { return };
    let alice = m.team.member("alice");
    m.w().sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    let audited = m.w().audit().len();

    let read = m.git(&alice).args(["-c", &m.ca(), "ls-remote", &m.url()]).output().expect("ls-remote");
    assert!(failed(&read).contains("could not read Username"), "reads need a user too");
    let anonymous = m.git(&alice).args(["-c", &m.ca(), "push", &m.url(), "refs/tags/deploy/1"]).output().expect("push");
    let err = failed(&anonymous);
    assert!(err.contains("could not read Username"), "git was asked who it is: {err}");
    let err = failed(&m.push_as("mallory", &alice, &["refs/tags/deploy/1"]));
    assert!(err.contains("Authentication failed"), "{err}");

    let requests = m.server.requests();
    let refused = |user: &str| format!("401 {user} GET /mirror.git/info/refs?service=git-receive-pack");
    assert!(requests.contains(&refused("-")) && requests.contains(&refused("mallory")), "{requests:?}");
    assert!(requests.iter().all(|r| r.starts_with("401 ")), "nothing got past nginx: {requests:?}");
    assert!(!m.team.mirror_has("refs/tags/deploy/1"));
    assert_eq!(m.w().audit().len(), audited, "the hook never ran");
}

/// README.md's server block is docs/nginx-mirror.conf, the file the tests serve, without its
/// comments.
#[test]
fn the_readme_shows_the_server_block_the_tests_serve() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("## A mirror behind nginx with TLS").expect("the README's section")..];
    let block = section.split("```nginx\n").nth(1).and_then(|b| b.split("```").next()).expect("an nginx block");
    let served: Vec<&str> = SERVER_BLOCK.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert_eq!(block.lines().collect::<Vec<_>>(), served, "README.md and docs/nginx-mirror.conf differ");
}

/// Who pushed, proven over stateless HTTP (T39): listing the refs and pushing are two requests,
/// and receive-pack takes the first one's nonce in the second (receive.certNonceSlop, set by
/// install.sh). The server's account says alice; the certificate says the pipeline's key.
#[test]
fn t39_a_signed_push_over_https_names_its_signer_and_an_unsigned_one_is_rejected() {
    let Some(m) = Https::new() else { return };
    m.w().policy("[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\npushers = [\"staging-ci\"]\n");
    let alice = m.team.member("alice");
    m.w().sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    let err = failed(&m.push_as("alice", &alice, &["refs/tags/deploy/1"]));
    remote_line(&err, "requires a signed push, and this push carries no push certificate");
    let ci = format!("user.signingKey={}", keys().get("staging-ci").fingerprint);
    let out = m.git_as("alice", &alice).args(["-c", &ci, "push", "--signed", &m.url(), "refs/tags/deploy/1"]).output();
    ok(&out.expect("push"));
    let line = m.audited("refs/tags/deploy/1");
    assert_eq!((&line["pusher"], &line["push_certificate"]["signer"]), (&"alice".into(), &"machine staging-ci".into()));
}
