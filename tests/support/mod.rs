//! Shared fixtures for the integration tests: real gpg keys, real git repositories, real
//! `git tag -s`, the hook installed by `install.sh`. Nothing here mocks git or crypto.
//!
//! - [`Keys`]: one gpg home per test process with alice, bob, carol, mallory and staging-ci,
//!   made with `gpg --batch` (fast ed25519 keys, no passphrase). It and every [`World`] live
//!   in the process's [`scratch`] directory, which goes away with the gpg-agent when the test
//!   binary ends, passing, failing or killed.
//! - [`SqKey`]: in-process sequoia keys for the cases gpg can't fake easily: back-dated,
//!   future-dated, SHA-1 and revoked signatures.
//! - [`World`]: a temporary directory with its own HOME, the public keys, a policy, and helpers
//!   to make repositories and run the binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use openpgp::cert::prelude::*;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::SerializeInto;
use openpgp::types::{HashAlgorithm, ReasonForRevocation, SignatureType};
use sequoia_openpgp as openpgp;

/// Names of the gpg keys every test can use.
pub const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "mallory"];

/// A gpg key made for the tests.
#[derive(Clone, Debug)]
pub struct GpgKey {
    pub name: String,
    pub email: String,
    pub fingerprint: String,
    pub public: String,
}

/// The process-wide gpg home and its keys.
pub struct Keys {
    pub home: PathBuf,
    keys: Vec<GpgKey>,
}

impl Keys {
    /// The key named `name` (one of [`PEOPLE`], `alice2`, or `staging-ci`).
    pub fn get(&self, name: &str) -> &GpgKey {
        self.keys.iter().find(|k| k.name == name).unwrap_or_else(|| panic!("no test key {name}"))
    }
}

/// This test binary's scratch directory: the gpg home and every [`World`] live in it, and
/// [`clean_up_at_exit`] removes it with the gpg-agent when the binary ends, however it ends.
pub fn scratch() -> &'static Path {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("gs-run-").tempdir().expect("tempdir").keep();
        clean_up_at_exit(&dir, &dir.join("gnupg"));
        dir
    })
}

/// The shared gpg keyring (made once per test binary, in [`scratch`]).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let home = scratch().join("gnupg");
        std::fs::create_dir(&home).expect("gnupg dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let names = ["alice", "alice2", "bob", "carol", "mallory", "staging-ci"];
        let keys = names
            .iter()
            .map(|name| {
                let email = format!("{name}@example.org");
                let uid = format!("{name} <{email}>");
                run_ok(gpg(&home).args(["--quick-gen-key", &uid, "ed25519", "sign", "never"]));
                let listing = run_ok(gpg(&home).args(["--with-colons", "--list-keys", &email]));
                let fingerprint = String::from_utf8_lossy(&listing.stdout)
                    .lines()
                    .find(|l| l.starts_with("fpr:"))
                    .and_then(|l| l.split(':').nth(9))
                    .expect("fingerprint")
                    .to_owned();
                let public = String::from_utf8(run_ok(gpg(&home).args(["--armor", "--export", &fingerprint])).stdout)
                    .expect("armored");
                GpgKey { name: name.to_string(), email, fingerprint, public }
            })
            .collect();
        Keys { home, keys }
    })
}

/// Stop the gpg-agent of `home` and remove `dir` when this test binary ends, however it ends.
///
/// Statics are never dropped, so a guard process does it: it waits for the end of a pipe that
/// only this process holds (Rust opens pipes close-on-exec, so no git, gpg or agent inherits
/// it), which the kernel closes on any exit, even SIGKILL, and ignores the Ctrl-C that stops
/// `cargo test`. At a normal exit, passed or failed, an atexit handler closes the pipe and
/// waits for the guard, so nothing is left when `cargo test` returns.
fn clean_up_at_exit(dir: &Path, home: &Path) {
    use std::sync::Mutex;
    static GUARD: Mutex<Option<(std::process::Child, std::process::ChildStdin)>> = Mutex::new(None);
    extern "C" fn at_exit() {
        let guard = GUARD.lock().ok().and_then(|mut g| g.take());
        if let Some((mut child, pipe)) = guard {
            drop(pipe);
            let _ = child.wait();
        }
    }
    const SCRIPT: &str = r#"trap '' INT HUP TERM; cat > /dev/null
        gpgconf --homedir "$1" --kill all; gpgconf --homedir "$1" --remove-socketdir; rm -rf "$2""#;
    *GUARD.lock().expect("guard lock") = Some(guard(SCRIPT, "gs-gpg-guard", &[home.as_os_str(), dir.as_os_str()]));
    // SAFETY: registers a plain `extern "C"` function that takes no arguments; it only takes
    // the guard out of its mutex, drops the pipe and waits for the child.
    unsafe {
        libc::atexit(at_exit);
    }
}

