//! The policy kept in the repository (issue "the policy lives in the repository"): a mirror
//! installed with `install.sh --root`, its policy on `refs/signed/policy` as commits signed
//! with `git commit -S` by real gpg keys, changed only by its admins (T31).

mod support;

use std::path::{Path, PathBuf};

use support::*;

/// alice and bob are admins (two sign a change); carol has deploy access.
fn founding() -> String {
    r#"version = 1
admins = 2
environments = ["ci", "staging", "production"]

[people.alice]
keys = ["keys/alice.asc"]
access = "admin"

[people.bob]
keys = ["keys/bob.asc"]
access = "admin"

[people.carol]
keys = ["keys/carol.asc"]
access = "deploy"
sponsor = "bob"

[machines.staging-ci]
keys = ["keys/staging-ci.asc"]

[[rule]]
tags = ["deploy/*"]
people = 2
"#
    .to_owned()
}

/// The admins' repository: its `main` is the policy history.
struct Admin {
    w: World,
    dir: PathBuf,
    mirror: PathBuf,
}

impl Admin {
    /// The founding commit (signed by alice), and a mirror installed with `--root` it.
    fn new() -> (Admin, String) {
        Admin::new_with(&founding(), &[])
    }

    /// [`Admin::new`] with another founding `policy`, and more key files (name, armored text).
    fn new_with(policy: &str, extra_keys: &[(&str, &str)]) -> (Admin, String) {
        let w = World::new();
        run_ok(w.git(w.path()).args(["init", "-q", "admin"]));
        let dir = w.path().join("admin");
        std::fs::create_dir(dir.join("keys")).expect("keys");
        for name in ["alice", "bob", "carol", "staging-ci"] {
            std::fs::copy(w.path().join(format!("keys/{name}.asc")), dir.join(format!("keys/{name}.asc")))
                .expect("key");
        }
        for (name, text) in extra_keys {
            std::fs::write(dir.join(format!("keys/{name}.asc")), text).expect("key");
        }
        run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
        let mirror = w.path().join("mirror.git");
        let admin = Admin { w, dir, mirror };
        let root = admin.change(policy, "alice");
        let out = admin.w.install(&["--repo", admin.mirror.to_str().expect("utf8"), "--root", &root]);
        assert!(out.status.success(), "install.sh --root: {}", String::from_utf8_lossy(&out.stderr));
        (admin, root)
    }

    /// Commit `policy` signed by `signer` (`git commit -S`; `--allow-empty` approves what is
    /// there); returns the commit id.
    fn change(&self, policy: &str, signer: &str) -> String {
        let key = keys().get(signer);
        let (fpr, name, email) = (
            format!("user.signingKey={}", key.fingerprint),
            format!("user.name={}", key.name),
            format!("user.email={}", key.email),
        );
        self.change_with(policy, &["-c", &fpr, "-c", &name, "-c", &email])
    }

    /// Commit `policy` with `git commit -S` and these `-c` settings (the signing key, or
    /// another `gpg.program`).
    fn change_with(&self, policy: &str, config: &[&str]) -> String {
        std::fs::write(self.dir.join("policy.toml"), policy).expect("policy");
        self.w.git_ok(&self.dir, &["add", "policy.toml", "keys"]);
        let mut args: Vec<&str> = config.to_vec();
        args.extend(["commit", "-q", "-S", "--allow-empty", "-m", "policy change"]);
        self.w.git_ok(&self.dir, &args);
        self.w.git_ok(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Push `what` (a refspec) to the mirror: (accepted, stderr).
    fn push(&self, what: &str) -> (bool, String) {
        self.w.push(&self.dir, &[self.mirror.to_str().expect("utf8"), what])
    }
}

/// A deploy tag on a new commit signed by `signers`, pushed from a clone of the mirror.
fn push_deploy(a: &Admin, work: &Path, tag: &str, signers: &[&str]) -> (bool, String) {
    a.w.commit(work, tag);
    a.w.sign_chain(work, tag, signers);
    a.w.push(work, &["origin", &format!("refs/tags/{tag}")])
}

#[test]
fn t31_the_policy_in_the_repository_changes_only_with_its_admins_signatures() {
    let (a, root) = Admin::new();
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "founding: {err}");
    let work = a.w.clone_of(&a.mirror, "work");
    let (ok, err) = push_deploy(&a, &work, "deploy/1", &["alice", "bob"]);
    assert!(ok, "two people, as the founding policy asks: {err}");

    // A change one admin signed is not in force, and cannot be pushed as the policy.
    let stricter = founding().replace("people = 2\n", "people = 3\n");
    a.change(&stricter, "alice");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("signed by 1 of the 2 admins it needs (alice)"), "{err}");
    // bob approves: in force from the next push.
    a.change(&stricter, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok && err.contains("signed by alice, bob"), "{err}");
    let (ok, err) = push_deploy(&a, &work, "deploy/2", &["alice", "bob"]);
    assert!(!ok && err.contains("needs 3 people"), "the stricter rule is in force: {err}");

