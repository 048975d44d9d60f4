//! `git signed verify` against real repositories, real gpg keys and `git tag -s` layers:
//! the verification core's promises (issue 2) and threat-catalogue entries T1–T5, T9–T13,
//! T16, T17 and T22.

mod support;

use std::time::{Duration, SystemTime};

use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation};
use support::*;

fn setup() -> (World, std::path::PathBuf) {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let repo = w.repo("work");
    (w, repo)
}

#[test]
fn one_person_tag_fails_two_person_rule() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs 2 people, has 1 (alice)"), "{out}");
}

#[test]
fn alice_signs_bob_reviews_tag_passes() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deploy/1: ACCEPTED"), "{out}");
}

#[test]
fn json_output_explains_layers_and_rules() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &["--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let v = &v["result"];
    assert_eq!(v["accepted"], true);
    let tag = &v["tags"][0];
    assert_eq!(tag["tag"], "deploy/1");
    assert_eq!(tag["layers"][0]["signer"]["name"], "alice");
    assert_eq!(tag["layers"][1]["signer"]["name"], "bob");
    assert_eq!(tag["layers"][1]["signer"]["kind"], "person");
    assert_eq!(tag["rules"][0]["holds"], true);
    assert_eq!(tag["people"], serde_json::json!(["alice", "bob"]));
}

#[test]
fn t1_lightweight_tag_is_rejected() {
    let (w, repo) = setup();
    w.git_ok(&repo, &["tag", "deploy/1"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("not a signed tag object"), "{out}");
}

#[test]
fn t1_unsigned_annotated_tag_is_rejected() {
    let (w, repo) = setup();
    w.git_ok(&repo, &["tag", "-a", "-m", "unsigned", "deploy/1"]);
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("is not signed"), "{out}");
}

#[test]
fn t2_one_person_signing_twice_counts_once() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "alice"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has 1 (alice)"), "{out}");
}

#[test]
fn t2_two_keys_of_one_person_count_once() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "alice2"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has 1 (alice)"), "{out}");
}

#[test]
fn t3_layer_by_key_outside_policy_invalidates_tag() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob", "mallory"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "a valid two-person tag with a mallory layer must fail: {out}");
    assert!(out.contains("which is not in the policy"), "{out}");
}

