//! Who pushed, proven (`git push --signed`, T39), and who is told when a protected ref
//! changes (`signed.notify`, T40): the real git, the hook and the post-receive hook installed by
//! install.sh, certificates signed by gpg and ssh-keygen through `git push --signed`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Deploy tags need two people, and a push signed by the machine staging-ci.
const SIGNED_PUSH_RULES: &str = r#"[[rule]]
tags = ["deploy/*"]
people = 2
pushers = ["staging-ci"]
"#;

/// A mirror with `rules`, and a work clone with the deploy tag `deploy/1` signed by two people.
fn setup(rules: &str) -> (World, PathBuf, PathBuf) {
    let w = World::new();
    w.policy(rules);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    (w, mirror, work)
}

/// `git push [--signed] origin refs/tags/<tag>`, the certificate (if any) signed by the gpg key
/// `signer`, with `extra` arguments before the remote: (succeeded, stderr).
fn push(w: &World, work: &Path, tag: &str, signer: Option<&str>, extra: &[&str]) -> (bool, String) {
    let mut git = w.git(work);
    if let Some(who) = signer {
        git.args(["-c", &format!("user.signingKey={}", keys().get(who).fingerprint)]);
    }
    git.arg("push");
    if signer.is_some() {
        git.arg("--signed");
    }
    let out =
        git.args(extra).args(["origin", &format!("refs/tags/{tag}")]).stdin(Stdio::null()).output().expect("push");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn mirror_has(w: &World, mirror: &Path, refname: &str) -> bool {
    w.git(mirror).args(["rev-parse", "-q", "--verify", refname]).output().is_ok_and(|o| o.status.success())
}

/// The audit log's line for `refname` (the last one).
fn audited(w: &World, refname: &str) -> serde_json::Value {
    w.audit().into_iter().rev().find(|l| l["ref"] == refname).unwrap_or_else(|| panic!("no audit line for {refname}"))
}

/// The audit log's last line keeping a push certificate.
fn kept_certificate(w: &World) -> serde_json::Value {
    w.audit().into_iter().rev().find(|l| l["event"] == "push-certificate").expect("a push-certificate line")
}

#[test]
fn t39_a_push_without_the_required_certificate_is_rejected() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    let (ok, err) = push(&w, &work, "deploy/1", None, &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains(
            "deploy/1: rule 1 (deploy/*: 2 people + a signed push by staging-ci) requires a signed push, and this push carries no push certificate; push with `git push --signed`"
        ),
        "{err}"
    );
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    assert!(audited(&w, "refs/tags/deploy/1")["push_certificate"].is_null());
}

#[test]
fn t39_a_push_signed_by_the_listed_machine_is_accepted_and_its_certificate_kept_in_the_audit_log() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    let (ok, err) = push(&w, &work, "deploy/1", Some("staging-ci"), &[]);
    assert!(ok, "{err}");
    assert!(mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    let line = audited(&w, "refs/tags/deploy/1");
    let cert = &line["push_certificate"];
    assert_eq!(cert["signer"], "machine staging-ci", "{line}");
    assert!(cert["problem"].is_null(), "{line}");
    // The certificate itself, once per push, on a line of its own.
    let kept = kept_certificate(&w);
    assert_eq!((&kept["id"], &kept["signer"]), (&cert["id"], &cert["signer"]), "{kept}");
    let text = kept["text"].as_str().expect("certificate text");
    assert!(text.starts_with("certificate version 0.1\n"), "{text}");
    let tag = w.git_ok(&work, &["rev-parse", "deploy/1"]);
    assert!(text.contains(&format!(" {tag} refs/tags/deploy/1\n")), "{text}");
    assert!(text.contains("-----BEGIN PGP SIGNATURE-----"), "{text}");
    // The blob receive-pack stored is the certificate the log keeps.
    let id = cert["id"].as_str().expect("id");
    assert_eq!(w.cat(&mirror, id), text.as_bytes());
}

#[test]
fn t39_a_push_signed_by_someone_the_rule_does_not_name_is_rejected() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    let (ok, err) = push(&w, &work, "deploy/1", Some("alice"), &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("accepts pushes signed by staging-ci only; this push certificate is signed by alice"),
        "{err}"
    );
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    assert_eq!(audited(&w, "refs/tags/deploy/1")["push_certificate"]["signer"], "alice");
}