    // A deploy-access person cannot change it, even with an admin's approval after.
    let loose = founding().replace("people = 2\n", "people = 1\n");
    a.change(&loose, "carol");
    a.change(&loose, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("is signed by carol, who is not an admin"), "{err}");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", "HEAD~2"]);

    // Rewinding to the founding policy, deleting it, or blocking its name: refused.
    let (ok, err) = a.push(&format!("+{root}:refs/signed/policy"));
    assert!(!ok && err.contains("the policy history only moves forward"), "{err}");
    let (ok, err) = a.push(":refs/signed/policy");
    assert!(!ok && err.contains("cannot be deleted"), "{err}");
    let (ok, err) = a.push(&format!("{root}:refs/signed/policy/old"));
    assert!(!ok && err.contains("refs/signed/policy"), "{err}");
    let (ok, err) = push_deploy(&a, &work, "deploy/3", &["alice", "bob", "carol"]);
    assert!(ok, "still the approved policy: {err}");
}

#[test]
fn t31_a_change_that_breaks_the_access_rules_is_refused_naming_the_line() {
    let (a, _) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    // carol made an admin, sponsored by herself: only admins sponsor admins.
    let raised =
        founding().replace("access = \"deploy\"\nsponsor = \"bob\"", "access = \"admin\"\nsponsor = \"carol\"");
    a.change(&raised, "alice");
    a.change(&raised, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(
        !ok && err.contains("makes an admin of carol (policy.toml:") && err.contains("only admins sponsor admins"),
        "{err}"
    );
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", "HEAD~2"]);
    let no_admins = founding().replace("admins = 2", "admins = 0");
    a.change(&no_admins, "alice");
    a.change(&no_admins, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("policy.toml:2:") && err.contains("admins must be at least 1"), "{err}");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", "HEAD~2"]);
    let unsponsored = format!(
        "{}\n[people.mallory]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\n",
        founding().replace("[people.carol]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n", "")
    );
    a.change(&unsponsored, "alice");
    a.change(&unsponsored, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("adds mallory (policy.toml:") && err.contains("without a sponsor"), "{err}");
}

/// A `signed::` clone configured with only `signed.environment` and `signed.root` (two single
/// tokens, as Concourse's `git_config` sets them) takes its policy from the mirror's
/// `refs/signed/policy`, follows approved changes (a person revoked: their tags are hidden at
/// the next fetch), and refuses what a compromised mirror serves instead: a change signed by
/// someone who is not an admin, a rewound history. The policy trusted before stays in force.
#[test]
fn t32_a_clone_pinned_by_root_follows_the_policy_and_refuses_a_bad_history() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/1", &["alice", "bob"]).0);
    assert!(push_deploy(&a, &work, "deploy/2", &["alice", "carol"]).0, "carol may deploy");
    for (key, value) in [("signed.environment", "production"), ("signed.root", root.as_str())] {
        a.w.git_ok(a.w.path(), &["config", "--global", key, value]);
    }
    let url = format!("signed::{}", a.mirror.display());
    let out = a.w.git(a.w.path()).args(["clone", "-q", &url, "prod"]).output().expect("clone");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let prod = a.w.path().join("prod");
    let tags = || a.w.git_ok(&prod, &["tag", "--list"]);
    assert_eq!(tags(), "deploy/1\ndeploy/2");

    // carol is revoked by both admins: her tag is hidden at the next fetch.
    let without_carol =
        founding().replace("[people.carol]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n", "");
    a.change(&without_carol, "alice");
    let revoked = a.change(&without_carol, "bob");
    assert!(a.push("main:refs/signed/policy").0);
    let fetch = || {
        let out = a.w.git(&prod).args(["fetch", "--prune", "--prune-tags", "origin"]).output().expect("fetch");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fetch();
    assert_eq!(tags(), "deploy/1", "{err}");

    // A compromised mirror (written without its hook) serves carol back, signed by carol.
    a.change(&founding(), "carol");
    let bypass = |what: &str| {
        let dir = a.dir.to_str().expect("utf8");
        a.w.git_ok(&a.mirror, &["fetch", "-q", dir, &format!("+{what}:refs/signed/policy")]);
    };
    bypass("main");
    let err = fetch();
    // (carol's key left the policy with her: the signature is by a key the policy lacks.)
    assert!(err.contains("refusing the mirror's refs/signed/policy: policy commit"), "{err}");
    assert!(err.contains("which is not in the policy") && err.contains("stays in force"), "{err}");
    assert_eq!(tags(), "deploy/1", "the revocation stays in force");

    // Or rewinds the policy to before the revocation.
    bypass(&root);
    let err = fetch();
    assert!(err.contains("does not descend from") && err.contains("rewound or rewrote it"), "{err}");
    assert_eq!(tags(), "deploy/1", "the revocation stays in force");
    let policy_before = a.w.git_ok(&a.mirror, &["rev-parse", "refs/signed/policy"]);
    assert_eq!(policy_before, root);
    assert_ne!(revoked, root);
}

/// Concourse git-resource's check and in, replayed against `signed::` with `source.git_config`
/// carrying only `signed.environment` and `signed.root`.
#[test]
fn concourse_check_and_in_need_only_the_environment_and_the_root() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/1", &["alice", "bob"]).0);
    assert!(push_deploy(&a, &work, "deploy/2", &["alice", "carol"]).0);
    for (key, value) in [("signed.environment", "staging"), ("signed.root", root.as_str())] {
        a.w.git_ok(a.w.path(), &["config", "--global", key, value]);
    }
    let url = format!("signed::{}", a.mirror.display());
    // check
    let cache = a.w.path().join("git-resource-repo-cache");
    let mut clone = a.w.git(a.w.path());
    clone.args(["clone", "--bare", "--filter=tree:0", "--progress", &url]).arg(&cache).arg("--tags");
    run_ok(&mut clone);
    let versions = a.w.git_ok(&cache, &["tag", "--sort=creatordate", "--list", "deploy/*"]);
    assert_eq!(versions, "deploy/1\ndeploy/2");
    // in
    let dest = a.w.path().join("in");
    let mut clone = a.w.git(a.w.path());
    clone.args(["clone", "--single-branch", "--depth", "1", &url, "--branch", "main"]).arg(&dest).arg("--tags");
    run_ok(&mut clone);
    run_ok(a.w.git(&dest).args(["fetch", "--deepen", "8", "origin", "--tags"]));
    run_ok(a.w.git(&dest).args(["checkout", "-f", "-q", "deploy/1"]));
    assert_eq!(a.w.git_ok(&dest, &["rev-parse", "HEAD"]), a.w.git_ok(&work, &["rev-parse", "deploy/1^{}"]));
}