#[test]
fn production_needs_staging_machine_layer() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &["--environment", "production"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs machine staging-ci's signature"), "{out}");
    let (code, _, _) = w.verify(&repo, "deploy/1", &["--environment", "staging"]);
    assert_eq!(code, 0, "staging has no machine rule");
    w.sign(&repo, "staging-ci", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(&repo, "deploy/1", &["--environment", "production"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn t26_undeclared_environment_is_an_error_never_fewer_rules() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    for typo in ["Production", "prodution", "prod"] {
        let (code, out, err) = w.verify(&repo, "deploy/1", &["--environment", typo]);
        assert_eq!(code, 2, "{typo}: {out}{err}");
        assert!(out.is_empty(), "{typo}: nothing may look like a verdict: {out}");
        assert!(err.contains(&format!("environment \"{typo}\" is not declared")), "{err}");
        assert!(err.contains("declared: push, ci, staging, production"), "{err}");
    }
    let (_, _, err) = w.verify(&repo, "deploy/1", &["--environment", "Production"]);
    assert!(err.contains("did you mean \"production\"?"), "{err}");
    let (code, _, _) = w.verify(&repo, "deploy/1", &["--environment", "push"]);
    assert_eq!(code, 0, "push always exists");
}

#[test]
fn t26_a_rule_naming_an_undeclared_environment_is_a_policy_error() {
    let w = World::new();
    let policy = w.policy(&DEPLOY_RULES.replace(r#"environments = ["production"]"#, r#"environments = ["prod"]"#));
    let out = w.cmd(bin("git-signed")).args(["policy", "check", "--policy"]).arg(&policy).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"rule 2: environment "prod" is not declared"#), "{err}");
    let line = std::fs::read_to_string(&policy).expect("policy").lines().position(|l| l.contains(r#"["prod"]"#));
    assert!(err.contains(&format!("policy.toml:{}:", line.expect("line") + 1)), "{err}");
    // A policy without `environments` declares push alone, so any other name is refused.
    w.write("bare.toml", &standard_people().replace("environments = [\"ci\", \"staging\", \"production\"]\n", ""));
    let text = std::fs::read_to_string(w.path().join("bare.toml")).expect("read") + DEPLOY_RULES;
    w.write("bare.toml", &text);
    let out = w.cmd(bin("git-signed")).args(["policy", "check", "--policy"]).arg(w.path().join("bare.toml")).output();
    let err = String::from_utf8_lossy(&out.expect("run").stderr).into_owned();
    assert!(err.contains(r#"environment "production" is not declared"#), "{err}");
}

#[test]
fn policy_check_lists_the_declared_environments() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let out = w.cmd(bin("git-signed")).args(["policy", "check", "--policy"]).arg(&policy).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("environments: push, ci, staging, production"));
}

/// Rewrite alice's layer with `edit` applied to its bytes (signature kept) and point the tag at it.
fn tamper(w: &World, repo: &std::path::Path, edit: impl Fn(String) -> String) -> (i32, String) {
    w.sign_chain(repo, "deploy/1", &["alice"]);
    let id = w.git_ok(repo, &["rev-parse", "deploy/1"]);
    let original = String::from_utf8(w.cat(repo, &id)).expect("utf8");
    let altered = edit(original.clone());
    assert_ne!(altered, original, "the edit must change something");
    let new = w.mktag(repo, altered.as_bytes());
    w.git_ok(repo, &["update-ref", "refs/tags/deploy/1", &new]);
    w.sign(repo, "bob", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(repo, "deploy/1", &[]);
    (code, out)
}

#[test]
fn t4_altered_message_is_rejected() {
    let (w, repo) = setup();
    let (code, out) = tamper(&w, &repo, |s| s.replace("signed by alice", "signed by alice, trust me"));
    assert_eq!(code, 1);
    assert!(out.contains("does not match the tag's bytes"), "{out}");
}

#[test]
fn t4_altered_target_is_rejected() {
    let (w, repo) = setup();
    let other = w.commit(&repo, "evil");
    w.git_ok(&repo, &["reset", "-q", "--hard", "HEAD~1"]);
    let (code, out) = tamper(&w, &repo, |s| {
        let first = s.lines().next().unwrap_or_default().to_owned();
        s.replacen(&first, &format!("object {other}"), 1)
    });
    assert_eq!(code, 1);
    assert!(out.contains("does not match the tag's bytes"), "{out}");
}

#[test]
fn t4_bytes_after_the_signature_are_rejected() {
    let (w, repo) = setup();
    let (code, out) = tamper(&w, &repo, |s| format!("{s}deploy approved by the CTO\n"));
    assert_eq!(code, 1);
    assert!(out.contains("bytes follow the signature's END line"), "{out}");
}

#[test]
fn t4_altered_tagger_is_rejected() {
    let (w, repo) = setup();
    let (code, out) = tamper(&w, &repo, |s| s.replacen("tagger alice", "tagger carol", 1));
    assert_eq!(code, 1);
    assert!(out.contains("does not match the tag's bytes"), "{out}");
}

#[test]
fn t5_layer_named_for_another_tag_is_rejected() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let id = w.git_ok(&repo, &["rev-parse", "deploy/1"]);
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/2", &id]);
    let (code, out, _) = w.verify(&repo, "deploy/2", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("is named \"deploy/1\" but the ref is \"deploy/2\""), "{out}");
}

/// Policy with an in-process key as carol's.
fn with_sq_carol(w: &World, carol: &SqKey) {
    let people = w.people_with_sq_carol(carol);
    w.write("policy.toml", &format!("{people}{DEPLOY_RULES}"));
}

#[test]
fn t9_hard_revoked_key_voids_every_signature() {
    let (w, repo) = setup();
    let now = SystemTime::now();
    let mut carol = SqKey::new("carol", now - 30 * DAY, None);
    with_sq_carol(&w, &carol);
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/1", "deploy/1", now - 2 * DAY, HashAlgorithm::SHA256);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 0, "before revocation: {out}");

    carol.revoke(ReasonForRevocation::KeyCompromised, now - DAY);
    with_sq_carol(&w, &carol);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "a compromised key's older signatures must not count: {out}");
    assert!(out.contains("revoked"), "{out}");
}

#[test]
fn t9_soft_revocation_after_signing_keeps_old_signatures() {
    let (w, repo) = setup();
    let now = SystemTime::now();
    let mut carol = SqKey::new("carol", now - 30 * DAY, None);
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/1", "deploy/1", now - 2 * DAY, HashAlgorithm::SHA256);
    carol.revoke(ReasonForRevocation::KeySuperseded, now - DAY);
    with_sq_carol(&w, &carol);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 0, "a retired key's earlier signatures still count: {out}");
}

#[test]
fn t10_sha1_signature_is_rejected() {
    let (w, repo) = setup();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 30 * DAY, None);
    with_sq_carol(&w, &carol);
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/1", "deploy/1", now - DAY, HashAlgorithm::SHA1);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no longer accepted"), "{out}");
}

#[test]
fn t11_future_dated_signature_is_rejected() {
    let (w, repo) = setup();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 30 * DAY, None);
    with_sq_carol(&w, &carol);
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/1", "deploy/1", now + DAY, HashAlgorithm::SHA256);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("in the future"), "{out}");
}

#[test]
fn t12_signature_after_access_expired_does_not_count() {
    let (w, repo) = setup();
    let yesterday = today_utc().yesterday().expect("date");
    let people = standard_people().replace("access = \"admin\"", &format!("access = \"admin\"\nexpires = {yesterday}"));
    w.write("policy.toml", &format!("{people}{DEPLOY_RULES}"));
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("bob's access expired on {yesterday}")), "{out}");
}