#[test]
fn t39_a_push_signed_by_a_key_outside_the_policy_is_rejected() {
    let (w, _mirror, work) =
        setup(SIGNED_PUSH_RULES.replace(r#"pushers = ["staging-ci"]"#, "push_certificate = true").as_str());
    let (ok, err) = push(&w, &work, "deploy/1", Some("mallory"), &[]);
    assert!(!ok, "{err}");
    assert!(err.contains("requires a signed push, and the push certificate is signed by key"), "{err}");
    assert!(err.contains("which is not in the policy"), "{err}");
    // Anyone in the policy will do for push_certificate = true.
    let (ok, err) = push(&w, &work, "deploy/1", Some("carol"), &[]);
    assert!(ok, "{err}");
}

/// A pusher who controls receive-pack's environment (`--receive-pack` on a shared file
/// system, `AcceptEnv GIT_*` in sshd) hands the hook an earlier, valid certificate with what
/// receive-pack would say of a fresh one: the certificate names other updates than the push.
#[test]
fn t39_a_certificate_whose_ref_lines_differ_from_the_push_is_rejected() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    run_ok(w.git(&work).args(["branch", "feature"]));
    let out = w
        .git(&work)
        .args(["-c", &format!("user.signingKey={}", keys().get("staging-ci").fingerprint)])
        .args(["push", "--signed", "origin", "feature"])
        .stdin(Stdio::null())
        .output()
        .expect("push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = audited(&w, "refs/heads/feature")["push_certificate"].clone();
    assert_eq!(cert["signer"], "machine staging-ci");
    assert!(!w.audit().iter().any(|l| l["event"] == "push-certificate"), "no protected ref, no certificate kept");
    let id = cert["id"].as_str().expect("id");
    let text = String::from_utf8(w.cat(&mirror, id)).expect("certificate");
    let nonce = text.lines().find_map(|l| l.strip_prefix("nonce ")).expect("nonce");
    let forged =
        format!("env GIT_PUSH_CERT={id} GIT_PUSH_CERT_NONCE={nonce} GIT_PUSH_CERT_NONCE_STATUS=OK git-receive-pack");
    let (ok, err) = push(&w, &work, "deploy/1", None, &["--receive-pack", &forged]);
    assert!(!ok, "{err}");
    assert!(err.contains("the push certificate covers other ref updates than this push (not covered: "), "{err}");
    assert!(err.contains("refs/tags/deploy/1; covered but not pushed: "), "{err}");
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));
}

/// Someone who recorded a signed push that did not land (here the mirror's update hook turned
/// it away after git-signed accepted it) sends the same bytes again: as a stateless HTTP
/// request would within receive.certNonceSlop (git calls that nonce OK), and later over a
/// connection of its own (git calls the nonce BAD).
#[test]
fn t39_a_replayed_certificate_is_rejected() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    let block = w.path().join("block");
    std::fs::write(&block, "").expect("block");
    let update = w.write(
        "mirror.git/hooks/update",
        &format!("#!/bin/sh\n[ -e '{}' ] && {{ echo 'update hook: not now' >&2; exit 1; }}\nexit 0\n", block.display()),
    );
    make_executable(&update);
    let capture = w.path().join("push.bytes");
    let recorder = format!("tee '{}' | git-receive-pack", capture.display());
    let (ok, err) = push(&w, &work, "deploy/1", Some("staging-ci"), &["--receive-pack", &recorder]);
    assert!(!ok && err.contains("update hook: not now"), "{err}");
    assert!(err.contains("deploy/1: ok"), "git-signed accepted it first: {err}");
    std::fs::remove_file(&block).expect("unblock");

    let replay = |stateless: bool| {
        let mut git = w.git(w.path());
        git.arg("receive-pack");
        if stateless {
            git.arg("--stateless-rpc");
        }
        let out =
            git.arg(&mirror).stdin(std::fs::File::open(&capture).expect("capture")).output().expect("receive-pack");
        // The recorded client asked for side-band: the hook's words come in stdout's packets.
        String::from_utf8_lossy(&[side_band(&out.stdout, 2), out.stderr].concat()).into_owned()
    };
    let err = replay(true);
    assert!(err.contains("the push certificate was presented before"), "{err}");
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    // The same signed certificate written otherwise (an armor comment, outside what is signed)
    // is another blob, and the same certificate.
    let bytes = std::fs::read(&capture).expect("capture");
    let begin = b"-----BEGIN PGP SIGNATURE-----\n";
    let at = bytes.windows(begin.len()).position(|w| w == begin).expect("signature") + begin.len();
    std::fs::write(&capture, [&bytes[..at], b"0016Comment: replayed\n", &bytes[at..]].concat()).expect("rewrite");
    let err = replay(true);
    assert!(err.contains("the push certificate was presented before"), "{err}");
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));

    // Later than receive.certNonceSlop, receive-pack itself calls the nonce stale.
    w.git_ok(&mirror, &["config", "receive.certNonceSlop", "1"]);
    std::thread::sleep(Duration::from_millis(2200)); // a nonce names its second
    let err = replay(true);
    assert!(err.contains("receive-pack reports its nonce as SLOP"), "{err}");
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    // Over a connection of its own (ssh, file), only the nonce issued on it will do.
    let err = replay(false);
    assert!(err.contains("receive-pack reports its nonce as BAD"), "{err}");
    assert!(!mirror_has(&w, &mirror, "refs/tags/deploy/1"));

    // The pusher signs again, for a nonce of now: it lands.
    let (ok, err) = push(&w, &work, "deploy/1", Some("staging-ci"), &[]);
    assert!(ok, "{err}");
}