/// `git signed` in a clone pinned by `signed.root` reads the policy in force on its
/// `refs/signed/policy` (saying how to fetch it when it is missing), follows approved changes,
/// and keeps the policy it trusted when the ref is rewound (T32).
#[test]
fn t32_the_cli_reads_the_policy_pinned_by_root() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/2", &["alice", "carol"]).0);
    a.w.git_ok(&work, &["config", "signed.root", &root]);
    let verify = || {
        let out = a.w.git(&work).args(["signed", "verify", "deploy/2", "-e", "staging"]).output().expect("verify");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, said) = verify();
    assert_eq!(code, Some(2), "cannot answer: {said}");
    assert!(said.contains("git fetch origin +refs/signed/policy:refs/signed/policy"), "{said}");
    let fetch = || a.w.git_ok(&work, &["fetch", "-q", "origin", "+refs/signed/policy:refs/signed/policy"]);
    fetch();
    let (code, said) = verify();
    assert_eq!(code, Some(0), "{said}");

    let without_carol =
        founding().replace("[people.carol]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n", "");
    a.change(&without_carol, "alice");
    a.change(&without_carol, "bob");
    assert!(a.push("main:refs/signed/policy").0);
    fetch();
    let (code, said) = verify();
    assert_eq!(code, Some(1), "carol's layer no longer counts: {said}");

    // Rewound in the clone itself: the policy it trusted last stays in force.
    a.w.git_ok(&work, &["update-ref", "refs/signed/policy", &root]);
    let (code, said) = verify();
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("warning: refusing refs/signed/policy") && said.contains("rewound or rewrote it"), "{said}");
}

