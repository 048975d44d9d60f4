//! What people and pipelines read: a closed pipe (`git signed verify --all --format json |
//! head -c 300`) ends every binary quietly, `policy check` reads every duration back in words
//! and warns about one under a day (`inactivity = "6m"` is six minutes), and access levels are
//! spelled as in the policy.

mod support;

use std::process::{Command, Stdio};

use support::*;

/// Run `cmd` with a stdout whose reader is already gone; returns its stderr.
fn into_closed_pipe(cmd: &mut Command) -> String {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = cmd.stdout(writer).stderr(Stdio::piped()).stdin(Stdio::null()).output().expect("run");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_closed_pipe_ends_every_binary_quietly() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let repo = w.repo("work");
    for n in 1..=3 {
        w.sign_chain(&repo, &format!("deploy/{n}"), &["alice", "bob"]);
    }
    let policy = policy.to_str().expect("utf8");
    for args in [
        vec!["verify", "--all", "--format", "json", "--policy", policy],
        vec!["verify", "--all", "--policy", policy],
        vec!["policy", "check", "--policy", policy],
        vec!["audit", "--policy", policy],
        vec!["--help"],
        vec!["--version"],
    ] {
        let stderr = into_closed_pipe(w.signed(&repo).args(&args));
        assert!(stderr.is_empty(), "git signed {args:?} into a closed pipe:\n{stderr}");
    }
    for b in ["git-signed-pre-receive", "git-remote-signed"] {
        for arg in ["--help", "--version"] {
            let stderr = into_closed_pipe(w.cmd(bin(b)).arg(arg));
            assert!(stderr.is_empty(), "{b} {arg} into a closed pipe:\n{stderr}");
        }
    }
}

/// `git signed policy check` of the standard people with `inactivity` and `rules`.
fn policy_check(w: &World, inactivity: &str, rules: &str) -> String {
    let people =
        standard_people().replacen("version = 1\n", &format!("version = 1\ninactivity = \"{inactivity}\"\n"), 1);
    let path = w.write("policy.toml", &format!("{people}{rules}"));
    let out = w.signed(w.path()).args(["policy", "check", "--policy"]).arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn policy_check_reads_durations_back_in_words_and_warns_under_a_day() {
    let w = World::new();
    let out = policy_check(&w, "6m", &DEPLOY_RULES.replacen("people = 2", "people = 2\nmax_age = \"12h\"", 1));
    assert!(out.contains("inactivity: access lapses after 6 minutes without an accepted signature"), "{out}");
    assert!(out.contains("rule 1 (deploy/*: 2 people) [line"), "{out}");
    assert!(out.contains("], max_age at push 12 hours"), "{out}");
    let rule2 = out.lines().find(|l| l.contains("rule 2 (")).unwrap_or_default();
    assert!(!rule2.contains("max_age"), "rule 2 does not apply at push: {out}");
    assert!(out.contains("warning: inactivity = \"6m\" is 6 minutes, under a day"), "{out}");
    assert!(out.contains("max_age = \"12h\" is 12 hours, under a day"), "{out}");
    assert!(out.contains("  protects deploy/*\n"), "each glob once: {out}");
}

#[test]
fn policy_check_has_no_duration_warning_for_days_and_weeks() {
    let w = World::new();
    let out = policy_check(&w, "26w", DEPLOY_RULES);
    assert!(out.contains("access lapses after 26 weeks"), "{out}");
    let rule1 = out.lines().find(|l| l.contains("rule 1 (")).unwrap_or_default();
    assert!(rule1.ends_with("], max_age at push 7 days (default)"), "{out}");
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn audit_spells_access_levels_as_the_policy_does() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let repo = w.repo("work");
    let out = w.signed(&repo).args(["audit", "--policy"]).arg(&policy).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alice (deploy, last signed never)"), "{text}");
    assert!(text.contains("bob (admin, last signed never)"), "{text}");
}

#[test]
fn verify_all_sums_up_and_quiet_prints_only_the_failures() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let repo = w.repo("work");
    for n in 1..=3 {
        w.sign_chain(&repo, &format!("deploy/{n}"), &["alice", "bob"]);
    }
    w.sign_chain(&repo, "deploy/4", &["alice"]);
    let verify = |extra: &[&str]| {
        let out = w.signed(&repo).args(["verify", "--policy"]).arg(&policy).args(extra).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all = verify(&["--all"]);
    assert!(all.contains("deploy/1: ACCEPTED") && all.contains("deploy/4: REJECTED"), "{all}");
    assert_eq!(all.lines().last(), Some("4 tags for environment push: 3 verified, 1 rejected"), "{all}");
    let all = verify(&["--all", "-e", "production"]);
    assert_eq!(all.lines().last(), Some("4 tags for environment production: 0 verified, 4 rejected"), "{all}");

    let quiet = verify(&["--all", "--quiet"]);
    assert_eq!(quiet, "deploy/4: rule 1 (deploy/*: 2 people): needs 2 people, has 1 (alice)\n");
    let out = w.signed(&repo).args(["verify", "deploy/1", "-q", "--policy"]).arg(&policy).output().expect("run");
    assert_eq!((out.status.code(), out.stdout.is_empty()), (Some(0), true), "quiet and fine: nothing to say");
}

#[test]
fn a_failure_under_a_git_older_than_2_45_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let fake = w.path().join("old-git");
    std::fs::create_dir(&fake).expect("mkdir");
    let script = "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'git version 2.39.5'; exit 0; }\nexit 128\n";
    std::fs::write(fake.join("git"), script).expect("write");
    std::fs::set_permissions(fake.join("git"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = std::env::join_paths(std::iter::once(fake).chain(std::env::split_paths(&path_with_binaries())));
    let out = w
        .cmd(bin("git-signed"))
        .args(["verify", "deploy/1", "--policy"])
        .arg(&policy)
        .current_dir(w.path())
        .env("PATH", path.expect("PATH"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("git 2.39.5 is older than 2.45, which git-signed needs; upgrade git"), "{stderr}");
}