#[test]
fn t13_machine_does_not_count_as_a_person() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "staging-ci"]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs 2 people, has 1 (alice)"), "{out}");
}

#[test]
fn t16_garbage_signature_is_rejected_cleanly() {
    let (w, repo) = setup();
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let mut object = tag_payload(&head, "commit", "deploy/1", "x <x@example.org>", SystemTime::now(), "junk");
    object.extend_from_slice(b"-----BEGIN PGP SIGNATURE-----\n\nnot base64 at all!!\n-----END PGP SIGNATURE-----\n");
    let id = w.mktag(&repo, &object);
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/1", &id]);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("cannot be parsed"), "{out}");
}

#[test]
fn t16_huge_message_is_rejected_cleanly() {
    let (w, repo) = setup();
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let big = "x".repeat(10 << 20);
    let object = tag_payload(&head, "commit", "deploy/1", "x <x@example.org>", SystemTime::now(), &big);
    let id = w.hash_literally(&repo, "tag", &object);
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/1", &id]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("larger than the"), "{out}");
}

#[test]
fn t16_deep_chain_is_rejected_cleanly() {
    let (w, repo) = setup();
    let mut target = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let mut kind = "commit";
    for i in 0..40 {
        let object =
            tag_payload(&target, kind, "deploy/1", "x <x@example.org>", SystemTime::now(), &format!("layer {i}"));
        target = w.mktag(&repo, &object);
        kind = "tag";
    }
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/1", &target]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("nested tag layers"), "{out}");
}

#[test]
fn t16_malformed_tag_object_is_rejected_cleanly() {
    let (w, repo) = setup();
    let id = w.hash_literally(&repo, "tag", b"object nothex\ntype commit\ntag deploy/1\n\nbroken\n");
    w.force_tag_ref(&repo, "deploy/1", &id);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("malformed"), "{out}");
}

#[test]
fn t16_wrong_type_header_is_rejected() {
    let (w, repo) = setup();
    let head = w.git_ok(&repo, &["rev-parse", "HEAD^{tree}"]);
    let object = tag_payload(&head, "commit", "deploy/1", "x <x@example.org>", SystemTime::now(), "lies");
    let id = w.hash_literally(&repo, "tag", &object);
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/1", &id]);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("claims to point at a commit"), "{out}");
}