/// `git signed policy log` tells who changed what and when, signed by whom, from the pinned
/// root; `policy show --at` the policy in force at a commit; a commit that is not valid ends
/// the history, named, and the answer is no (exit 1).
#[test]
fn policy_log_and_show_tell_who_changed_what() {
    let (a, root) = Admin::new();
    a.w.git_ok(&a.dir, &["config", "signed.root", &root]);
    let stricter = founding().replace("people = 2\n", "people = 3\n");
    a.change(&stricter, "alice");
    let in_force = a.change(&stricter, "bob");
    let without_carol =
        founding().replace("[people.carol]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n", "");
    a.change(&without_carol, "alice");
    let signed = |args: &[&str]| {
        let out = a.w.git(&a.dir).arg("signed").args(args).output().expect("git signed");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, text, err) = signed(&["policy", "log", "main"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("-: founds the policy (the pinned signed.root)"), "{text}");
    assert!(lines[1].contains("alice: signs a change: 1 of the 2 admins it needs"), "{text}");
    assert!(lines[2].contains("bob: in force, signed by alice, bob: changes the rules"), "{text}");
    assert!(lines[3].contains("alice: signs a change: 1 of the 2 admins it needs"), "{text}");
    assert!(text.contains("waiting: the change in policy commit"), "{text}");

    let (code, json, err) = signed(&["policy", "log", "main", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let steps: Vec<&str> =
        v["result"]["entries"].as_array().expect("entries").iter().map(|e| e["step"].as_str().expect("step")).collect();
    assert_eq!(steps, ["founded", "waiting", "in_force", "waiting"]);
    assert_eq!(v["result"]["in_force"], in_force);
    assert_eq!(v["result"]["signed_by"], serde_json::json!(["alice", "bob"]));
    assert_eq!(v["result"]["waiting"]["needed"], 2);

    let (code, text, err) = signed(&["policy", "show", "--at", &root]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.contains("the pinned signed.root") && text.contains("rule 1 (deploy/*: 2 people)"), "{text}");
    let (code, text, _) = signed(&["policy", "show", "--at", "main"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("signed by alice, bob") && text.contains("rule 1 (deploy/*: 3 people)"), "{text}");

    // carol (deploy access) signs on top: the history is refused from there.
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &in_force]);
    let bad = a.change(&founding(), "carol");
    let (code, text, _) = signed(&["policy", "log", "main"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("REFUSED from {}", &bad[..12])) && text.contains("carol, who is not an admin"),
        "{text}"
    );
    assert!(text.contains(&format!("The policy of {} stays in force", &in_force[..12])), "{text}");
}

/// The people's commands for the policy kept in the repository, with real gpg: alice founds
/// it (`policy init`), the mirror is pinned to it, alice proposes a change, bob approves it and
/// it is in force; alice cannot approve her own change.
#[test]
fn policy_init_propose_approve_change_the_policy_with_two_admins() {
    let w = World::new();
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    let mirror = w.path().join("mirror.git");
    let admin = |name: &str| {
        let dir = w.clone_of(&mirror, name);
        let key = keys().get(name);
        for (k, v) in
            [("user.signingKey", key.fingerprint.as_str()), ("user.name", &key.name), ("user.email", &key.email)]
        {
            w.git_ok(&dir, &["config", k, v]);
        }
        std::fs::create_dir_all(dir.join("keys")).expect("keys");
        for who in ["alice", "bob", "carol", "staging-ci"] {
            std::fs::copy(w.path().join(format!("keys/{who}.asc")), dir.join(format!("keys/{who}.asc"))).expect("key");
        }
        dir
    };
    let alice = admin("alice");
    let signed = |dir: &Path, args: &[&str]| {
        let out = w.git(dir).arg("signed").args(args).output().expect("git signed");
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), said)
    };
    std::fs::write(alice.join("policy.toml"), founding()).expect("policy");
    let out = w.git(&alice).args(["signed", "policy", "init", "--format", "json"]).output().expect("init");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let root = v["result"]["commit"].as_str().expect("commit").to_owned();
    assert_eq!(v["result"]["step"], "founded");
    let out = w.install(&["--repo", mirror.to_str().expect("utf8"), "--root", &root]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (pushed, err) = w.push(&alice, &["origin", "refs/signed/policy"]);
    assert!(pushed, "{err}");

    // alice proposes a stricter rule: waiting for a second admin.
    let bob = admin("bob");
    for dir in [&alice, &bob] {
        w.git_ok(dir, &["config", "signed.root", &root]);
    }
    std::fs::write(alice.join("policy.toml"), founding().replace("people = 2\n", "people = 3\n")).expect("policy");
    let (code, said) = signed(&alice, &["policy", "propose", "-m", "three people for a deploy"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("signed by alice, waiting on refs/signed/proposed/policy: 1 of the 2 admins"), "{said}");
    let (code, said) = signed(&alice, &["policy", "approve", "--yes"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("alice signed this change already"), "{said}");

    // bob approves: in force.
    let (code, said) = signed(&bob, &["policy", "approve", "--yes"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("the waiting policy change") && said.contains("changes the rules"), "{said}");
    assert!(said.contains("is in force on refs/signed/policy, signed by alice, bob"), "{said}");
    assert!(
        w.git(&mirror)
            .args(["rev-parse", "-q", "--verify", "refs/signed/proposed/policy"])
            .output()
            .is_ok_and(|o| !o.status.success())
    );
    let (code, said) = signed(&bob, &["policy", "log"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("bob: in force, signed by alice, bob: changes the rules"), "{said}");
    // Nothing changed: nothing to propose.
    let (code, said) = signed(&alice, &["policy", "propose"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("is the policy in force already"), "{said}");
}

/// Rotating an admin's key is a policy change the admins sign with the keys in force; from the
/// next change on, only the new key signs for that admin, in the hook and in the history.
#[test]
fn t31_rotating_an_admin_key_is_a_change_signed_with_the_keys_in_force() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    std::fs::copy(a.w.path().join("keys/alice2.asc"), a.dir.join("keys/alice2.asc")).expect("key");
    let rotated = founding().replace("keys = [\"keys/alice.asc\"]", "keys = [\"keys/alice2.asc\"]");
    a.change(&rotated, "alice");
    a.change(&rotated, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "signed with the keys in force before the change: {err}");

    let stricter = rotated.replace("people = 2\n", "people = 3\n");
    a.change(&stricter, "alice");
    a.change(&stricter, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("which is not in the policy"), "the old key signs nothing now: {err}");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", "HEAD~2"]);
    a.change(&stricter, "alice2");
    a.change(&stricter, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "the new key signs for alice: {err}");

    a.w.git_ok(&a.dir, &["config", "signed.root", &root]);
    let log = a.w.git_ok(&a.dir, &["signed", "policy", "log", "main"]);
    assert!(log.contains("bob: in force, signed by alice, bob: changes alice's keys"), "{log}");
    let work = a.w.clone_of(&a.mirror, "work");
    let (ok, err) = push_deploy(&a, &work, "deploy/1", &["alice2", "bob", "carol"]);
    assert!(ok, "alice's new key counts for her: {err}");
}

/// `audit` with the policy kept in the repository says when and by whom each person's access
/// was granted, from the history (not from a field anyone could type).
#[test]
fn audit_reads_who_granted_access_from_the_policy_history() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    std::fs::copy(a.w.path().join("keys/mallory.asc"), a.dir.join("keys/mallory.asc")).expect("key");
    let with_mallory = format!(
        "{}\n[people.mallory]\nkeys = [\"keys/mallory.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n",
        founding()
    );
    a.change(&with_mallory, "alice");
    let granted = a.change(&with_mallory, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "{err}");
    let work = a.w.clone_of(&a.mirror, "work");
    a.w.git_ok(&work, &["fetch", "-q", "origin", "+refs/signed/policy:refs/signed/policy"]);
    a.w.git_ok(&work, &["config", "signed.root", &root]);
    let out = a.w.git(&work).args(["signed", "audit", "--format", "json"]).output().expect("audit");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let person = |name: &str| {
        v["result"]["people"].as_array().expect("people").iter().find(|p| p["name"] == name).cloned().expect(name)
    };
    assert_eq!(person("mallory")["granted_in"]["commit"], granted);
    assert_eq!(person("mallory")["granted_in"]["signed_by"], serde_json::json!(["alice", "bob"]));
    assert_eq!(person("carol")["granted_in"]["commit"], root, "in the policy from its founding");
    let text = a.w.git(&work).args(["signed", "audit"]).output().expect("audit");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("access granted") && text.contains("signed by alice, bob"), "{text}");
}

/// T32, case by case: what a compromised mirror (written without its hook) serves a clone
/// pinned by `signed.root` on top of the approved policy. A change only one admin signed waits
/// (not in force, nothing to warn about); a change signed by a deploy-access person or by an
/// outsider, and a rewritten history, are refused with a warning. In every case the approved
/// policy stays in force: deploy/1 (two people) stays listed although each change would ask
/// for three.
#[test]
fn t32_a_compromised_mirror_cannot_change_a_pinned_clones_policy() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let approved = a.w.git_ok(&a.dir, &["rev-parse", "HEAD"]);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/1", &["alice", "bob"]).0);
    for (key, value) in [("signed.environment", "production"), ("signed.root", root.as_str())] {
        a.w.git_ok(a.w.path(), &["config", "--global", key, value]);
    }
    let url = format!("signed::{}", a.mirror.display());
    run_ok(a.w.git(a.w.path()).args(["clone", "-q", &url, "prod"]));
    let prod = a.w.path().join("prod");
    std::fs::copy(a.w.path().join("keys/mallory.asc"), a.dir.join("keys/mallory.asc")).expect("key");
    let stricter = founding().replace("people = 2\n", "people = 3\n");
    // The mirror serves the approved policy with a change by `signers` on top (nothing new
    // when there are none); what the clone lists then, and what it said.
    let serve = |signers: &[&str]| {
        if !signers.is_empty() {
            a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &approved]);
            for signer in signers {
                a.change(&stricter, signer);
            }
            let dir = a.dir.to_str().expect("utf8");
            a.w.git_ok(&a.mirror, &["fetch", "-q", dir, "+main:refs/signed/policy"]);
        }
        let out = a.w.git(&prod).args(["ls-remote", "origin", "refs/tags/deploy/*"]).output().expect("ls-remote");
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        (listed.contains("refs/tags/deploy/1\n"), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (listed, err) = serve(&["alice"]);
    assert!(listed && !err.contains("refusing"), "one admin: waiting, not in force: {err}");
    let (listed, err) = serve(&["carol", "bob"]);
    assert!(listed && err.contains("carol, who is not an admin"), "deploy access: {err}");
    let (listed, err) = serve(&["mallory", "bob"]);
    assert!(listed && err.contains("which is not in the policy"), "an outsider: {err}");
    // alice's key file swapped for mallory's, signed by carol.
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &approved]);
    std::fs::copy(a.w.path().join("keys/mallory.asc"), a.dir.join("keys/alice.asc")).expect("swap");
    a.change(&founding(), "carol");
    a.w.git_ok(&a.mirror, &["fetch", "-q", a.dir.to_str().expect("utf8"), "+main:refs/signed/policy"]);
    let (listed, err) = serve(&[]);
    assert!(listed && err.contains("carol, who is not an admin"), "a key swap: {err}");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &approved]);
    // A history that does not build on the one trusted: an approved change the clone has
    // seen, then rewritten.
    let dir = a.dir.to_str().expect("utf8");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &approved]);
    a.w.git_ok(&a.mirror, &["fetch", "-q", dir, "+main:refs/signed/policy"]);
    let edited = founding().replace("version = 1", "version = 1 # edited");
    a.change(&edited, "alice");
    a.change(&edited, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "{err}");
    let (listed, err) = serve(&[]);
    assert!(listed && !err.contains("refusing"), "the approved change is followed: {err}");
    a.w.git_ok(&a.dir, &["reset", "-q", "--hard", &root]);
    let rewritten = founding().replace("version = 1", "version = 1 # rewritten");
    a.change(&rewritten, "alice");
    a.change(&rewritten, "bob");
    a.w.git_ok(&a.mirror, &["fetch", "-q", dir, "+main:refs/signed/policy"]);
    let out = a.w.git(&prod).args(["ls-remote", "origin"]).output().expect("ls-remote");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/tags/deploy/1\n"), "{err}");
    assert!(err.contains("rewound or rewrote it"), "a rewritten history: {err}");
}

