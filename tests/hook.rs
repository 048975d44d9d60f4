//! The mirror's pre-receive hook, installed by install.sh into real bare repositories and
//! exercised with real `git push`: every row of design.md §5's table, T6–T8, T14, T18, T19,
//! T21, the audit log, chained hooks and the GitLab/Gitea layouts.

mod support;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sequoia_openpgp::types::HashAlgorithm;
use support::*;

/// A world with the standard policy, a mirror with the hook, and a work clone.
fn setup() -> (World, PathBuf, PathBuf) {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    (w, mirror, work)
}

fn push_tag(w: &World, work: &Path, tag: &str) -> (bool, String) {
    w.push(work, &["origin", &format!("+refs/tags/{tag}:refs/tags/{tag}")])
}

fn mirror_has(w: &World, mirror: &Path, refname: &str) -> Option<String> {
    let out = w.git(mirror).args(["rev-parse", "-q", "--verify", refname]).output().expect("rev-parse");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn alice_signs_bob_reviews_mirror_accepts() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(ok, "{err}");
    assert!(err.contains("deploy/1: ok, signed by alice, bob"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), Some(w.git_ok(&work, &["rev-parse", "deploy/1"])));
}

#[test]
fn one_person_tag_is_rejected_with_a_message_naming_ref_rule_and_signer() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice"]);
    let before = w.snapshot(&mirror);
    let objects_before = w.git_ok(&mirror, &["count-objects", "-v"]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(
        err.contains(
            "REJECTED refs/tags/deploy/1: deploy/1: rule 1 (deploy/*: 2 people): needs 2 people, has 1 (alice)"
        ),
        "{err}"
    );
    assert!(err.contains("pre-receive hook declined"), "{err}");
    assert_eq!(w.snapshot(&mirror), before, "a rejected push must leave refs and objects as they were");
    assert_eq!(w.git_ok(&mirror, &["count-objects", "-v"]), objects_before, "no quarantined object may stay");
}

#[test]
fn t1_lightweight_deploy_tag_is_rejected() {
    let (w, mirror, work) = setup();
    w.git_ok(&work, &["tag", "deploy/1"]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(err.contains("not a signed tag object"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), None);
}

#[test]
fn adding_a_layer_to_an_accepted_tag_is_accepted() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    assert!(push_tag(&w, &work, "deploy/1").0);
    w.sign(&work, "staging-ci", "deploy/1", "deploy/1");
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(ok, "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), Some(w.git_ok(&work, &["rev-parse", "deploy/1"])));
}

#[test]
fn t6_moving_a_deploy_tag_to_another_commit_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    assert!(push_tag(&w, &work, "deploy/1").0);
    let accepted = mirror_has(&w, &mirror, "refs/tags/deploy/1");
    w.commit(&work, "evil");
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok, "a fully signed tag on another commit still must not replace the old one");
    assert!(err.contains("does not wrap the old one"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), accepted);
}

#[test]
fn t6_removing_a_layer_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let two = w.git_ok(&work, &["rev-parse", "deploy/1"]);
    w.sign(&work, "carol", "deploy/1", "deploy/1");
    assert!(push_tag(&w, &work, "deploy/1").0);
    w.git_ok(&work, &["update-ref", "refs/tags/deploy/1", &two]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(err.contains("does not wrap the old one"), "{err}");
    assert_ne!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), Some(two));
}

#[test]
fn t6_wrapping_with_an_invalid_layer_is_rejected() {
    let (w, _mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    assert!(push_tag(&w, &work, "deploy/1").0);
    w.sign(&work, "mallory", "deploy/1", "deploy/1");
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(err.contains("not in the policy"), "{err}");
}

#[test]
fn t7_deleting_a_deploy_tag_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    assert!(push_tag(&w, &work, "deploy/1").0);
    let (ok, err) = w.push(&work, &["origin", ":refs/tags/deploy/1"]);
    assert!(!ok);
    assert!(err.contains("deleting a protected tag is not allowed"), "{err}");
    assert!(mirror_has(&w, &mirror, "refs/tags/deploy/1").is_some());
}

#[test]
fn t8_expired_key_with_back_dated_signature_is_rejected_at_push() {
    let w = World::new();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 60 * DAY, Some(30 * DAY));
    let people = w.people_with_sq_carol(&carol);
    w.write("policy.toml", &format!("{people}[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\nmax_age = \"365d\"\n"));
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    w.sign_chain(&work, "deploy/1", &["alice"]);
    w.sign_sq(&work, &carol, "deploy/1", "deploy/1", now - 50 * DAY, HashAlgorithm::SHA256);

    let (code, out, _) = w.verify(&work, "deploy/1", &[]);
    assert_eq!(code, 0, "judged at signature time the signature is fine: {out}");
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok, "a stolen expired key must not back-date new signatures");
    assert!(err.contains("carol's key") && err.contains("is not valid now"), "{err}");
}