fn policy_check(w: &World, text: &str) -> (i32, String, String) {
    let path = w.write("policy.toml", text);
    let out = w.signed(w.path()).args(["policy", "check", "--policy"]).arg(&path).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn policy_check_prints_what_it_protects() {
    let w = World::new();
    let (code, out, err) = policy_check(&w, &format!("{}{DEPLOY_RULES}", standard_people()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rule 1 (deploy/*: 2 people)"), "{out}");
    assert!(out.contains("rule 2 (deploy/* in production: machine staging-ci)"), "{out}");
}

#[test]
fn t17_policy_typo_names_the_line() {
    let w = World::new();
    let text = format!("{}[[rule]]\ntags = [\"deploy/*\"]\npeeple = 2\n", standard_people());
    let line = text.lines().position(|l| l.starts_with("peeple")).expect("line") + 1;
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("policy.toml:{line}:")), "{err}");
    assert!(err.contains("peeple"), "{err}");
}

#[test]
fn t17_unknown_access_level_is_an_error() {
    let w = World::new();
    let text = format!("{}{DEPLOY_RULES}", standard_people()).replace("access = \"admin\"", "access = \"root\"");
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains("unknown access \"root\""), "{err}");
}

#[test]
fn t17_missing_key_file_is_an_error() {
    let w = World::new();
    let text = format!("{}{DEPLOY_RULES}", standard_people()).replace("keys/bob.asc", "keys/nobody.asc");
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read key file") && err.contains("nobody.asc"), "{err}");
}

#[test]
fn t17_unreadable_key_is_an_error() {
    let w = World::new();
    w.write("keys/bob.asc", "this is not a key\n");
    let (code, _, err) = policy_check(&w, &format!("{}{DEPLOY_RULES}", standard_people()));
    assert_eq!(code, 1);
    assert!(err.contains("person bob") || err.contains("bob:"), "{err}");
}

#[test]
fn t17_rule_naming_unknown_machine_is_an_error() {
    let w = World::new();
    let text = format!("{}{}", standard_people(), DEPLOY_RULES.replace("[\"staging-ci\"]", "[\"stagingci\"]"));
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains("unknown machine \"stagingci\""), "{err}");
}

#[test]
fn t17_broken_policy_fails_verify_closed() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    w.write("policy.toml", "version = 1\n[[rule]]\ntags = [\"deploy/*\"\n");
    let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("policy.toml:"), "{err}");
}

#[test]
fn t17_duplicate_key_across_people_is_an_error() {
    let w = World::new();
    let text = format!("{}{DEPLOY_RULES}", standard_people()).replace("keys/carol.asc", "keys/bob.asc");
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains("belongs to both"), "{err}");
}

#[test]
fn t22_empty_policy_is_an_error() {
    let w = World::new();
    let (code, _, err) = policy_check(&w, "version = 1\n");
    assert_eq!(code, 1);
    assert!(err.contains("protects nothing"), "{err}");
}

#[test]
fn t22_person_without_keys_is_an_error() {
    let w = World::new();
    let text = format!("{}{DEPLOY_RULES}", standard_people()).replace("keys = [\"keys/bob.asc\"]", "keys = []");
    let (code, _, err) = policy_check(&w, &text);
    assert_eq!(code, 1);
    assert!(err.contains("bob has no keys"), "{err}");
}

#[test]
fn t22_rule_protecting_nothing_is_an_error() {
    let w = World::new();
    let (code, _, err) = policy_check(&w, &format!("{}[[rule]]\ntags = []\npeople = 2\n", standard_people()));
    assert_eq!(code, 1);
    assert!(err.contains("protects nothing"), "{err}");
}

#[test]
fn t22_zero_people_is_an_error() {
    let w = World::new();
    let (code, _, err) =
        policy_check(&w, &format!("{}[[rule]]\ntags = [\"deploy/*\"]\npeople = 0\n", standard_people()));
    assert_eq!(code, 1);
    assert!(err.contains("people = 0"), "{err}");
}

#[test]
fn t22_rule_requiring_nothing_is_an_error() {
    let w = World::new();
    let (code, _, err) = policy_check(&w, &format!("{}[[rule]]\ntags = [\"deploy/*\"]\n", standard_people()));
    assert_eq!(code, 1);
    assert!(err.contains("requires no signatures"), "{err}");
}

#[test]
fn globs_protect_one_segment_with_star_and_many_with_double_star() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/prod/1", &["alice"]);
    let (code, out, _) = w.verify(&repo, "deploy/prod/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("no rule in the policy protects"), "deploy/* must not protect deploy/prod/1: {out}");
    w.policy(&DEPLOY_RULES.replace("deploy/*", "deploy/**"));
    let (code, out, _) = w.verify(&repo, "deploy/prod/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("needs 2 people"), "{out}");
}

#[test]
fn git_verify_tag_and_git_signed_agree_on_a_single_signer_tag() {
    let w = World::new();
    w.policy("[[rule]]\ntags = [\"release/*\"]\npeople = 1\n");
    let repo = w.repo("work");
    w.sign(&repo, "alice", "release/1", "HEAD");
    let git_ok = w.git(&repo).args(["verify-tag", "release/1"]).output().expect("verify-tag").status.success();
    let (code, out, _) = w.verify(&repo, "release/1", &[]);
    assert!(git_ok);
    assert_eq!(code, 0, "{out}");

    // Both reject the same tampered tag.
    let id = w.git_ok(&repo, &["rev-parse", "release/1"]);
    let altered = String::from_utf8(w.cat(&repo, &id)).expect("utf8").replace("signed by alice", "signed by eve");
    let new = w.mktag(&repo, altered.as_bytes());
    w.git_ok(&repo, &["update-ref", "refs/tags/release/1", &new]);
    let git_ok = w.git(&repo).args(["verify-tag", "release/1"]).output().expect("verify-tag").status.success();
    let (code, _, _) = w.verify(&repo, "release/1", &[]);
    assert!(!git_ok);
    assert_eq!(code, 1);
}

#[test]
fn verify_all_checks_every_protected_tag() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    w.sign_chain(&repo, "deploy/2", &["alice"]);
    w.git_ok(&repo, &["tag", "v1.0"]);
    let policy = w.path().join("policy.toml");
    let out =
        w.signed(&repo).args(["verify", "--all", "--format", "json", "--policy"]).arg(&policy).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<_> = v["result"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| (t["tag"].clone(), t["accepted"].clone()))
        .collect();
    assert_eq!(names, vec![("deploy/1".into(), true.into()), ("deploy/2".into(), false.into())]);
}

#[test]
fn missing_tag_and_no_policy_give_clear_errors() {
    let (w, repo) = setup();
    let (code, out, _) = w.verify(&repo, "deploy/9", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("no tag refs/tags/deploy/9"), "{out}");
    let out = w.signed(&repo).args(["verify", "deploy/9"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("git config signed.policy"));
}

#[test]
fn policy_from_git_config() {
    let (w, repo) = setup();
    w.sign_chain(&repo, "deploy/1", &["alice", "bob"]);
    let policy = w.path().join("policy.toml");
    w.git_ok(&repo, &["config", "signed.policy", policy.to_str().expect("utf8")]);
    let out = w.signed(&repo).args(["verify", "deploy/1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_command_has_help() {
    let w = World::new();
    for args in [vec!["--help"], vec!["verify", "--help"], vec!["policy", "check", "--help"]] {
        let out = w.signed(w.path()).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn key_expired_now_but_valid_when_signed_still_counts_when_verifying() {
    // Verification (not push) judges a key at signature time: an old, honest signature by a
    // key that has since expired still counts. The push-time check (T8) is the hook's.
    let (w, repo) = setup();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 60 * DAY, Some(Duration::from_secs(30 * 86_400)));
    with_sq_carol(&w, &carol);
    w.sign_chain(&repo, "deploy/1", &["alice"]);
    w.sign_sq(&repo, &carol, "deploy/1", "deploy/1", now - 50 * DAY, HashAlgorithm::SHA256);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 0, "{out}");
}

/// Write nested tag objects straight into the object store (thousands of `git mktag` calls
/// would take minutes); returns the outermost id.
fn write_chain(repo: &std::path::Path, name: &[u8], depth: usize) -> String {
    use gix::objs::Write as _;
    let objects = repo.join(".git/objects");
    let store = gix::odb::loose::Store::at(objects, gix::hash::Kind::Sha1);
    let out = std::process::Command::new("git").current_dir(repo).args(["rev-parse", "HEAD"]).output().expect("git");
    let mut target = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut kind = "commit";
    for i in 0..depth {
        let mut object = format!("object {target}\ntype {kind}\ntag ").into_bytes();
        object.extend_from_slice(name);
        object.extend_from_slice(format!("\ntagger x <x@example.org> 1700000000 +0000\n\nlayer {i}\n").as_bytes());
        target = store.write_buf(gix::objs::Kind::Tag, &object).expect("write").to_string();
        kind = "tag";
    }
    target
}

#[test]
fn t16_thousand_layer_chain_is_rejected_in_bounded_time() {
    let (w, repo) = setup();
    let id = write_chain(&repo, b"deploy/1", 1000);
    w.force_tag_ref(&repo, "deploy/1", &id);
    let start = std::time::Instant::now();
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("more than 16 nested tag layers"), "{out}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn t16_oversized_signature_is_rejected_cleanly() {
    let (w, repo) = setup();
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let mut object = tag_payload(&head, "commit", "deploy/1", "x <x@example.org>", SystemTime::now(), "big sig");
    object.extend_from_slice(b"-----BEGIN PGP SIGNATURE-----\n\n");
    for _ in 0..(200 * 1024 / 64) {
        object.extend_from_slice(&[b'A'; 64]);
        object.push(b'\n');
    }
    object.extend_from_slice(b"-----END PGP SIGNATURE-----\n");
    let id = w.hash_literally(&repo, "tag", &object);
    w.force_tag_ref(&repo, "deploy/1", &id);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("byte limit"), "{out}");

    // A 1 MB signature makes the object itself too large.
    let mut object = tag_payload(&head, "commit", "deploy/2", "x <x@example.org>", SystemTime::now(), "huge sig");
    object.extend_from_slice(b"-----BEGIN PGP SIGNATURE-----\n\n");
    object.extend_from_slice(&vec![b'A'; 1 << 20]);
    object.extend_from_slice(b"\n-----END PGP SIGNATURE-----\n");
    let id = w.hash_literally(&repo, "tag", &object);
    w.force_tag_ref(&repo, "deploy/2", &id);
    let (code, out, _) = w.verify(&repo, "deploy/2", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("larger than the"), "{out}");
}

#[test]
fn t16_non_utf8_tag_name_is_rejected_cleanly() {
    let (w, repo) = setup();
    let id = write_chain(&repo, b"deploy/\xff\xfe", 1);
    w.force_tag_ref(&repo, "deploy/1", &id);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("a signed tag cannot be moved to another name"), "{out}");
}

#[test]
fn t16_tag_pointing_at_a_missing_object_is_rejected_cleanly() {
    let (w, repo) = setup();
    let object = tag_payload(
        "1111111111111111111111111111111111111111",
        "commit",
        "deploy/1",
        "x <x@example.org>",
        SystemTime::now(),
        "dangling",
    );
    let id = w.hash_literally(&repo, "tag", &object);
    w.force_tag_ref(&repo, "deploy/1", &id);
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("is missing from the repository"), "{out}");
}

#[test]
fn t16_gpgsig_header_is_rejected() {
    let (w, repo) = setup();
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let object = format!(
        "object {head}\ntype commit\ntag deploy/1\ntagger x <x@example.org> 1700000000 +0000\ngpgsig-sha256 abc\n\nmsg\n"
    );
    let id = w.hash_literally(&repo, "tag", object.as_bytes());
    w.force_tag_ref(&repo, "deploy/1", &id);
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("gpgsig header"), "{out}");
}

#[test]
fn policy_check_warns_about_keys_that_cannot_sign_now() {
    let w = World::new();
    let now = SystemTime::now();
    let carol = SqKey::new("carol", now - 60 * DAY, Some(Duration::from_secs(30 * 86_400)));
    w.write("keys/carol-sq.asc", &carol.public());
    let text = format!("{}{DEPLOY_RULES}", standard_people()).replace("keys/carol.asc", "keys/carol-sq.asc");
    let (code, out, _) = policy_check(&w, &text);
    assert_eq!(code, 0, "an expired key is a warning, not an error: old signatures may still count");
    assert!(out.contains("warning: carol's key") && out.contains("cannot sign now"), "{out}");
}