/// The hook refuses a policy change signed by an outsider, by an admin the policy in force has
/// removed, and a commit that swaps a key file without admin signatures (T31).
#[test]
fn t31_outsiders_removed_admins_and_key_swaps_cannot_change_the_policy() {
    let (a, _) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let stricter = founding().replace("people = 2\n", "people = 3\n");
    let reset = |to: &str| a.w.git_ok(&a.dir, &["reset", "-q", "--hard", to]);
    let approved = a.w.git_ok(&a.dir, &["rev-parse", "HEAD"]);

    a.change(&stricter, "mallory");
    a.change(&stricter, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("which is not in the policy"), "an outsider: {err}");
    reset(&approved);

    // alice's key file swapped for mallory's, signed by carol (deploy access).
    std::fs::copy(a.w.path().join("keys/mallory.asc"), a.dir.join("keys/alice.asc")).expect("swap");
    a.change(&founding(), "carol");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("carol, who is not an admin"), "a key swap: {err}");
    reset(&approved);

    // bob removed (one admin signs from then on), then bob signs a change: refused.
    let without_bob = founding()
        .replace("admins = 2", "admins = 1")
        .replace("[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n", "")
        .replace("sponsor = \"bob\"", "sponsor = \"alice\"");
    a.change(&without_bob, "alice");
    a.change(&without_bob, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "{err}");
    a.change(&without_bob.replace("people = 2\n", "people = 1\n"), "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("which is not in the policy"), "a removed admin: {err}");
}

