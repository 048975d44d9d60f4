//! The people's workflow end to end with real gpg keys, real git and the mirror's hook:
//! propose, approve, promote, verify --transition-from, and audit.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::SystemTime;

use sequoia_openpgp::types::HashAlgorithm;
use support::*;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn alice_proposes_bob_approves_staging_promotes_production_deploys() {
    let t = Team::new();
    let alice = t.member("alice");
    let bob = t.member("bob");
    let staging = t.member("staging-ci");

    // deploy/0 is already out there, promoted earlier, and production runs it.
    t.w.sign_chain(&alice, "deploy/0", &["alice", "bob", "staging-ci"]);
    t.w.git_ok(&alice, &["push", "-q", "origin", "deploy/0"]);
    t.w.commit(&alice, "the change to deploy");
    t.w.git_ok(&alice, &["push", "-q", "origin", "HEAD:main"]);

    let out = ok(&t.signed(&alice, &["propose", "deploy/1", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["result"]["signer"], "alice");
    assert!(t.mirror_has("refs/signed/proposed/deploy/1"));
    assert!(!t.mirror_has("refs/tags/deploy/1"));
    assert!(t.clone_as("staging", "s0").iter().all(|tag| tag != "deploy/1"), "a proposal is not a deploy tag");

    let out = t.signed(&bob, &["approve", "deploy/1", "--yes", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    let v = &v["result"];
    assert_eq!(v["approver"], "bob");
    assert_eq!(v["previous"], "deploy/0");
    assert!(v["commits"][0].as_str().is_some_and(|c| c.contains("the change to deploy")), "{v}");
    assert!(t.mirror_has("refs/tags/deploy/1"));
    assert!(!t.mirror_has("refs/signed/proposed/deploy/1"), "the proposal is removed");

    assert!(t.clone_as("staging", "s1").contains(&"deploy/1".to_owned()));
    assert!(!t.clone_as("production", "p1").contains(&"deploy/1".to_owned()), "production waits for staging");

    let out = t.signed(&staging, &["promote", "deploy/1", "--from", "deploy/0", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(v["result"]["machine"], "staging-ci");
    let prod = t.clone_as("production", "p2");
    assert!(prod.contains(&"deploy/1".to_owned()), "{prod:?}");

    let p2 = t.w.path().join("p2");
    let policy = t.w.path().join("policy.toml");
    let verify = |from: &str| {
        t.w.signed(&p2)
            .args(["verify", "deploy/1", "-e", "production", "--transition-from", from, "--policy"])
            .arg(&policy)
            .output()
            .expect("verify")
    };
    ok(&verify("deploy/0"));
    t.w.sign_chain(&p2, "deploy/9", &["alice", "bob"]);
    let out = verify("deploy/9");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tested transition was from deploy/0") && text.contains("not from deploy/9"), "{text}");
}

/// The very first deploy of an environment has no previous tag: staging promotes it with
/// `--initial`, production verifies that, and the next deploy's transition starts from it.
#[test]
fn first_deploy_is_promoted_as_initial_and_the_next_transition_starts_from_it() {
    let t = Team::new();
    let alice = t.member("alice");
    let bob = t.member("bob");
    let staging = t.member("staging-ci");
    let policy = t.w.path().join("policy.toml");
    let deploy = |tag: &str, change: &str| {
        t.w.git_ok(&alice, &["pull", "-q", "origin", "main"]);
        t.w.commit(&alice, change);
        t.w.git_ok(&alice, &["push", "-q", "origin", "HEAD:main"]);
        ok(&t.signed(&alice, &["propose", tag]));
        ok(&t.signed(&bob, &["approve", tag, "--yes"]));
    };
    deploy("deploy/1", "first change");
    let out = t.signed(&staging, &["promote", "deploy/1"]);
    assert_eq!(out.status.code(), Some(2), "--from or --initial is required");
    let err = refused(&t.signed(&staging, &["promote", "deploy/1", "--from", "deploy/0"]));
    assert!(err.contains("use --initial"), "{err}");
    let out = ok(&t.signed(&staging, &["promote", "deploy/1", "--initial"]));
    assert!(out.contains("promoted deploy/1 as the first deploy on staging"), "{out}");
    assert_eq!(t.clone_as("production", "p1"), ["deploy/1"]);
    let p1 = t.w.path().join("p1");
    let verify = |dir: &Path, args: &[&str]| {
        t.w.signed(dir).args(["verify", "-e", "production", "--policy"]).arg(&policy).args(args).output().expect("run")
    };
    ok(&verify(&p1, &["deploy/1", "--initial"]));

    deploy("deploy/2", "second change");
    let out = verify(&p1, &["deploy/1", "--transition-from", "deploy/0"]);
    assert_eq!(out.status.code(), Some(1), "deploy/0 never existed");
    ok(&t.signed(&staging, &["promote", "deploy/2", "--from", "deploy/1"]));
    assert_eq!(t.clone_as("production", "p2"), ["deploy/1", "deploy/2"]);
    let p2 = t.w.path().join("p2");
    ok(&verify(&p2, &["deploy/2", "--transition-from", "deploy/1"]));
    let out = verify(&p2, &["deploy/2", "--initial"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tested transition was from deploy/1") && text.contains("not from the first deploy"),
        "{text}"
    );
}

#[test]
fn alice_cannot_approve_her_own_proposal() {
    let t = Team::new();
    let alice = t.member("alice");
    ok(&t.signed(&alice, &["propose", "deploy/1"]));
    let err = refused(&t.signed(&alice, &["approve", "deploy/1", "--yes"]));
    assert!(err.contains("alice proposed deploy/1 and cannot also approve it"), "{err}");
    assert!(!t.mirror_has("refs/tags/deploy/1"));
    assert!(
        t.w.git(&alice)
            .args(["rev-parse", "-q", "--verify", "refs/tags/deploy/1"])
            .output()
            .is_ok_and(|o| !o.status.success())
    );
}

#[test]
fn unknown_signer_cannot_propose() {
    let t = Team::new();
    let mallory = t.member("mallory");
    let err = refused(&t.signed(&mallory, &["propose", "deploy/1"]));
    assert!(err.contains("would not count") && err.contains("not in the policy"), "{err}");
    assert!(!t.mirror_has("refs/signed/proposed/deploy/1"), "nothing pushed");
}

#[test]
fn propose_refuses_unprotected_names_and_existing_tags() {
    let t = Team::new();
    let alice = t.member("alice");
    let err = refused(&t.signed(&alice, &["propose", "release/1"]));
    assert!(err.contains("not a protected tag name (the policy protects deploy/*);"), "each glob once: {err}");
    t.w.sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    t.w.git_ok(&alice, &["push", "-q", "origin", "deploy/1"]);
    let err = refused(&t.signed(&alice, &["propose", "deploy/1"]));
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn approve_without_a_proposal_is_refused() {
    let t = Team::new();
    let bob = t.member("bob");
    let err = refused(&t.signed(&bob, &["approve", "deploy/7", "--yes"]));
    assert!(err.contains("there is no proposal for deploy/7"), "{err}");
}

#[test]
fn approve_from_a_script_needs_yes() {
    let t = Team::new();
    let alice = t.member("alice");
    let bob = t.member("bob");
    ok(&t.signed(&alice, &["propose", "deploy/1"]));
    let err = refused(&t.signed(&bob, &["approve", "deploy/1"]));
    assert!(err.contains("--yes"), "{err}");
    assert!(!t.mirror_has("refs/tags/deploy/1"));
}

#[test]
fn promote_by_a_key_that_is_not_the_machine_is_refused() {
    let t = Team::new();
    let alice = t.member("alice");
    let bob = t.member("bob");
    t.w.sign_chain(&alice, "deploy/0", &["alice", "bob"]);
    t.w.sign_chain(&alice, "deploy/1", &["alice", "bob"]);
    t.w.git_ok(&alice, &["push", "-q", "origin", "deploy/0", "deploy/1"]);
    let before = t.w.git_ok(&t.mirror, &["rev-parse", "deploy/1"]);
    let err = refused(&t.signed(&bob, &["promote", "deploy/1", "--from", "deploy/0"]));
    assert!(err.contains("must be promoted by machine staging-ci, but this key belongs to bob"), "{err}");
    assert_eq!(t.w.git_ok(&t.mirror, &["rev-parse", "deploy/1"]), before);
}

#[test]
fn audit_reports_expiry_inactivity_and_sponsors() {
    let w = World::new();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 200 * DAY, None);
    w.write("keys/carol-sq.asc", &carol.public());
    let soon = today_utc().checked_add(jiff::Span::new().days(10)).expect("date");
    let long_ago = today_utc().checked_sub(jiff::Span::new().days(100)).expect("date");
    let recently = today_utc().checked_sub(jiff::Span::new().days(10)).expect("date");
    let people = standard_people()
        .replace(r#"keys = ["keys/carol.asc"]"#, &format!("keys = [\"keys/carol-sq.asc\"]\ngranted = {long_ago}"))
        .replace(
            "sponsor = \"bob\"\n\n[people.bob]",
            &format!("sponsor = \"carol\"\nexpires = {soon}\ngranted = {recently}\n\n[people.bob]"),
        )
        .replace("access = \"admin\"", &format!("access = \"admin\"\ngranted = {recently}"));
    w.write("policy.toml", &format!("inactivity = \"6w\"\n{people}{DEPLOY_RULES}"));
    let repo = w.repo("work");
    // Fifty days ago carol and bob deployed; alice deployed with bob today.
    w.sign_sq(&repo, &carol, "deploy/1", "HEAD", now - 50 * DAY, HashAlgorithm::SHA256);
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    w.sign_chain(&repo, "deploy/2", &["alice", "bob"]);

    let policy = w.path().join("policy.toml");
    let out = w.signed(&repo).args(["audit", "--format", "json", "--policy"]).arg(&policy).output().expect("audit");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let person = |name: &str| {
        v["result"]["people"].as_array().expect("people").iter().find(|p| p["name"] == name).expect("person").clone()
    };
    let findings = |name: &str| person(name)["findings"].to_string();
    assert!(findings("carol").contains("access lapsed by inactivity"), "{}", findings("carol"));
    assert!(
        findings("alice").contains("expires on") && findings("alice").contains("within 30 days"),
        "{}",
        findings("alice")
    );
    assert!(findings("alice").contains("sponsor carol is not an admin"), "{}", findings("alice"));
    assert_eq!(person("bob")["findings"], serde_json::json!([]));
    assert!(person("alice")["last_signature"].is_string());

    // The verifier stops counting carol's new signatures until an admin renews her access.
    w.sign_chain(&repo, "deploy/3", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/3", "deploy/3", SystemTime::now(), HashAlgorithm::SHA256);
    let (code, out, _) = w.verify(&repo, "deploy/3", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("carol's access lapsed"), "{out}");
    let clone_tags = |name: &str| {
        let out = w
            .git(w.path())
            .env("GIT_SIGNED_POLICY", &policy)
            .env("GIT_SIGNED_ENVIRONMENT", "staging")
            .args(["clone", "-q", &format!("signed::{}", repo.display()), name])
            .output()
            .expect("clone");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        w.git_ok(&w.path().join(name), &["tag"])
    };
    assert!(!clone_tags("lapsed").contains("deploy/3"), "the helper gives the same verdict as the CLI");
    let today = today_utc();
    let renewed = std::fs::read_to_string(&policy).expect("policy").replacen(
        &format!("granted = {long_ago}"),
        &format!("granted = {today}"),
        1,
    );
    std::fs::write(&policy, renewed).expect("write");
    let (code, out, _) = w.verify(&repo, "deploy/3", &[]);
    assert_eq!(code, 0, "renewed access counts again: {out}");
    assert!(clone_tags("renewed").contains("deploy/3"));
}

#[test]
fn workflow_commands_have_help_with_examples() {
    let w = World::new();
    for cmd in ["propose", "approve", "promote", "audit", "verify"] {
        let out = w.signed(w.path()).args([cmd, "--help"]).output().expect("help");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Example"), "{cmd}");
    }
}