/// Start a guard process: `sh -c script name args…`, reading from a pipe only this process
/// holds, which the kernel closes when it exits however it exits. The script acts on what it
/// reads and on the end of the pipe.
pub fn guard(script: &str, name: &str, args: &[&std::ffi::OsStr]) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = Command::new("sh")
        .args(["-c", script, name])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let pipe = child.stdin.take().expect("guard stdin");
    (child, pipe)
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home).args(["--batch", "--quiet", "--passphrase", "", "--pinentry-mode", "loopback"]);
    c
}

/// Run a command, panicking with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temporary world: HOME, keys/, a policy, repositories.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new().prefix("gs-test-").tempdir_in(scratch()).expect("tempdir");
        std::fs::create_dir(dir.path().join("keys")).expect("keys dir");
        std::fs::create_dir(dir.path().join("home")).expect("home dir");
        let w = World { dir };
        for k in &keys().keys {
            w.write(&format!("keys/{}.asc", k.name), &k.public);
        }
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Write `policy.toml` with the standard people and the given rules/extra TOML appended.
    pub fn policy(&self, extra: &str) -> PathBuf {
        self.write("policy.toml", &format!("{}{extra}", standard_people()))
    }

    /// A command with this world's HOME, gpg home and a fixed identity; no system config.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("HOME", self.path().join("home"))
            .env("GNUPGHOME", &keys().home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.org")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.org")
            .env("PATH", path_with_binaries())
            .env_remove("GIT_DIR")
            .env_remove("GIT_SIGNED_POLICY")
            .env_remove("GIT_SIGNED_ENVIRONMENT");
        c
    }

    /// `git` in `dir`.
    pub fn git(&self, dir: &Path) -> Command {
        let mut c = self.cmd("git");
        c.current_dir(dir).args(["-c", "advice.nestedTag=false", "-c", "init.defaultBranch=main"]);
        c
    }

    /// Run git in `dir` and return stdout (trimmed); panics on failure.
    pub fn git_ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = run_ok(self.git(dir).args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new non-bare repository with one commit.
    pub fn repo(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        run_ok(self.git(self.path()).args(["init", "-q", name]));
        self.commit(&p, "first");
        p
    }

    /// Make a commit in `repo`; returns its id.
    pub fn commit(&self, repo: &Path, message: &str) -> String {
        run_ok(self.git(repo).args(["commit", "-q", "--allow-empty", "-m", message]));
        self.git_ok(repo, &["rev-parse", "HEAD"])
    }

    /// `key` signs a new layer of `tag` in `repo` with `git tag -s`: the first layer wraps
    /// `target` (a commit), later ones wrap the current tag.
    pub fn sign(&self, repo: &Path, key: &str, tag: &str, target: &str) {
        let k = keys().get(key);
        run_ok(self.git(repo).env("GIT_COMMITTER_NAME", &k.name).env("GIT_COMMITTER_EMAIL", &k.email).args([
            "-c",
            &format!("user.signingKey={}", k.fingerprint),
            "-c",
            &format!("user.name={}", k.name),
            "-c",
            &format!("user.email={}", k.email),
            "tag",
            "-s",
            "-f",
            "-m",
            &format!("signed by {}", k.name),
            tag,
            target,
        ]));
    }

    /// Layers by several keys, innermost first: the first wraps HEAD, the others wrap the tag.
    pub fn sign_chain(&self, repo: &Path, tag: &str, signers: &[&str]) {
        for (i, s) in signers.iter().enumerate() {
            let target = if i == 0 { "HEAD".to_owned() } else { tag.to_owned() };
            self.sign(repo, s, tag, &target);
        }
    }

    /// `git signed …` in `repo`.
    pub fn signed(&self, repo: &Path) -> Command {
        let mut c = self.cmd(bin("git-signed"));
        c.current_dir(repo);
        c
    }

    /// `git signed verify <tag> --policy policy.toml [extra]`: (exit code, stdout, stderr).
    pub fn verify(&self, repo: &Path, tag: &str, extra: &[&str]) -> (i32, String, String) {
        let policy = self.path().join("policy.toml");
        let out = self
            .signed(repo)
            .args(["verify", tag, "--policy"])
            .arg(&policy)
            .args(extra)
            .output()
            .expect("run git-signed");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Write a raw tag object with `git mktag` and return its id.
    pub fn mktag(&self, repo: &Path, bytes: &[u8]) -> String {
        let mut child = self
            .git(repo)
            .args(["mktag"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mktag");
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(bytes).expect("write");
        let out = child.wait_with_output().expect("mktag");
        assert!(out.status.success(), "mktag: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Write any object without git's checks (`hash-object --literally`).
    pub fn hash_literally(&self, repo: &Path, kind: &str, bytes: &[u8]) -> String {
        let file = self.write("literal-object", "");
        std::fs::write(&file, bytes).expect("write");
        self.git_ok(repo, &["hash-object", "--literally", "-w", "-t", kind, file.to_str().expect("utf8")])
    }

    /// Point `refs/tags/<tag>` at `id` by writing the loose ref file, for objects git refuses
    /// to point refs at (malformed tags).
    pub fn force_tag_ref(&self, repo: &Path, tag: &str, id: &str) {
        let git_dir = self.git_ok(repo, &["rev-parse", "--absolute-git-dir"]);
        let file = Path::new(&git_dir).join("refs/tags").join(tag);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, format!("{id}\n")).expect("write ref");
    }

    /// The raw bytes of an object.
    pub fn cat(&self, repo: &Path, id: &str) -> Vec<u8> {
        let kind = self.git_ok(repo, &["cat-file", "-t", id]);
        run_ok(self.git(repo).args(["cat-file", &kind, id])).stdout
    }
}

/// alice (two keys: alice.asc and alice2.asc), bob (admin), carol, and the staging-ci machine.
pub fn standard_people() -> String {
    r#"version = 1
environments = ["ci", "staging", "production"]

[people.alice]
keys = ["keys/alice.asc", "keys/alice2.asc"]
access = "deploy"
sponsor = "bob"

[people.bob]
keys = ["keys/bob.asc"]
access = "admin"

[people.carol]
keys = ["keys/carol.asc"]
access = "deploy"
sponsor = "bob"

[machines.staging-ci]
keys = ["keys/staging-ci.asc"]

"#
    .to_owned()
}

/// The two rules of design.md §4.
pub const DEPLOY_RULES: &str = r#"[[rule]]
tags = ["deploy/*"]
people = 2

[[rule]]
tags = ["deploy/*"]
environments = ["production"]
machines = ["staging-ci"]
"#;

/// Path to one of the project's binaries.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "git-signed" => PathBuf::from(env!("CARGO_BIN_EXE_git-signed")),
        "git-signed-pre-receive" => PathBuf::from(env!("CARGO_BIN_EXE_git-signed-pre-receive")),
        "git-remote-signed" => PathBuf::from(env!("CARGO_BIN_EXE_git-remote-signed")),
        other => panic!("unknown binary {other}"),
    }
}

/// PATH with the project's binaries first (so `git signed` and `signed::` find them), then
/// the test helpers in tests/support/bin (`liar::`, a mirror that lies in its advertisement).
pub fn path_with_binaries() -> std::ffi::OsString {
    let dir = bin("git-signed").parent().expect("bin dir").to_owned();
    let mut paths = vec![dir, Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/bin")];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).expect("PATH")
}

/// An in-process sequoia key, for signatures gpg can't easily make (back-dated, future,
/// SHA-1, revoked).
pub struct SqKey {
    pub name: String,
    pub cert: Cert,
    /// How long its signatures stay valid (forever when `None`).
    pub signature_validity: Option<Duration>,
}

impl SqKey {
    /// A key created at `created`, valid for `validity` (forever when `None`).
    pub fn new(name: &str, created: SystemTime, validity: Option<Duration>) -> SqKey {
        let (cert, _) = CertBuilder::new()
            .add_userid(format!("{name} <{name}@example.org>"))
            .add_signing_subkey()
            .set_creation_time(created)
            .set_validity_period(validity)
            .generate()
            .expect("generate");
        SqKey { name: name.to_owned(), cert, signature_validity: None }
    }

    /// The armored public certificate.
    pub fn public(&self) -> String {
        String::from_utf8(self.cert.armored().to_vec().expect("armor")).expect("utf8")
    }

    /// Sign `payload` at `at` with `hash`; returns the armored signature block.
    pub fn sign(&self, payload: &[u8], at: SystemTime, hash: HashAlgorithm) -> String {
        // The signing subkey, whether or not it is valid at `at` (back-dating tests need that).
        let mut keypair = self
            .cert
            .keys()
            .subkeys()
            .unencrypted_secret()
            .next()
            .expect("signing subkey")
            .key()
            .clone()
            .role_into_unspecified()
            .into_keypair()
            .expect("keypair");
        let mut builder = SignatureBuilder::new(SignatureType::Binary)
            .set_signature_creation_time(at)
            .expect("time")
            .set_hash_algo(hash);
        if let Some(validity) = self.signature_validity {
            builder = builder.set_signature_validity_period(validity).expect("validity");
        }
        let sig = builder.sign_message(&mut keypair, payload).expect("sign");
        let packet = openpgp::Packet::from(sig);
        String::from_utf8(packet.to_vec().map(|bytes| armor_signature(&bytes)).expect("serialize")).expect("utf8")
    }

    /// Revoke the whole certificate with `reason` at `at`.
    pub fn revoke(&mut self, reason: ReasonForRevocation, at: SystemTime) {
        let mut primary =
            self.cert.primary_key().key().clone().parts_into_secret().expect("secret").into_keypair().expect("keypair");
        let rev = CertRevocationBuilder::new()
            .set_reason_for_revocation(reason, b"test")
            .expect("reason")
            .set_signature_creation_time(at)
            .expect("time")
            .build(&mut primary, &self.cert, None)
            .expect("revocation");
        let (cert, _) = self.cert.clone().insert_packets(rev).expect("insert");
        self.cert = cert;
    }
}

fn armor_signature(binary: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut w = openpgp::armor::Writer::new(&mut out, openpgp::armor::Kind::Signature).expect("armor");
    w.write_all(binary).expect("write");
    w.finalize().expect("finalize");
    out
}

/// The bytes of an unsigned tag object, as `git tag` would write them.
pub fn tag_payload(target: &str, kind: &str, name: &str, tagger: &str, time: SystemTime, message: &str) -> Vec<u8> {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("object {target}\ntype {kind}\ntag {name}\ntagger {tagger} {secs} +0000\n\n{message}\n").into_bytes()
}

impl World {
    /// A layer signed in-process by `key` at `at`: wraps `target` (a commit, or the tag's current
    /// object when `target` is a tag name) and points `refs/tags/<tag>` at it. Returns the id.
    pub fn sign_sq(
        &self,
        repo: &Path,
        key: &SqKey,
        tag: &str,
        target: &str,
        at: SystemTime,
        hash: HashAlgorithm,
    ) -> String {
        let id = self.git_ok(repo, &["rev-parse", target]);
        let kind = self.git_ok(repo, &["cat-file", "-t", &id]);
        let tagger = format!("{} <{}@example.org>", key.name, key.name);
        let mut object = tag_payload(&id, &kind, tag, &tagger, at, &format!("signed by {}", key.name));
        let sig = key.sign(&object, at, hash);
        object.extend_from_slice(sig.as_bytes());
        let new = self.mktag(repo, &object);
        self.git_ok(repo, &["update-ref", &format!("refs/tags/{tag}"), &new]);
        new
    }
}

/// Seconds in a day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// The project's install.sh.
pub fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

impl World {
    /// Run install.sh with `args`, using the binaries cargo built for the tests.
    pub fn install(&self, args: &[&str]) -> Output {
        let bindir = bin("git-signed-pre-receive").parent().expect("bindir").to_owned();
        self.cmd("bash")
            .arg(install_sh())
            .args(args)
            .arg("--bindir")
            .arg(bindir)
            .stdin(Stdio::null())
            .output()
            .expect("install.sh")
    }

    /// A bare mirror with the hook installed by install.sh, the world's policy and an audit log.
    pub fn mirror(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        run_ok(self.git(self.path()).args(["init", "-q", "--bare", name]));
        let policy = self.path().join("policy.toml");
        let log = self.path().join("audit.log");
        let out = self.install(&[
            "--repo",
            p.to_str().expect("utf8"),
            "--policy",
            policy.to_str().expect("utf8"),
            "--audit-log",
            log.to_str().expect("utf8"),
        ]);
        assert!(out.status.success(), "install.sh: {}", String::from_utf8_lossy(&out.stderr));
        p
    }

    /// A clone of `mirror` to work in, with one commit pushed to main.
    pub fn clone_of(&self, mirror: &Path, name: &str) -> PathBuf {
        let p = self.path().join(name);
        run_ok(self.git(self.path()).args(["clone", "-q", mirror.to_str().expect("utf8"), name]));
        if self.git(&p).args(["rev-parse", "-q", "--verify", "HEAD"]).output().is_ok_and(|o| !o.status.success()) {
            self.commit(&p, "first");
            run_ok(self.git(&p).args(["push", "-q", "origin", "HEAD:refs/heads/main"]));
        }
        p
    }

    /// `git push <args>` from `repo`: (succeeded, stderr).
    pub fn push(&self, repo: &Path, args: &[&str]) -> (bool, String) {
        let out = self.git(repo).arg("push").args(args).stdin(Stdio::null()).output().expect("push");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// The audit log's lines, each parsed as JSON.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.path().join("audit.log")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}"))).collect()
    }

    /// Every ref and every reachable object of a repository, to compare states.
    pub fn snapshot(&self, repo: &Path) -> (String, String) {
        (
            self.git_ok(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]),
            self.git_ok(repo, &["rev-list", "--all", "--objects"]),
        )
    }
}

/// A team around a mirror: the hook installed by install.sh, the standard people with
/// [`DEPLOY_RULES`], and a first commit on main. Each member works in their own clone and signs
/// with their own key, as design.md §3's people do.
pub struct Team {
    pub w: World,
    pub mirror: PathBuf,
}

impl Team {
    pub fn new() -> Team {
        let w = World::new();
        w.policy(DEPLOY_RULES);
        let mirror = w.mirror("mirror.git");
        w.clone_of(&mirror, "seed");
        Team { w, mirror }
    }

    /// A clone for `who`, signing with their key, with `signed.policy` set.
    pub fn member(&self, who: &str) -> PathBuf {
        let dir = self.w.clone_of(&self.mirror, who);
        let k = keys().get(who);
        self.w.git_ok(&dir, &["config", "user.signingKey", &k.fingerprint]);
        self.w.git_ok(&dir, &["config", "signed.policy", self.w.path().join("policy.toml").to_str().expect("utf8")]);
        dir
    }

    /// `git signed <args>` in `dir`.
    pub fn signed(&self, dir: &Path, args: &[&str]) -> Output {
        self.w.signed(dir).args(args).stdin(Stdio::null()).output().expect("git-signed")
    }

    /// `git clone signed::<mirror> name` as environment `env`; the tags it got.
    pub fn clone_as(&self, env: &str, name: &str) -> Vec<String> {
        let out = self
            .w
            .git(self.w.path())
            .env("GIT_SIGNED_POLICY", self.w.path().join("policy.toml"))
            .env("GIT_SIGNED_ENVIRONMENT", env)
            .args(["clone", "-q", &format!("signed::{}", self.mirror.display()), name])
            .output()
            .expect("clone");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self.w.git_ok(&self.w.path().join(name), &["tag"]).lines().map(ToOwned::to_owned).collect()
    }

    /// Whether the mirror has `refname`.
    pub fn mirror_has(&self, refname: &str) -> bool {
        self.w
            .git(&self.mirror)
            .args(["rev-parse", "-q", "--verify", refname])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// Today's date in UTC (the policy's dates are UTC days).
pub fn today_utc() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

impl World {
    /// The standard people, with carol's key replaced by the in-process key `carol` (written
    /// to keys/carol-sq.asc); append rules and write it with [`World::write`].
    pub fn people_with_sq_carol(&self, carol: &SqKey) -> String {
        self.write("keys/carol-sq.asc", &carol.public());
        standard_people().replace(r#"keys = ["keys/carol.asc"]"#, r#"keys = ["keys/carol-sq.asc"]"#)
    }
}

/// A repository served to `signed::` clones (no hook: it may be a compromised mirror), the
/// work repository that filled it, and the world around them. Each test file builds its own.
pub struct Upstream {
    pub w: World,
    pub upstream: PathBuf,
    pub work: PathBuf,
}

impl Upstream {
    /// `signed::<path of the upstream>`.
    pub fn url(&self) -> String {
        format!("signed::{}", self.upstream.display())
    }

    /// git in `dir` as environment `env`, with the world's policy.
    pub fn git_as(&self, env: &str, dir: &Path) -> Command {
        let mut c = self.w.git(dir);
        c.env("GIT_SIGNED_POLICY", self.w.path().join("policy.toml")).env("GIT_SIGNED_ENVIRONMENT", env);
        c
    }

    /// `git clone [extra] signed::… name` as environment `env`.
    pub fn clone_as(&self, env: &str, name: &str, extra: &[&str]) -> Output {
        let url = self.url();
        self.git_as(env, self.w.path()).arg("clone").args(extra).args([url.as_str(), name]).output().expect("clone")
    }

    /// The object `rev` names in the work repository.
    pub fn id(&self, rev: &str) -> String {
        self.w.git_ok(&self.work, &["rev-parse", rev])
    }
}