/// A key in its own gpg home, made at `made` (gpg's `--faked-system-time` form): an admin whose
/// key is older than the test's. Its gpg-agent is stopped when it is dropped, however the test
/// ends.
struct OldKey {
    w: World,
    home: PathBuf,
    fpr: String,
    public: String,
}

impl OldKey {
    fn new(name: &str, made: &str) -> OldKey {
        let w = World::new();
        let home = w.path().join("gnupg-old");
        std::fs::create_dir(&home).expect("home");
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let gpg = |args: &[&str]| {
            let mut c = std::process::Command::new("gpg");
            c.args(["--homedir", home.to_str().expect("utf8"), "--batch", "--quiet", "--passphrase", ""]);
            run_ok(c.args(["--pinentry-mode", "loopback"]).args(args))
        };
        let uid = format!("{name} <{name}@example.org>");
        gpg(&["--faked-system-time", made, "--quick-gen-key", &uid, "ed25519", "sign", "never"]);
        let listing = String::from_utf8(gpg(&["--with-colons", "--list-keys", &uid]).stdout).expect("utf8");
        let fpr = listing.lines().find(|l| l.starts_with("fpr:")).and_then(|l| l.split(':').nth(9));
        let fpr = fpr.expect("fpr").to_owned();
        let public = String::from_utf8(gpg(&["--armor", "--export", &fpr]).stdout).expect("utf8");
        OldKey { w, home, fpr, public }
    }