#[test]
fn stale_new_signature_older_than_max_age_is_rejected_at_push() {
    let w = World::new();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 60 * DAY, None);
    let people = w.people_with_sq_carol(&carol);
    w.write("policy.toml", &format!("{people}[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\nmax_age = \"7d\"\n"));
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    w.sign_chain(&work, "deploy/1", &["alice"]);
    w.sign_sq(&work, &carol, "deploy/1", "deploy/1", now - 10 * DAY, HashAlgorithm::SHA256);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(err.contains("more than 7d ago"), "{err}");
}

#[test]
fn proposal_namespace_accepts_known_signer_create_update_delete() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1:refs/signed/proposed/deploy/1"]);
    assert!(ok, "create: {err}");
    w.sign(&work, "carol", "deploy/1", "deploy/1");
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1:refs/signed/proposed/deploy/1"]);
    assert!(ok, "update: {err}");
    let (ok, err) = w.push(&work, &["origin", ":refs/signed/proposed/deploy/1"]);
    assert!(ok, "delete: {err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/signed/proposed/deploy/1"), None);
}

#[test]
fn t18_proposal_signed_by_unknown_key_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["mallory"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1:refs/signed/proposed/deploy/1"]);
    assert!(!ok);
    assert!(err.contains("not in the policy"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/signed/proposed/deploy/1"), None);
}

#[test]
fn t18_unsigned_proposal_is_rejected() {
    let (w, _mirror, work) = setup();
    w.git_ok(&work, &["tag", "-a", "-m", "unsigned", "deploy/1"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1:refs/signed/proposed/deploy/1"]);
    assert!(!ok);
    assert!(err.contains("is not signed"), "{err}");
}

#[test]
fn t14_tag_object_smuggled_under_another_ref_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice"]);
    for target in ["refs/foo/x", "refs/heads/smuggled", "refs/tags/v1.0"] {
        let (ok, err) = w.push(&work, &["origin", &format!("refs/tags/deploy/1:{target}")]);
        assert!(!ok, "{target} must be rejected");
        assert!(err.contains("points at a tag object named \"deploy/1\""), "{err}");
        assert_eq!(mirror_has(&w, &mirror, target), None);
    }
}

#[test]
fn t14_replace_refs_are_rejected() {
    let (w, mirror, work) = setup();
    let head = w.git_ok(&work, &["rev-parse", "HEAD"]);
    let other = w.commit(&work, "other");
    let (ok, err) = w.push(&work, &["origin", &format!("{other}:refs/replace/{head}")]);
    assert!(!ok);
    assert!(err.contains("replace refs are not allowed"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, &format!("refs/replace/{head}")), None);
}

#[test]
fn t21_ref_shadowing_a_protected_tag_name_is_rejected() {
    let (w, mirror, work) = setup();
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/deploy/42"]);
    assert!(!ok);
    assert!(
        err.contains("`git rev-parse deploy/42` would find this ref instead of the protected tag refs/tags/deploy/42"),
        "{err}"
    );
    assert_eq!(mirror_has(&w, &mirror, "refs/deploy/42"), None);
}

#[test]
fn branches_and_unprotected_tags_pass_untouched() {
    let (w, mirror, work) = setup();
    w.commit(&work, "second");
    w.git_ok(&work, &["tag", "v1.0"]);
    w.git_ok(&work, &["tag", "-a", "-m", "release", "v1.1"]);
    let (ok, err) = w.push(
        &work,
        &["origin", "HEAD:refs/heads/main", "refs/tags/v1.0", "refs/tags/v1.1", "HEAD:refs/heads/feature"],
    );
    assert!(ok, "{err}");
    assert!(!err.contains("git-signed"), "unprotected refs get no messages: {err}");
    assert!(mirror_has(&w, &mirror, "refs/tags/v1.1").is_some());
}

#[test]
fn one_bad_ref_declines_the_whole_push() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    w.sign_chain(&work, "deploy/2", &["alice"]);
    w.commit(&work, "second");
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/heads/main", "refs/tags/deploy/1", "refs/tags/deploy/2"]);
    assert!(!ok);
    assert!(err.contains("1 of 3 ref update(s) rejected"), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/deploy/1"), None);
    assert_ne!(mirror_has(&w, &mirror, "refs/heads/main"), Some(w.git_ok(&work, &["rev-parse", "HEAD"])));
}

#[test]
fn missing_policy_fails_closed() {
    let (w, _mirror, work) = setup();
    std::fs::remove_file(w.path().join("policy.toml")).expect("rm");
    w.commit(&work, "second");
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/heads/main"]);
    assert!(!ok, "without a policy nothing may be pushed");
    assert!(err.contains("fail closed") && err.contains("policy"), "{err}");
}

#[test]
fn audit_log_has_one_line_per_decision() {
    let (w, _mirror, work) = setup();
    let before = w.audit().len();
    w.sign_chain(&work, "deploy/1", &["alice"]);
    assert!(!push_tag(&w, &work, "deploy/1").0);
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    assert!(push_tag(&w, &work, "deploy/1").0);
    let lines = w.audit();
    assert_eq!(lines.len(), before + 2);
    let rejected = &lines[before];
    assert_eq!(rejected["ref"], "refs/tags/deploy/1");
    assert_eq!(rejected["verdict"], "rejected");
    assert!(rejected["reasons"][0].as_str().is_some_and(|r| r.contains("needs 2 people")));
    let accepted = &lines[before + 1];
    assert_eq!(accepted["verdict"], "accepted");
    assert_eq!(accepted["signers"], serde_json::json!(["alice", "bob"]));
    assert!(accepted["time"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[test]
fn t19_concurrent_pushes_are_each_decided_right_and_logged_intact() {
    let (w, mirror, work) = setup();
    let before = w.audit().len();
    // Eight clones push eight different tags at once: even ones fully signed, odd ones not.
    let clones: Vec<PathBuf> = (0..8)
        .map(|i| {
            let c = w.clone_of(&mirror, &format!("c{i}"));
            let signers: &[&str] = if i % 2 == 0 { &["alice", "bob"] } else { &["alice"] };
            w.sign_chain(&c, &format!("deploy/{i}"), signers);
            c
        })
        .collect();
    // Two clones race to create deploy/race with different, fully signed tags.
    w.sign_chain(&work, "deploy/race", &["alice", "bob"]);
    let other = w.clone_of(&mirror, "racer");
    w.commit(&other, "racing change");
    w.sign_chain(&other, "deploy/race", &["carol", "bob"]);

    let results: Vec<(String, bool)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (i, c) in clones.iter().enumerate() {
            let w = &w;
            handles.push(s.spawn(move || (format!("deploy/{i}"), push_tag(w, c, &format!("deploy/{i}")).0)));
        }
        for c in [&work, &other] {
            let w = &w;
            handles.push(s.spawn(move || ("deploy/race".to_owned(), push_tag(w, c, "deploy/race").0)));
        }
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for (i, (name, ok)) in results.iter().take(8).enumerate() {
        assert_eq!(*ok, i % 2 == 0, "{name}");
    }
    let race_wins = results.iter().skip(8).filter(|(_, ok)| *ok).count();
    assert_eq!(race_wins, 1, "exactly one racer creates deploy/race: {results:?}");
    let winner = mirror_has(&w, &mirror, "refs/tags/deploy/race").expect("race tag");
    assert!(
        [w.git_ok(&work, &["rev-parse", "deploy/race"]), w.git_ok(&other, &["rev-parse", "deploy/race"])]
            .contains(&winner)
    );

    let lines = w.audit();
    let new = &lines[before..];
    // 8 + the race winner + the loser; the loser's push either reached the hook (one more
    // line, rejected for not wrapping) or was refused by git before it (stale create).
    assert!(new.len() == 9 || new.len() == 10, "{} lines", new.len());
    for i in 0..8 {
        let name = format!("refs/tags/deploy/{i}");
        let mine: Vec<_> = new.iter().filter(|l| l["ref"] == name.as_str()).collect();
        assert_eq!(mine.len(), 1, "{name}");
        assert_eq!(mine[0]["verdict"], if i % 2 == 0 { "accepted" } else { "rejected" });
    }
}

#[test]
fn existing_pre_receive_hook_keeps_running_and_can_still_reject() {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let mirror = w.path().join("mirror.git");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    let old_hook = mirror.join("hooks/pre-receive");
    std::fs::write(
        &old_hook,
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in refs/heads/blocked) echo 'old hook says no' >&2; exit 1;; esac\ndone\n",
    )
    .expect("hook");
    set_executable(&old_hook);
    let policy = w.path().join("policy.toml");
    for _ in 0..2 {
        let out = w.install(&["--repo", mirror.to_str().expect("utf8"), "--policy", policy.to_str().expect("utf8")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(mirror.join("hooks/pre-receive.before-git-signed").exists());
    let work = w.clone_of(&mirror, "work");
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/heads/blocked"]);
    assert!(!ok);
    assert!(err.contains("old hook says no"), "{err}");
    w.sign_chain(&work, "deploy/1", &["alice"]);
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(!ok);
    assert!(err.contains("needs 2 people"), "{err}");

    let out = w.install(&["--uninstall", "--repo", mirror.to_str().expect("utf8")]);
    assert!(out.status.success());
    let restored = std::fs::read_to_string(&old_hook).expect("hook");
    assert!(restored.contains("old hook says no"), "uninstall restores the earlier hook");
}

fn set_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A stand-in for the platform's own dispatcher (GitLab's Gitaly, Gitea's generated hook):
/// reads stdin once and runs every executable in `dir` with it; any failure rejects.
fn install_dispatcher(mirror: &Path, dir: &str) {
    let hook = mirror.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n# AUTO GENERATED BY GITEA, DO NOT MODIFY (test stand-in)\ninput=$(mktemp)\ncat > \"$input\"\nfor h in \"$GIT_DIR\"/{dir}/*; do\n  [ -x \"$h\" ] || continue\n  \"$h\" < \"$input\" || {{ rm -f \"$input\"; exit 1; }}\ndone\nrm -f \"$input\"\n"
        ),
    )
    .expect("dispatcher");
    set_executable(&hook);
}

fn layout_case(layout_dir: &str, prepare: impl Fn(&Path)) {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let mirror = w.path().join("mirror.git");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    prepare(&mirror);
    install_dispatcher(&mirror, layout_dir);
    let policy = w.path().join("policy.toml");
    let out = w.install(&["--repo", mirror.to_str().expect("utf8"), "--policy", policy.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(mirror.join(layout_dir).join("git-signed").exists(), "hook in {layout_dir}");
    let work = w.clone_of(&mirror, "work");
    w.sign_chain(&work, "deploy/1", &["alice"]);
    assert!(!push_tag(&w, &work, "deploy/1").0, "one-person tag rejected through {layout_dir}");
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    let (ok, err) = push_tag(&w, &work, "deploy/1");
    assert!(ok, "{err}");
}

#[test]
fn gitlab_custom_hooks_layout() {
    layout_case("custom_hooks/pre-receive.d", |m| std::fs::create_dir_all(m.join("custom_hooks")).expect("mkdir"));
}

#[test]
fn gitea_hooks_directory_layout() {
    layout_case("hooks/pre-receive.d", |m| std::fs::create_dir_all(m.join("hooks/pre-receive.d")).expect("mkdir"));
}

#[test]
fn install_refuses_non_bare_and_missing_repositories() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let work = w.repo("work");
    let out = w.install(&["--repo", work.to_str().expect("utf8"), "--policy", policy.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a bare repository"));
    let out = w.install(&["--repo", "/nonexistent/x.git", "--policy", policy.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no repository at"));
}

#[test]
fn install_refuses_a_broken_policy() {
    let w = World::new();
    let policy = w.write("policy.toml", "version = 1\n");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    let mirror = w.path().join("mirror.git");
    let out = w.install(&["--repo", mirror.to_str().expect("utf8"), "--policy", policy.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!mirror.join("hooks/pre-receive").exists());
}

#[test]
fn hook_has_help() {
    let w = World::new();
    let out = w.cmd(bin("git-signed-pre-receive")).arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed.policy"));
}

#[test]
fn pushed_objects_arriving_as_a_pack_are_seen_in_quarantine() {
    let (w, mirror, work) = setup();
    w.git_ok(&mirror, &["config", "receive.unpackLimit", "1"]);
    w.commit(&work, "in a pack");
    w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/heads/main", "refs/tags/deploy/1"]);
    assert!(ok, "{err}");
    assert!(err.contains("deploy/1: ok"), "{err}");
}

#[test]
fn sha256_repository_fails_closed() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "--object-format=sha256", "m256.git"]));
    let mirror = w.path().join("m256.git");
    let out = w.install(&["--repo", mirror.to_str().expect("utf8"), "--policy", policy.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run_ok(w.git(w.path()).args(["init", "-q", "--object-format=sha256", "w256"]));
    let work = w.path().join("w256");
    w.commit(&work, "one");
    let (ok, err) = w.push(&work, &[mirror.to_str().expect("utf8"), "HEAD:refs/heads/main"]);
    assert!(!ok, "a repository the hook cannot read must not accept pushes");
    assert!(err.contains("fail closed"), "{err}");
}

#[test]
fn t14_protected_tag_object_wrapped_under_another_name_is_rejected() {
    let (w, mirror, work) = setup();
    w.sign_chain(&work, "deploy/1", &["alice"]);
    // An innocent-looking unprotected tag wrapping the one-person deploy tag.
    w.git_ok(&work, &["tag", "-a", "-m", "looks harmless", "v2.0", "deploy/1"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/v2.0", "refs/tags/v2.0:refs/heads/wrapped"]);
    assert!(!ok);
    assert!(err.contains("points at a tag object named \"deploy/1\""), "{err}");
    assert_eq!(mirror_has(&w, &mirror, "refs/tags/v2.0"), None);
}
