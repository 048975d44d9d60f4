//! What verification remembers (issue "costs that do not grow with history"): signature facts
//! and the `inactivity` history, kept in the mirror's git directory by the hook and in the
//! repository by the CLI. A cache may only ever save time: damaged, raced or outdated, it is
//! rebuilt and the verdict is the one a full verification gives (T30).

mod support;

use std::path::{Path, PathBuf};

use support::*;

/// A mirror whose policy has `inactivity = "6w"`, alice and bob granted today, and a clone to
/// push from.
fn inactive_world() -> (World, PathBuf, PathBuf) {
    let w = World::new();
    let people = standard_people()
        .replacen("version = 1\n", "version = 1\ninactivity = \"6w\"\n", 1)
        .replace("[people.alice]\n", &format!("[people.alice]\ngranted = {}\n", today_utc()))
        .replace("[people.bob]\n", &format!("[people.bob]\ngranted = {}\n", today_utc()));
    w.write("policy.toml", &format!("{people}{DEPLOY_RULES}"));
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    (w, mirror, work)
}

/// Sign `tag` by `signers` on a new commit and push it: (accepted, stderr).
fn push_deploy(w: &World, work: &Path, tag: &str, signers: &[&str]) -> (bool, String) {
    w.commit(work, tag);
    w.sign_chain(work, tag, signers);
    w.push(work, &["origin", &format!("refs/tags/{tag}")])
}

fn cache_file(mirror: &Path, prefix: &str) -> PathBuf {
    let dir = mirror.join("git-signed");
    let found = std::fs::read_dir(&dir).expect("cache dir").filter_map(Result::ok).map(|e| e.path());
    let mut found: Vec<PathBuf> =
        found.filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))).collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {prefix} file in {}", dir.display()))
}

/// Facts cut short (a killed process, a full disk) or altered, and a history whose bytes do
/// not add up, are skipped and rebuilt: the next push is judged as if there were no cache.
#[test]
fn t30_a_damaged_cache_is_rebuilt_never_believed() {
    let (w, mirror, work) = inactive_world();
    let (ok, err) = push_deploy(&w, &work, "deploy/1", &["alice", "bob"]);
    assert!(ok, "{err}");
    let facts = cache_file(&mirror, "facts");
    let history = cache_file(&mirror, "history-");
    let text = std::fs::read_to_string(&facts).expect("facts");
    assert_eq!(text.lines().count(), 3, "a header and one fact per layer: {text}");

    // A line cut off mid-write, and a line with one character changed.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replacen(|c: char| c.is_ascii_digit(), "x", 1);
    let cut = &lines[2][..lines[2].len() / 2];
    std::fs::write(&facts, format!("{}\n{}\n{cut}", lines[0], lines[1])).expect("damage facts");
    // A history that makes carol (never granted, never signed) look active.
    let forged = std::fs::read_to_string(&history).expect("history").replace("\nsum ", "\ncarol 0-4000000000\nsum ");
    std::fs::write(&history, forged).expect("damage history");

    let (ok, err) = push_deploy(&w, &work, "deploy/2", &["carol", "bob"]);
    assert!(!ok, "carol's signature must not count: {err}");
    assert!(err.contains("carol's access lapsed"), "{err}");
    let (ok, err) = push_deploy(&w, &work, "deploy/3", &["alice", "bob"]);
    assert!(ok, "{err}");

    let text = std::fs::read_to_string(&facts).expect("facts");
    let whole = text.lines().skip(1).filter(|l| l.len() > 60).count();
    assert!(whole >= 2, "new facts are appended as whole lines after the cut one: {text}");
    let history = std::fs::read_to_string(cache_file(&mirror, "history-")).expect("history");
    assert!(!history.contains("carol"), "the forged history was rebuilt: {history}");
    let (code, out, _) = w.verify(&mirror, "deploy/3", &[]);
    assert_eq!(code, 0, "{out}");
}

/// Two pushes at once: both are judged, both land, and what they remembered reads back.
#[test]
fn t30_concurrent_pushes_keep_the_cache_whole() {
    let (w, mirror, work) = inactive_world();
    let (ok, err) = push_deploy(&w, &work, "deploy/1", &["alice", "bob"]);
    assert!(ok, "{err}");
    let other = w.clone_of(&mirror, "other");
    w.commit(&work, "two");
    w.sign_chain(&work, "deploy/2", &["alice", "bob"]);
    w.commit(&other, "three");
    w.sign_chain(&other, "deploy/3", &["alice", "bob"]);
    let spawn = |repo: &Path, tag: &str| {
        w.git(repo)
            .args(["push", "-q", "origin", &format!("refs/tags/{tag}")])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("push")
    };
    let (a, b) = (spawn(&work, "deploy/2"), spawn(&other, "deploy/3"));
    for child in [a, b] {
        let out = child.wait_with_output().expect("push");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, out, _) = w.verify(&mirror, "deploy/2", &[]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(cache_file(&mirror, "facts")).expect("facts");
    assert!(
        text.lines().skip(1).all(|l| l.split(' ').count() == 7),
        "only whole facts (id, certificate, key, created, expires, touch, checksum): {text}"
    );
    let (ok, err) = push_deploy(&w, &work, "deploy/4", &["alice", "bob"]);
    assert!(ok, "{err}");
}

/// A fact remembered for alice's signature is not reused once her key leaves the policy.
#[test]
fn t30_a_key_removed_from_the_policy_is_not_excused_by_remembered_facts() {
    let (w, mirror, work) = inactive_world();
    for n in 1..=3 {
        let (ok, err) = push_deploy(&w, &work, &format!("deploy/{n}"), &["alice", "bob"]);
        assert!(ok, "{err}");
    }
    let (code, out, _) = w.verify(&mirror, "--all", &[]);
    assert_eq!(code, 0, "{out}");
    let policy = std::fs::read_to_string(w.path().join("policy.toml")).expect("policy");
    w.write(
        "policy.toml",
        &policy.replace(r#"keys = ["keys/alice.asc", "keys/alice2.asc"]"#, r#"keys = ["keys/alice2.asc"]"#),
    );
    let (code, out, _) = w.verify(&mirror, "--all", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not in the policy"), "{out}");
}