    /// The `-c` settings for `git commit -S` signing with it, gpg's clock set to `at`.
    fn signing_at(&self, at: &str) -> Vec<String> {
        let home = format!("--homedir {} --batch --passphrase '' --pinentry-mode loopback", self.home.display());
        let program = gpg_wrapper(&self.w, &format!("gpg-at-{at}"), &format!("{home} --faked-system-time {at}"));
        vec![
            "-c".into(),
            format!("user.signingKey={}", self.fpr),
            "-c".into(),
            format!("gpg.program={}", program.display()),
        ]
    }
}

impl Drop for OldKey {
    fn drop(&mut self) {
        let home = self.home.to_string_lossy().into_owned();
        let _ = std::process::Command::new("gpgconf").args(["--homedir", &home, "--kill", "all"]).status();
    }
}

/// gpg's `--faked-system-time` for `hours` ago.
fn hours_ago(hours: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours)).strftime("%Y%m%dT%H%M%S").to_string()
}

/// An executable wrapper around gpg with `args` first (another clock, another signature
/// expiry), for `git -c gpg.program=…`.
fn gpg_wrapper(w: &World, name: &str, args: &str) -> PathBuf {
    let path = w.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\nexec gpg {args} \"$@\"\n")).expect("wrapper");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    path
}

/// T33: an admin whose access has ended cannot change the policy with a signature dated back
/// to when it was valid: what a push adds must be signed now, by admins valid now.
#[test]
fn t33_an_admin_whose_access_ended_cannot_backdate_a_policy_change() {
    // dave: an admin key made in 2024, access ended 2025-01-01.
    let dave = OldKey::new("dave", "20240101T000000");
    let policy = founding().replace("admins = 2", "admins = 1")
        + "\n[people.dave]\nkeys = [\"keys/dave.asc\"]\naccess = \"admin\"\nexpires = 2025-01-01\n";
    let (a, _) = Admin::new_with(&policy, &[("dave", &dave.public)]);
    assert!(a.push("main:refs/signed/policy").0);
    // dave drops his own expiry, signing as of June 2024.
    let takeover = policy.replace("expires = 2025-01-01\n", "");
    let backdated = dave.signing_at("20240601T000000");
    a.change_with(&takeover, &backdated.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok, "a back-dated change is refused: {err}");
    assert!(err.contains("dave"), "{err}");
}