/// A pipeline pushes through its `signed::` remote: the helper hands `--signed` on to git.
#[test]
fn t39_a_signed_push_through_the_signed_remote_is_accepted() {
    let (w, mirror, work) = setup(SIGNED_PUSH_RULES);
    let url = format!("signed::{}", mirror.display());
    let out = w
        .git(&work)
        .env("GIT_SIGNED_POLICY", w.path().join("policy.toml"))
        .env("GIT_SIGNED_ENVIRONMENT", "staging")
        .args(["-c", &format!("user.signingKey={}", keys().get("staging-ci").fingerprint)])
        .args(["push", "--signed", &url, "refs/tags/deploy/1"])
        .stdin(Stdio::null())
        .output()
        .expect("push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(audited(&w, "refs/tags/deploy/1")["push_certificate"]["signer"], "machine staging-ci");
}

/// What `band` carries in receive-pack's pkt-line output (band 2: the hooks' stderr), joined.
fn side_band(mut stream: &[u8], band: u8) -> Vec<u8> {
    let mut out = Vec::new();
    while stream.len() >= 4 {
        let len = std::str::from_utf8(&stream[..4]).ok().and_then(|h| usize::from_str_radix(h, 16).ok());
        match len {
            Some(0..=4) => stream = &stream[4..], // flush, delimiter
            Some(n) if n <= stream.len() => {
                let (packet, rest) = stream.split_at(n);
                if packet.get(4) == Some(&band) {
                    out.extend_from_slice(&packet[5..]);
                }
                stream = rest;
            }
            _ => break,
        }
    }
    out
}

#[test]
fn t39_a_push_signed_with_an_ssh_key_is_accepted() {
    let w = World::new();
    let key = w.path().join("ci-key");
    run_ok(w.cmd("ssh-keygen").args(["-q", "-N", "", "-t", "ed25519", "-C", "deploy-bot"]).arg("-f").arg(&key));
    std::fs::copy(key.with_extension("pub"), w.path().join("keys/deploy-bot.pub")).expect("copy");
    let rules = format!(
        "[machines.deploy-bot]\nkeys = [\"keys/deploy-bot.pub\"]\n\n{}",
        SIGNED_PUSH_RULES.replace("staging-ci", "deploy-bot")
    );
    w.policy(&rules);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let out = w
        .git(&work)
        .args(["-c", "gpg.format=ssh", "-c", &format!("user.signingKey={}", key.display())])
        .args(["push", "--signed", "origin", "refs/tags/deploy/1"])
        .stdin(Stdio::null())
        .output()
        .expect("push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(audited(&w, "refs/tags/deploy/1")["push_certificate"]["signer"], "machine deploy-bot");
    let kept = kept_certificate(&w);
    assert!(kept["text"].as_str().is_some_and(|t| t.contains("-----BEGIN SSH SIGNATURE-----")), "{kept}");
}

#[test]
fn a_policy_naming_an_unknown_pusher_or_asking_for_a_signed_push_outside_push_is_refused() {
    let w = World::new();
    let check = |rules: &str| {
        let policy = w.policy(rules);
        let out = w.cmd(bin("git-signed")).args(["policy", "check", "--policy"]).arg(policy).output().expect("check");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check(&SIGNED_PUSH_RULES.replace("staging-ci", "staging"));
    assert!(err.contains(r#"pushers: "staging" is neither a person nor a machine of this policy"#), "{err}");
    let err = check(&format!("{SIGNED_PUSH_RULES}environments = [\"production\"]\n"));
    assert!(err.contains("a signed push is checked by the mirror's hook (environment \"push\")"), "{err}");
    let err = check(&SIGNED_PUSH_RULES.replace(r#"pushers = ["staging-ci"]"#, "push_certificate = false"));
    assert!(err.contains("push_certificate = false asks nothing"), "{err}");
}

// signed.notify (T40)

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A mirror with the standard rules whose notify program is the shell script `body`.
fn with_notify(body: &str, timeout: Option<&str>) -> (World, PathBuf, PathBuf) {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let program = w.write("notify.sh", &format!("#!/bin/sh\n{body}"));
    make_executable(&program);
    let mirror = w.path().join("mirror.git");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    let out = w.install(&[
        "--repo",
        mirror.to_str().expect("utf8"),
        "--policy",
        w.path().join("policy.toml").to_str().expect("utf8"),
        "--audit-log",
        w.path().join("audit.log").to_str().expect("utf8"),
        "--notify",
        program.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if let Some(t) = timeout {
        w.git_ok(&mirror, &["config", "signed.notifyTimeout", t]);
    }
    let work = w.clone_of(&mirror, "work");
    (w, mirror, work)
}

#[test]
fn t40_notify_is_told_of_an_accepted_deploy_tag_and_of_nothing_else() {
    let (w, _mirror, work) = with_notify("cat >> \"$GIT_DIR/told.jsonl\"; echo >> \"$GIT_DIR/told.jsonl\"\n", None);
    let told = |w: &World| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(w.path().join("mirror.git/told.jsonl")).unwrap_or_default();
        text.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).expect("json")).collect()
    };
    // A branch, and a rejected one-person tag: nothing to tell.
    w.commit(&work, "second");
    assert!(w.push(&work, &["origin", "HEAD:refs/heads/main"]).0);
    w.sign_chain(&work, "deploy/2", &["alice"]);
    assert!(!w.push(&work, &["origin", "refs/tags/deploy/2"]).0);
    assert!(told(&w).is_empty());

    // A post-receive hook that was there before fails: git-signed's still runs.
    let earlier = w.write("mirror.git/hooks/post-receive.before-git-signed", "#!/bin/sh\ncat > /dev/null\nexit 1\n");
    make_executable(&earlier);
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1"]);
    assert!(ok, "{err}");
    let told = told(&w);
    assert_eq!(told.len(), 1, "{told:?}");
    let change = &told[0]["changes"][0];
    assert_eq!(change["ref"], "refs/tags/deploy/1");
    assert_eq!(change["verdict"], "accepted");
    assert_eq!(change["signers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(change["new"], w.git_ok(&work, &["rev-parse", "deploy/1"]));
    assert_eq!(told[0]["changes"].as_array().map(Vec::len), Some(1));
    assert!(told[0]["repository"].as_str().is_some_and(|r| r.ends_with("mirror.git")));
    // Nothing is left waiting for a later push.
    assert_eq!(std::fs::read_dir(w.path().join("mirror.git/git-signed/notify")).expect("dir").count(), 0);
}

#[test]
fn t40_a_notify_program_that_hangs_does_not_hold_up_the_push_beyond_its_bound() {
    let marker = format!("gs-notify-hang-{}", std::process::id());
    // It leaves children behind, one holding its output, one in a session of its own, and
    // then hangs itself.
    let body = format!(
        "sh -c 'exec sleep 300' {marker} &\nsetsid -f sh -c 'exec sleep 301' {marker}-2 </dev/null >/dev/null 2>&1\nexec sleep 300 # {marker}\n"
    );
    let (w, mirror, work) = with_notify(&body, Some("1s"));
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let started = Instant::now();
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1"]);
    let took = started.elapsed();
    assert!(ok, "{err}");
    assert!(took < Duration::from_secs(6), "the push took {took:?}");
    assert!(err.contains("did not finish within 1s and was stopped; the push itself is done"), "{err}");
    assert!(mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    let failed = w.audit().into_iter().find(|l| l["event"] == "notify").expect("a notify line in the audit log");
    assert_eq!(failed["result"], "failed");
    assert_eq!(failed["refs"], serde_json::json!(["refs/tags/deploy/1"]));
    let left = Command::new("pgrep").args(["-f", &marker]).output().expect("pgrep");
    assert!(left.stdout.is_empty(), "left running: {}", String::from_utf8_lossy(&left.stdout));
}

#[test]
fn t40_a_notify_program_that_fails_is_reported_and_the_push_stands() {
    let (w, mirror, work) = with_notify("cat > /dev/null\necho 'webhook said 503' >&2\nexit 3\n", None);
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("notify.sh failed (exit status: 3) (its output is in the audit log); the push itself is done"),
        "{err}"
    );
    assert!(!err.contains("webhook said 503"), "its output is not the pusher's to read: {err}");
    assert!(mirror_has(&w, &mirror, "refs/tags/deploy/1"));
    let failed = w.audit().into_iter().find(|l| l["event"] == "notify").expect("a notify line");
    assert_eq!(failed["output"], "webhook said 503", "{failed}");
}