/// T33: a signature in the policy history that expires after it was accepted (or a key
/// algorithm the standard policy stops accepting later) does not undo the history: a fresh
/// verifier still sees the revocation it made, and the admins can still change the policy.
#[test]
fn t33_a_signature_that_expires_later_does_not_undo_the_policy_history() {
    let (a, root) = Admin::new();
    assert!(a.push("main:refs/signed/policy").0);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/2", &["alice", "carol"]).0);
    let expiring = gpg_wrapper(&a.w, "gpg-expiring", "--default-sig-expire seconds=3");
    let without_carol =
        founding().replace("[people.carol]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n", "");
    a.change(&without_carol, "alice");
    let bob = format!("user.signingKey={}", keys().get("bob").fingerprint);
    let program = format!("gpg.program={}", expiring.display());
    a.change_with(&without_carol, &["-c", &bob, "-c", &program]);
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "{err}");
    std::thread::sleep(std::time::Duration::from_secs(5));

    // A verifier with nothing remembered still follows the history to the revocation.
    for (key, value) in [("signed.environment", "staging"), ("signed.root", root.as_str())] {
        a.w.git_ok(a.w.path(), &["config", "--global", key, value]);
    }
    let url = format!("signed::{}", a.mirror.display());
    let out = a.w.git(a.w.path()).args(["clone", "-q", &url, "later"]).output().expect("clone");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("refusing"), "{err}");
    assert_eq!(a.w.git_ok(&a.w.path().join("later"), &["tag", "--list"]), "", "deploy/2 stays hidden");
    // And the admins can still change the policy; pushes still work.
    let qa = without_carol.replace("\"production\"]", "\"production\", \"qa\"]");
    a.change(&qa, "alice");
    a.change(&qa, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "{err}");
    let _ = std::fs::remove_dir_all(a.mirror.join("git-signed"));
    let (ok, err) = push_deploy(&a, &work, "deploy/3", &["alice", "bob"]);
    assert!(ok, "{err}");
}

/// A change waiting on refs/signed/proposed/policy was judged fresh when it was pushed there;
/// an approval days later completes it (only the approval is judged now).
#[test]
fn t33_an_approval_days_after_the_proposal_completes_it() {
    // erin, an admin whose key was made a month ago, signs with her clock ten days back.
    let erin_key = OldKey::new("erin", &hours_ago(24 * 30));
    let policy = founding() + "\n[people.erin]\nkeys = [\"keys/erin.asc\"]\naccess = \"admin\"\n";
    let (a, _) = Admin::new_with(&policy, &[("erin", &erin_key.public)]);
    assert!(a.push("main:refs/signed/policy").0);
    let erin = erin_key.signing_at(&hours_ago(240));
    let erin: Vec<&str> = erin.iter().map(String::as_str).collect();

    let stricter = policy.replace("people = 2\n", "people = 3\n");
    let proposal = a.change_with(&stricter, &erin);
    // On the mirror's proposal ref since then (its hook accepted it, fresh, ten days ago).
    let dir = a.dir.to_str().expect("utf8");
    a.w.git_ok(&a.mirror, &["fetch", "-q", dir, &format!("{proposal}:refs/signed/proposed/policy")]);
    a.change(&stricter, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(ok, "bob's approval today completes erin's proposal: {err}");

    // A ten-day-old commit that was never on the proposal ref is new to the push: refused.
    let strictest = policy.replace("people = 2\n", "people = 4\n");
    a.change_with(&strictest, &erin);
    a.change(&strictest, "bob");
    let (ok, err) = a.push("main:refs/signed/policy");
    assert!(!ok && err.contains("erin"), "{err}");
}

/// T32: a change signed by an admin the policy has since removed, served by a compromised
/// mirror, is refused by a pinned clone; the policy without them stays in force.
#[test]
fn t32_a_removed_admin_cannot_change_a_pinned_clones_policy() {
    let (a, root) = Admin::new();
    let without_bob = founding()
        .replace("admins = 2", "admins = 1")
        .replace("[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n", "")
        .replace("sponsor = \"bob\"", "sponsor = \"alice\"");
    a.change(&without_bob, "alice");
    a.change(&without_bob, "bob");
    assert!(a.push("main:refs/signed/policy").0);
    let work = a.w.clone_of(&a.mirror, "work");
    assert!(push_deploy(&a, &work, "deploy/1", &["alice", "carol"]).0);
    for (key, value) in [("signed.environment", "production"), ("signed.root", root.as_str())] {
        a.w.git_ok(a.w.path(), &["config", "--global", key, value]);
    }
    let url = format!("signed::{}", a.mirror.display());
    run_ok(a.w.git(a.w.path()).args(["clone", "-q", &url, "prod"]));
    let prod = a.w.path().join("prod");
    // bob, removed, makes the rule stricter; the mirror serves it without its hook.
    a.change(&without_bob.replace("people = 2\n", "people = 3\n"), "bob");
    a.w.git_ok(&a.mirror, &["fetch", "-q", a.dir.to_str().expect("utf8"), "+main:refs/signed/policy"]);
    let out = a.w.git(&prod).args(["ls-remote", "origin", "refs/tags/*"]).output().expect("ls-remote");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/tags/deploy/1\n"), "still two people: {err}");
    assert!(
        err.contains("refusing the mirror's refs/signed/policy") && err.contains("which is not in the policy"),
        "{err}"
    );
}
