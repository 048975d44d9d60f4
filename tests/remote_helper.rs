//! `git clone/fetch/ls-remote/push signed::…` with the real git and the real helper, against
//! an upstream holding good and bad tags (as a compromised mirror would serve them): every
//! clone and fetch shape the issue lists, Concourse's check/in/out command sequences, and
//! T14, T15, T20, T21.

mod support;

use std::process::Output;

use support::*;

/// Upstream (no hook: it may be compromised) with
/// - `deploy/1` alice+bob on c2, `deploy/2` alice only on c3, `deploy/3` alice+bob+staging-ci on c4,
/// - `deploy/4` lightweight on c5, `v1.0` unprotected annotated on c4, `main` = c5.
type Fixture = Upstream;

impl Fixture {
    fn new() -> Fixture {
        let w = World::new();
        w.policy(DEPLOY_RULES);
        let work = w.repo("work");
        w.commit(&work, "c2");
        w.sign_chain(&work, "deploy/1", &["alice", "bob"]);
        w.commit(&work, "c3");
        w.sign_chain(&work, "deploy/2", &["alice"]);
        w.commit(&work, "c4");
        w.sign_chain(&work, "deploy/3", &["alice", "bob", "staging-ci"]);
        w.git_ok(&work, &["tag", "-a", "-m", "release", "v1.0"]);
        w.commit(&work, "c5");
        w.git_ok(&work, &["tag", "deploy/4"]);
        run_ok(w.git(w.path()).args(["init", "-q", "--bare", "upstream.git"]));
        let upstream = w.path().join("upstream.git");
        w.git_ok(&work, &["push", "-q", upstream.to_str().expect("utf8"), "main", "refs/tags/*:refs/tags/*"]);
        Fixture { w, upstream, work }
    }

    fn tags(&self, repo: &str) -> Vec<String> {
        let out = self.w.git_ok(&self.w.path().join(repo), &["tag", "--list"]);
        out.lines().map(ToOwned::to_owned).collect()
    }

    fn has_object(&self, repo: &str, id: &str) -> bool {
        self.w
            .git(&self.w.path().join(repo))
            .env("GIT_NO_LAZY_FETCH", "1")
            .args(["cat-file", "-e", id])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {err}");
    err
}

fn failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should have failed: {err}");
    err
}

#[test]
fn clone_sees_only_tags_that_verify() {
    let f = Fixture::new();
    let err = ok(&f.clone_as("staging", "c", &[]));
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
    assert!(
        err.contains("hiding refs/tags/deploy/2: rule 1 (deploy/*: 2 people): needs 2 people, has 1 (alice)"),
        "{err}"
    );
    assert!(err.contains("hiding refs/tags/deploy/4: lightweight tag, not signed"), "{err}");
    assert!(!f.has_object("c", &f.id("deploy/2")), "objects of a hidden tag never enter the clone");
    assert_eq!(f.w.git_ok(&f.w.path().join("c"), &["rev-parse", "HEAD"]), f.id("main"));
    f.w.git_ok(&f.w.path().join("c"), &["fsck", "--strict"]);
}

#[test]
fn production_sees_a_tag_only_after_the_staging_machine_signed() {
    let f = Fixture::new();
    ok(&f.clone_as("production", "p1", &[]));
    assert_eq!(f.tags("p1"), vec!["deploy/3"], "deploy/1 lacks the staging-ci layer");
    f.w.sign(&f.work, "staging-ci", "deploy/1", "deploy/1");
    f.w.git_ok(&f.work, &["push", "-q", "-f", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/1"]);
    let p1 = f.w.path().join("p1");
    ok(&f.git_as("production", &p1).args(["fetch", "--tags"]).output().expect("fetch"));
    assert_eq!(f.tags("p1"), vec!["deploy/1", "deploy/3"]);
}

#[test]
fn bare_and_mirror_clones_hide_unverified_tags() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "b.git", &["--bare"]));
    assert_eq!(f.tags("b.git"), vec!["deploy/1", "deploy/3"]);
    ok(&f.clone_as("staging", "m.git", &["--mirror"]));
    assert_eq!(f.tags("m.git"), vec!["deploy/1", "deploy/3"]);
}

#[test]
fn shallow_single_branch_clone_with_tags_follows_only_verified_tags() {
    let f = Fixture::new();
    // Two tags on the tip: one verified, one not (the lightweight deploy/4 is there too).
    f.w.sign_chain(&f.work, "deploy/5", &["alice", "bob"]);
    f.w.sign_chain(&f.work, "deploy/6", &["bob"]);
    f.w.git_ok(
        &f.work,
        &["push", "-q", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/5", "refs/tags/deploy/6"],
    );
    ok(&f.clone_as("staging", "s", &["--single-branch", "--depth", "1", "--branch", "main", "--tags"]));
    assert_eq!(f.tags("s"), vec!["deploy/5"]);
    assert!(f.w.path().join("s/.git/shallow").exists(), "depth must not become a silent full clone");
    assert_eq!(f.w.git_ok(&f.w.path().join("s"), &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn single_branch_clone_follows_tags_on_its_history() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "s", &["--single-branch"]));
    assert_eq!(f.tags("s"), vec!["deploy/1", "deploy/3"]);
}

#[test]
fn clone_branch_of_verified_tag_works_and_hidden_tag_fails() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "good", &["--branch", "deploy/1"]));
    assert_eq!(f.w.git_ok(&f.w.path().join("good"), &["rev-parse", "HEAD"]), f.id("deploy/1^{}"));
    let err = failed(&f.clone_as("staging", "bad", &["--branch", "deploy/2"]));
    assert!(err.contains("deploy/2"), "{err}");
}

#[test]
fn deepen_and_unshallow_work_through_the_helper() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "d", &["--depth", "1"]));
    let d = f.w.path().join("d");
    let count = || f.w.git_ok(&d, &["rev-list", "--count", "HEAD"]);
    assert_eq!(count(), "1");
    ok(&f.git_as("staging", &d).args(["fetch", "--deepen", "2", "origin"]).output().expect("deepen"));
    assert_eq!(count(), "3");
    ok(&f.git_as("staging", &d).args(["fetch", "--unshallow", "origin"]).output().expect("unshallow"));
    assert_eq!(count(), "5");
    assert!(!d.join(".git/shallow").exists());
    f.w.git_ok(&d, &["fsck"]);
}

/// A listing the cache answers whole (nothing changed on the mirror) leaves the verified chains
/// in the cache; a fetch that then needs them to follow tags reads them there. If they are
/// gone meanwhile, that fetch fails, storing nothing, and the next one verifies anew.
#[test]
fn a_fetch_after_an_unchanged_listing_follows_tags_from_the_cache() {
    let f = Fixture::new();
    let unshallow = |dir: &str| {
        f.git_as("staging", &f.w.path().join(dir)).args(["fetch", "--unshallow", "origin"]).output().expect("fetch")
    };
    ok(&f.clone_as("staging", "d", &["--depth", "1"]));
    assert!(f.tags("d").is_empty(), "the verified tags are on older commits");
    ok(&unshallow("d"));
    assert_eq!(f.tags("d"), vec!["deploy/1", "deploy/3"]);

    ok(&f.clone_as("staging", "e", &["--depth", "1"]));
    let cache = std::fs::read_dir(f.w.path().join("home/.cache/git-signed"))
        .expect("cache")
        .next()
        .expect("one")
        .expect("entry");
    std::fs::remove_file(cache.path().join("verdicts")).expect("forget the verdicts");
    let err = failed(&unshallow("e"));
    assert!(err.contains("no longer holds what verified deploy/"), "{err}");
    assert!(f.tags("e").is_empty() && !f.has_object("e", &f.id("deploy/1")), "nothing stored");
    ok(&unshallow("e"));
    assert_eq!(f.tags("e"), vec!["deploy/1", "deploy/3"]);
}

#[test]
fn fetch_auto_follows_verified_tags_only() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "a", &["--single-branch"]));
    f.w.commit(&f.work, "c6");
    f.w.sign_chain(&f.work, "deploy/6", &["alice", "bob"]);
    f.w.sign_chain(&f.work, "deploy/7", &["alice"]);
    let up = f.upstream.to_str().expect("utf8");
    f.w.git_ok(&f.work, &["push", "-q", up, "main", "refs/tags/deploy/6", "refs/tags/deploy/7"]);
    let a = f.w.path().join("a");
    ok(&f.git_as("staging", &a).args(["fetch", "origin"]).output().expect("fetch"));
    assert_eq!(f.tags("a"), vec!["deploy/1", "deploy/3", "deploy/6"]);
    assert!(!f.has_object("a", &f.id("deploy/7")));
}

#[test]
fn ls_remote_outside_a_repository() {
    let f = Fixture::new();
    let out = f.git_as("staging", f.w.path()).args(["ls-remote", &f.url()]).output().expect("ls-remote");
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refs/tags/deploy/1\n"), "{text}");
    assert!(text.contains("refs/tags/deploy/1^{}"), "{text}");
    assert!(!text.contains("deploy/2") && !text.contains("deploy/4") && !text.contains("v1.0"), "{text}");
    assert!(text.contains("refs/heads/main"), "{text}");
}

#[test]
fn unprotected_tags_pass_only_when_allowed() {
    let f = Fixture::new();
    let out = f
        .git_as("staging", f.w.path())
        .args(["-c", "signed.allowUnprotectedTags=true", "clone", &f.url(), "u"])
        .output()
        .expect("clone");
    ok(&out);
    assert_eq!(f.tags("u"), vec!["deploy/1", "deploy/3", "v1.0"]);
}

#[test]
fn strict_mode_fails_instead_of_hiding() {
    let f = Fixture::new();
    let out = f
        .git_as("staging", f.w.path())
        .args(["-c", "signed.strict=true", "clone", &f.url(), "x"])
        .output()
        .expect("clone");
    let err = failed(&out);
    assert!(err.contains("signed.strict") && err.contains("deploy/2"), "{err}");
}

#[test]
fn a_clones_transfer_is_discarded_when_the_listing_fails() {
    // A fetch into a repository without refs, from a named remote, looks like a clone: the
    // helper starts the transfer while it lists. Strict mode then fails the listing.
    let f = Fixture::new();
    run_ok(f.w.git(f.w.path()).args(["init", "-q", "e"]));
    let e = f.w.path().join("e");
    f.w.git_ok(&e, &["remote", "add", "origin", &f.url()]);
    let err = failed(
        &f.git_as("staging", &e)
            .env("GIT_SIGNED_TRACE", "1")
            .args(["-c", "signed.strict=true", "fetch", "origin"])
            .output()
            .expect("fetch"),
    );
    assert!(err.contains("signed.strict") && err.contains("deploy/2"), "{err}");
    assert!(err.contains("prefetch started"), "the transfer was started while listing: {err}");
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() { files(&path, out) } else { out.push(path) }
        }
    }
    let mut left = Vec::new();
    files(&e.join(".git/objects"), &mut left);
    assert!(left.is_empty(), "nothing of the transfer is left: {left:?}");
    assert!(!f.has_object("e", &f.id("main")), "nor visible");
}

#[test]
fn no_environment_or_no_policy_fails_closed() {
    let f = Fixture::new();
    let out =
        f.w.git(f.w.path())
            .env("GIT_SIGNED_POLICY", f.w.path().join("policy.toml"))
            .args(["clone", &f.url(), "x"])
            .output()
            .expect("clone");
    assert!(failed(&out).contains("no environment"));
    let out =
        f.w.git(f.w.path()).env("GIT_SIGNED_ENVIRONMENT", "ci").args(["clone", &f.url(), "y"]).output().expect("clone");
    assert!(failed(&out).contains("no policy"));
    f.w.write("policy.toml", "version = 1\n");
    let err = failed(&f.clone_as("ci", "z", &[]));
    assert!(err.contains("policy error"), "{err}");
}

#[test]
fn t15_fetch_of_unverified_tag_by_object_id_stores_nothing() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    let c = f.w.path().join("c");
    let bad = f.id("deploy/2");
    run_ok(f.w.git(&f.upstream).args(["config", "uploadpack.allowAnySHA1InWant", "true"]));
    let out = f.git_as("staging", &c).args(["fetch", "origin", &bad]).output().expect("fetch");
    let err = failed(&out);
    assert!(err.contains("refusing unverified tag object"), "{err}");
    assert!(!f.has_object("c", &bad), "the refused tag object must not be stored");
    let leftovers: Vec<_> = std::fs::read_dir(c.join(".git/objects"))
        .expect("objects")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("incoming-signed"))
        .collect();
    assert!(leftovers.is_empty(), "quarantine removed");
}

#[test]
fn t15_mirror_moving_a_tag_to_an_unverified_object_hides_it() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    // The compromised mirror replaces deploy/1 with a one-person tag on another commit.
    let c = f.w.path().join("c");
    let evil = f.w.repo("evil");
    f.w.sign_chain(&evil, "deploy/1", &["mallory", "alice"]);
    f.w.git_ok(
        &evil,
        &["push", "-q", "-f", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/1", "HEAD:refs/heads/evil"],
    );
    let out = f.git_as("staging", &c).args(["fetch", "--tags", "-f"]).output().expect("fetch");
    let err = ok(&out);
    assert!(err.contains("hiding refs/tags/deploy/1"), "{err}");
    assert_eq!(f.w.git_ok(&c, &["rev-parse", "deploy/1"]), f.id("deploy/1"), "the verified tag stays");
}

#[test]
fn t14_tag_object_under_another_ref_and_replace_refs_are_hidden() {
    let f = Fixture::new();
    let up = f.upstream.to_str().expect("utf8");
    f.w.git_ok(&f.work, &["push", "-q", up, "refs/tags/deploy/2:refs/foo/sneaky"]);
    let head = f.id("main");
    let other = f.id("main~1");
    f.w.git_ok(&f.work, &["push", "-q", up, &format!("{other}:refs/replace/{head}")]);
    ok(&f.clone_as("staging", "m.git", &["--mirror"]));
    let m = f.w.path().join("m.git");
    let refs = f.w.git_ok(&m, &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/foo/sneaky"), "{refs}");
    assert!(!refs.contains("refs/replace/"), "{refs}");
    assert!(!f.has_object("m.git", &f.id("deploy/2")));
}

#[test]
fn t21_ref_shadowing_a_protected_tag_is_hidden() {
    let f = Fixture::new();
    let up = f.upstream.to_str().expect("utf8");
    f.w.git_ok(&f.work, &["push", "-q", up, "main~1:refs/deploy/1"]);
    ok(&f.clone_as("staging", "m.git", &["--mirror"]));
    let refs = f.w.git_ok(&f.w.path().join("m.git"), &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/deploy/1"), "{refs}");
    let m = f.w.path().join("m.git");
    assert_eq!(f.w.git_ok(&m, &["rev-parse", "deploy/1"]), f.id("deploy/1"), "deploy/1 resolves to the tag");
}

#[test]
fn t20_insteadof_loop_does_not_recurse() {
    // The Concourse pattern: every URL under a prefix goes through signed::, including the
    // helper's own inner git commands unless it neutralises the rewrite.
    let f = Fixture::new();
    let prefix = format!("{}/", f.w.path().display());
    let plain = f.upstream.to_str().expect("utf8").to_owned();
    let out = f
        .git_as("staging", f.w.path())
        .args(["-c", &format!("url.signed::{prefix}.insteadOf={prefix}"), "clone", &plain, "loop"])
        .output()
        .expect("clone");
    ok(&out);
    assert_eq!(f.tags("loop"), vec!["deploy/1", "deploy/3"], "went through the helper exactly once");
}

#[test]
fn t20_insteadof_rule_for_the_exact_url_fails_cleanly() {
    // A rule for the whole URL ties with the helper's own self-mapping; git then keeps the
    // user's rule, and the recursion guard stops the second helper at once.
    let f = Fixture::new();
    let plain = f.upstream.to_str().expect("utf8").to_owned();
    let out = f
        .git_as("staging", f.w.path())
        .args(["-c", &format!("url.signed::{plain}.insteadOf={plain}"), "clone", &plain, "loop"])
        .output()
        .expect("clone");
    let err = failed(&out);
    assert!(err.contains("refusing to recurse"), "{err}");
}

#[test]
fn t20_partial_clone_lazy_fetch_does_not_recurse() {
    let f = Fixture::new();
    run_ok(f.w.git(&f.upstream).args(["config", "uploadpack.allowFilter", "true"]));
    let out = f.clone_as("staging", "pc.git", &["--bare", "--filter=tree:0", "--single-branch", "--branch", "main"]);
    ok(&out);
    let pc = f.w.path().join("pc.git");
    let out = f.git_as("staging", &pc).args(["log", "--oneline", "-1", "--stat", "main"]).output().expect("log");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn push_through_the_helper_reports_each_ref() {
    let f = Fixture::new();
    // A mirror with the hook this time.
    let mirror = f.w.mirror("mirror.git");
    let url = format!("signed::{}", mirror.display());
    let p = f.w.path().join("p");
    run_ok(f.w.git(f.w.path()).args(["init", "-q", "p"]));
    f.w.commit(&p, "one");
    let push = |args: &[&str]| f.git_as("staging", &p).arg("push").arg(&url).args(args).output().expect("push");
    ok(&push(&["HEAD:refs/heads/main"]));
    f.w.commit(&p, "two");
    ok(&push(&["HEAD:refs/heads/main"]));
    f.w.sign_chain(&p, "deploy/9", &["alice"]);
    let err = failed(&push(&["refs/tags/deploy/9"]));
    assert!(err.contains("[remote rejected]") && err.contains("needs 2 people"), "{err}");
    f.w.git_ok(&p, &["reset", "-q", "--hard", "HEAD~1"]);
    let err = failed(&push(&["HEAD:refs/heads/main"]));
    assert!(err.contains("[rejected]"), "{err}");
    ok(&push(&["HEAD:refs/heads/other"]));
    ok(&push(&[":refs/heads/other"]));
    assert!(
        f.w.git(&mirror)
            .args(["rev-parse", "-q", "--verify", "refs/heads/other"])
            .output()
            .is_ok_and(|o| !o.status.success())
    );
}

#[test]
fn no_op_fetch_uses_cached_verdicts() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    let caches: Vec<_> = std::fs::read_dir(f.w.path().join("home/.cache/git-signed"))
        .expect("cache")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(caches.len(), 1, "one cache per URL");
    let verdicts = || std::fs::read_to_string(caches[0].join("verdicts")).expect("verdicts").lines().count();
    assert_eq!(verdicts(), 2, "deploy/1 and deploy/3 were verified and remembered");
    let c = f.w.path().join("c");
    ok(&f.git_as("staging", &c).args(["fetch", "--tags"]).output().expect("fetch"));
    ok(&f.git_as("staging", &c).args(["ls-remote", "origin"]).output().expect("ls-remote"));
    assert_eq!(verdicts(), 2, "nothing was verified again");
}

/// A clone transfers once: the tag objects verification reads arrive with the clone's own
/// objects (not fetched into the tag cache first and then again), and the tag cache keeps the
/// chains that verified, so a later listing finds them there instead of fetching them.
#[test]
fn a_cold_clone_transfers_once_and_keeps_what_verified() {
    let f = Fixture::new();
    // Count the mirror's upload-pack runs in git's own trace.
    let log = f.w.path().join("trace");
    let runs = || {
        let trace = std::fs::read_to_string(&log).unwrap_or_default();
        trace.lines().filter(|l| l.contains("built-in: git upload-pack")).count()
    };

    let url = f.url();
    ok(&f.git_as("staging", f.w.path()).env("GIT_TRACE", &log).args(["clone", &url, "c"]).output().expect("clone"));
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
    assert_eq!(runs(), 2, "one listing and one transfer");
    assert!(!f.has_object("c", &f.id("deploy/2")), "a hidden tag's object still never enters the clone");

    let caches: Vec<_> = std::fs::read_dir(f.w.path().join("home/.cache/git-signed"))
        .expect("cache")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let cached = |id: &str| {
        let mut git = f.w.git(f.w.path());
        git.env("GIT_NO_LAZY_FETCH", "1").arg("--git-dir").arg(caches[0].join("tags.git"));
        git.args(["cat-file", "-e", id]);
        git.output().is_ok_and(|o| o.status.success())
    };
    assert!(cached(&f.id("deploy/1")) && cached(&f.id("deploy/3")), "the verified chains are kept");
    assert!(!cached(&f.id("deploy/2")), "a tag that failed is not");

    // The mirror drops the tag that failed: a new listing, whose remembered verdicts hold and
    // whose chains are in the cache, so nothing is fetched into it.
    assert!(caches[0].join("snapshot").exists(), "the listing was recorded once the chains were kept");
    f.w.git_ok(&f.upstream, &["tag", "-d", "deploy/2"]);
    std::fs::remove_file(&log).expect("log");
    let c = f.w.path().join("c");
    ok(&f.git_as("staging", &c).env("GIT_TRACE", &log).args(["fetch", "--tags"]).output().expect("fetch"));
    assert_eq!(runs(), 1, "only the listing");
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
}

/// A remembered verdict lasts only while time leaves it standing (T30): once a signature in
/// it expires, the next listing hides the tag, though nothing on the mirror changed.
#[test]
fn t30_a_remembered_verdict_ends_when_a_signature_in_it_expires() {
    let w = World::new();
    let now = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs(),
        );
    let validity = std::time::Duration::from_secs(3);
    let mut carol = SqKey::new("carol", now - 30 * DAY, None);
    carol.signature_validity = Some(validity);
    w.write("policy.toml", &format!("{}{DEPLOY_RULES}", w.people_with_sq_carol(&carol)));
    let work = w.repo("work");
    w.sign_sq(&work, &carol, "deploy/1", "HEAD", now, sequoia_openpgp::types::HashAlgorithm::SHA256);
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "upstream.git"]));
    let upstream = w.path().join("upstream.git");
    w.git_ok(
        &work,
        &["push", "-q", upstream.to_str().expect("utf8"), "HEAD:refs/heads/main", "refs/tags/*:refs/tags/*"],
    );
    let list = || {
        let out = w
            .git(w.path())
            .env("GIT_SIGNED_POLICY", w.path().join("policy.toml"))
            .env("GIT_SIGNED_ENVIRONMENT", "staging")
            .args(["ls-remote", &format!("signed::{}", upstream.display())])
            .output()
            .expect("ls-remote");
        ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(list().contains("refs/tags/deploy/1\n"), "listed while carol's signature is valid");
    assert!(list().contains("refs/tags/deploy/1\n"), "and again from what was remembered");
    let expired = now + validity + std::time::Duration::from_secs(1);
    while std::time::SystemTime::now() < expired {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let text = list();
    assert!(!text.contains("deploy/1"), "hidden once it expired: {text}");
}

// Concourse git-resource's check, in and out, replayed verbatim against signed::, configured
// the way `source.git_config` does it (git config --global, single-token values).
fn concourse_global_config(f: &Fixture, env: &str) {
    let home_git = |args: &[&str]| f.w.git_ok(f.w.path(), args);
    home_git(&["config", "--global", "signed.environment", env]);
    home_git(&["config", "--global", "signed.policy", f.w.path().join("policy.toml").to_str().expect("utf8")]);
}

#[test]
fn concourse_check_with_tag_filter_yields_only_verified_versions() {
    let f = Fixture::new();
    concourse_global_config(&f, "staging");
    let dest = f.w.path().join("git-resource-repo-cache");
    run_ok(
        f.w.git(f.w.path())
            .args(["clone", "--bare", "--filter=tree:0", "--progress", &f.url()])
            .arg(&dest)
            .arg("--tags"),
    );
    let versions = f.w.git_ok(&dest, &["tag", "--sort=creatordate", "--list", "deploy/*"]);
    assert_eq!(versions.lines().collect::<Vec<_>>(), vec!["deploy/1", "deploy/3"]);
    run_ok(f.w.git(&dest).args(["fetch", "origin", "refs/heads/*:refs/heads/*", "--tags", "-f"]));
    let fast = f.w.git_ok(f.w.path(), &["ls-remote", &f.url(), "main"]);
    assert!(fast.starts_with(&f.id("main")));
}

#[test]
fn concourse_check_without_tags() {
    let f = Fixture::new();
    concourse_global_config(&f, "ci");
    let dest = f.w.path().join("cache");
    run_ok(
        f.w.git(f.w.path())
            .args(["clone", "--bare", "--filter=tree:0", "--single-branch", "--progress", &f.url(), "--branch", "main"])
            .arg(&dest)
            .arg("--no-tags"),
    );
    run_ok(f.w.git(&dest).args(["remote", "set-branches", "--add", "origin", "main"]));
    f.w.commit(&f.work, "c6");
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "main"]);
    run_ok(f.w.git(&dest).args(["fetch", "origin", "--no-tags", "main", "-f"]));
    run_ok(f.w.git(&dest).args(["reset", "--soft", "FETCH_HEAD"]));
    assert_eq!(f.w.git_ok(&dest, &["rev-parse", "HEAD"]), f.id("main"));
}

#[test]
fn concourse_in_of_verified_tag_works_and_hidden_tag_fails() {
    let f = Fixture::new();
    concourse_global_config(&f, "staging");
    let dest = f.w.path().join("in");
    run_ok(
        f.w.git(f.w.path())
            .args(["clone", "--progress", "--single-branch", "--depth", "1", &f.url(), "--branch", "main"])
            .arg(&dest)
            .arg("--tags"),
    );
    run_ok(f.w.git(&dest).args(["fetch", "origin", "refs/notes/*:refs/notes/*", "--tags"]));
    // deepen_shallow_clone_until_ref_is_found_then_check_out 1 deploy/1 --tags
    let mut depth = 1;
    while !f.w.git(&dest).args(["checkout", "-f", "-q", "deploy/1~0"]).output().expect("checkout").status.success() {
        depth *= 2;
        run_ok(f.w.git(&dest).args(["fetch", "--deepen", &depth.to_string(), "origin", "--tags"]));
        assert!(depth < 128, "deploy/1 never appeared");
    }
    run_ok(f.w.git(&dest).args(["checkout", "-f", "-q", "deploy/1"]));
    assert_eq!(f.w.git_ok(&dest, &["rev-parse", "HEAD"]), f.id("deploy/1^{}"));
    let out = f.w.git(&dest).args(["checkout", "-f", "-q", "deploy/2"]).output().expect("checkout");
    assert!(!out.status.success(), "in of a hidden tag fails");
}

#[test]
fn concourse_out_pushes_through_the_same_url() {
    let f = Fixture::new();
    concourse_global_config(&f, "staging");
    let dest = f.w.path().join("out");
    run_ok(f.w.git(f.w.path()).args(["clone", "-q", &f.url()]).arg(&dest));
    f.w.commit(&dest, "from the pipeline");
    run_ok(f.w.git(&dest).args(["remote", "add", "push-target", &f.url()]));
    let out = f.w.git(&dest).args(["push", "--tags", "push-target", "HEAD:refs/heads/main"]).output().expect("push");
    ok(&out);
    assert_eq!(f.w.git_ok(&f.upstream, &["rev-parse", "main"]), f.w.git_ok(&dest, &["rev-parse", "HEAD"]));
}

#[test]
fn helper_has_help() {
    let w = World::new();
    let out = w.cmd(bin("git-remote-signed")).arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed.environment"));
}

#[test]
fn shallow_since_and_shallow_exclude_reach_the_inner_fetch() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "ex", &["--shallow-exclude", "deploy/3", "--branch", "main"]));
    let ex = f.w.path().join("ex");
    assert_eq!(f.w.git_ok(&ex, &["rev-list", "--count", "HEAD"]), "1", "history stops above deploy/3's commit");
    assert!(ex.join(".git/shallow").exists());
    ok(&f.clone_as("staging", "since", &["--shallow-since", "2000-01-01"]));
    assert!(
        !f.w.path().join("since/.git/shallow").exists()
            || f.w.git_ok(&f.w.path().join("since"), &["rev-list", "--count", "HEAD"]) == "5"
    );
}

#[test]
fn concurrent_clones_share_the_tag_cache_safely() {
    let f = Fixture::new();
    let results: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let f = &f;
                s.spawn(move || f.clone_as("staging", &format!("par{i}"), &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for (i, out) in results.iter().enumerate() {
        ok(out);
        assert_eq!(f.tags(&format!("par{i}")), vec!["deploy/1", "deploy/3"]);
    }
}

#[test]
fn protocol_allow_never_makes_the_helper_unavoidable() {
    let f = Fixture::new();
    let home = |args: &[&str]| f.w.git_ok(f.w.path(), args);
    home(&["config", "--global", "protocol.allow", "never"]);
    home(&["config", "--global", "protocol.signed.allow", "always"]);
    let plain =
        f.w.git(f.w.path())
            .args(["clone", "-q", &format!("file://{}", f.upstream.display()), "around"])
            .output()
            .expect("clone");
    assert!(!plain.status.success(), "a plain URL is refused");
    ok(&f.clone_as("production", "through", &[]));
    assert_eq!(f.tags("through"), vec!["deploy/3"]);
}

/// A server on a free loopback port serving the fixture's upstream, in its own process group,
/// stopped with everything it started on drop (`git daemon` runs `git-daemon` as a child).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.0.id()) {
            // SAFETY: signals the process group this test created for the server.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

/// Start `server`, then wait until `git ls-remote url` answers.
fn serve(f: &Fixture, mut server: std::process::Command, url: String) -> (Daemon, String) {
    use std::os::unix::process::CommandExt;
    let child = server
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start server");
    let daemon = Daemon(child);
    for _ in 0..100 {
        if f.w.git(f.w.path()).args(["ls-remote", &url]).output().is_ok_and(|o| o.status.success()) {
            return (daemon, url);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no server answered at {url}");
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn git_daemon(f: &Fixture) -> (Daemon, String) {
    let port = free_port();
    let mut cmd = f.w.cmd("git");
    cmd.args(["daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1", &format!("--port={port}")])
        .arg(format!("--base-path={}", f.w.path().display()))
        .arg(f.w.path());
    serve(f, cmd, format!("git://127.0.0.1:{port}/upstream.git"))
}

#[test]
fn clone_and_fetch_over_the_git_protocol() {
    let f = Fixture::new();
    let (_daemon, url) = git_daemon(&f);
    let out =
        f.git_as("staging", f.w.path()).args(["clone", &format!("signed::{url}"), "net"]).output().expect("clone");
    ok(&out);
    assert_eq!(f.tags("net"), vec!["deploy/1", "deploy/3"]);
    let net = f.w.path().join("net");
    f.w.commit(&f.work, "c6");
    f.w.sign_chain(&f.work, "deploy/6", &["alice", "bob"]);
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "main", "refs/tags/deploy/6"]);
    ok(&f.git_as("staging", &net).args(["fetch", "origin"]).output().expect("fetch"));
    assert_eq!(f.tags("net"), vec!["deploy/1", "deploy/3", "deploy/6"]);
    let shallow = f
        .git_as("staging", f.w.path())
        .args(["clone", "--depth", "1", &format!("signed::{url}"), "netshallow"])
        .output()
        .expect("clone");
    ok(&shallow);
    assert_eq!(f.w.git_ok(&f.w.path().join("netshallow"), &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn t1_lightweight_and_unsigned_tags_are_hidden() {
    let f = Fixture::new();
    f.w.git_ok(&f.work, &["tag", "-a", "-m", "not signed", "deploy/8", "main~2"]);
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/8"]);
    let err = ok(&f.clone_as("staging", "c", &[]));
    assert!(err.contains("hiding refs/tags/deploy/4: lightweight tag, not signed"), "{err}");
    assert!(err.contains("hiding refs/tags/deploy/8") && err.contains("is not signed"), "{err}");
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
    assert!(!f.has_object("c", &f.id("deploy/8")));
}

#[test]
fn t3_tag_with_a_layer_by_an_unknown_key_is_hidden() {
    let f = Fixture::new();
    f.w.sign(&f.work, "mallory", "deploy/1", "deploy/1");
    f.w.git_ok(&f.work, &["push", "-q", "-f", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/1"]);
    let err = ok(&f.clone_as("staging", "c", &[]));
    assert!(err.contains("hiding refs/tags/deploy/1") && err.contains("not in the policy"), "{err}");
    assert_eq!(f.tags("c"), vec!["deploy/3"]);
}

#[test]
fn cli_and_helper_give_the_same_verdicts() {
    let f = Fixture::new();
    for env in ["ci", "staging", "production"] {
        let out =
            f.w.signed(&f.work)
                .args(["verify", "--all", "--format", "json", "-e", env, "--policy"])
                .arg(f.w.path().join("policy.toml"))
                .output()
                .expect("verify");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let accepted: Vec<String> = v["result"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter(|t| t["accepted"] == true)
            .map(|t| t["tag"].as_str().unwrap_or_default().to_owned())
            .collect();
        ok(&f.clone_as(env, &format!("agree-{env}"), &[]));
        assert_eq!(f.tags(&format!("agree-{env}")), accepted, "environment {env}");
    }
}

#[test]
fn removing_a_signer_from_the_policy_hides_their_tags_and_prune_tags_drops_them() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
    // bob leaves: his key is removed from the policy.
    let without_bob = std::fs::read_to_string(f.w.path().join("policy.toml"))
        .expect("policy")
        .replace("[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n", "")
        .replace("sponsor = \"bob\"\n", "");
    f.w.write("policy.toml", &without_bob);
    let c = f.w.path().join("c");
    let err =
        ok(&f.git_as("staging", &c).args(["fetch", "--prune", "--prune-tags", "origin"]).output().expect("fetch"));
    assert!(err.contains("hiding refs/tags/deploy/1"), "{err}");
    assert!(f.tags("c").is_empty(), "tags bob signed are gone: {:?}", f.tags("c"));
}

#[test]
fn t14_unprotected_tag_wrapping_a_protected_one_stays_hidden_even_when_unprotected_tags_are_allowed() {
    let f = Fixture::new();
    f.w.git_ok(&f.work, &["tag", "-a", "-m", "looks harmless", "v2.0", "deploy/2"]);
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "refs/tags/v2.0"]);
    let out = f
        .git_as("staging", f.w.path())
        .args(["-c", "signed.allowUnprotectedTags=true", "clone", &f.url(), "u"])
        .output()
        .expect("clone");
    ok(&out);
    assert_eq!(f.tags("u"), vec!["deploy/1", "deploy/3", "v1.0"]);
    assert!(!f.has_object("u", &f.id("deploy/2")));
}

/// A smart-HTTP server (`git http-backend` behind Python's CGI server) for the fixture's
/// upstream on a free loopback port, stopped on drop. Python's server runs CGI scripts as
/// `nobody` when started as root, hence the permissions and `safe.directory`.
fn http_backend(f: &Fixture) -> (Daemon, String) {
    use std::os::unix::fs::PermissionsExt;
    let root = f.w.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cgi = root.join("www/cgi-bin");
    std::fs::create_dir_all(&cgi).expect("mkdir");
    let script = cgi.join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport GIT_PROJECT_ROOT={} GIT_HTTP_EXPORT_ALL=1 GIT_CONFIG_COUNT=1 \
             GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'\nexec git http-backend\n",
            root.display()
        ),
    )
    .expect("cgi");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let port = free_port();
    let mut cmd = f.w.cmd("python3");
    cmd.current_dir(root.join("www")).args(["-m", "http.server", "--cgi", "--bind", "127.0.0.1", &port.to_string()]);
    serve(f, cmd, format!("http://127.0.0.1:{port}/cgi-bin/git/upstream.git"))
}

#[test]
fn clone_and_ls_remote_over_smart_http() {
    let f = Fixture::new();
    let (_server, url) = http_backend(&f);
    ok(&f.git_as("staging", f.w.path()).args(["clone", &format!("signed::{url}"), "web"]).output().expect("clone"));
    assert_eq!(f.tags("web"), vec!["deploy/1", "deploy/3"]);
    assert!(!f.has_object("web", &f.id("deploy/2")));
    let web = f.w.path().join("web");
    let out = f.git_as("staging", &web).args(["ls-remote", "--tags", "origin"]).output().expect("ls-remote");
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("deploy/2"));
}

// The clone's transfer made while listing (review findings on a42f18f, each test failed then).

/// The tag cache directory of the one URL a test used.
fn tag_cache(f: &Fixture) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(f.w.path().join("home/.cache/git-signed"))
        .expect("cache")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tags.git").exists())
        .collect();
    assert_eq!(dirs.len(), 1);
    dirs.remove(0)
}

fn in_tag_cache(f: &Fixture, id: &str) -> bool {
    let mut git = f.w.git(f.w.path());
    git.env("GIT_NO_LAZY_FETCH", "1").arg("--git-dir").arg(tag_cache(f).join("tags.git"));
    git.args(["cat-file", "-e", id]).output().is_ok_and(|o| o.status.success())
}

/// A shallow mirror with a tag verification hides: the transfer is repacked without it, and
/// the clone stays shallow (the repository's shallow file goes with the transfer).
#[test]
fn a_clone_of_a_shallow_mirror_with_a_hidden_tag_stays_shallow() {
    let f = Fixture::new();
    let src = format!("file://{}", f.upstream.display());
    run_ok(f.w.git(f.w.path()).args(["clone", "-q", "--mirror", "--depth=1", "--no-single-branch", &src, "sh.git"]));
    let url = format!("signed::{}", f.w.path().join("sh.git").display());
    ok(&f.git_as("staging", f.w.path()).args(["clone", &url, "c"]).output().expect("clone"));
    assert!(f.w.path().join("c/.git/shallow").exists(), "a clone of a shallow mirror stays shallow");
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
    f.w.git_ok(&f.w.path().join("c"), &["fsck", "--connectivity-only"]);
}

/// Design §6: the objects of a rejected tag never enter the clone, nor the code only it reaches.
#[test]
fn t15_code_only_a_hidden_tag_reaches_never_enters_a_clone() {
    let f = Fixture::new();
    f.w.git_ok(&f.work, &["checkout", "-q", "-b", "side"]);
    let evil = f.w.commit(&f.work, "only deploy/9 reaches me");
    f.w.sign_chain(&f.work, "deploy/9", &["alice"]);
    f.w.git_ok(&f.work, &["checkout", "-q", "main"]);
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/9"]);
    ok(&f.clone_as("staging", "c", &[]));
    assert!(!f.tags("c").contains(&"deploy/9".to_owned()));
    assert!(!f.has_object("c", &f.id("deploy/9")), "the tag object is kept out");
    assert!(!f.has_object("c", &evil), "and so is the commit only it reaches");
    f.w.git_ok(&f.w.path().join("c"), &["fsck", "--strict"]);
}

/// T30: `pack.packSizeLimit` splits the copy of a clone's verified tags into the tag cache in
/// several packs; every one is kept, and a later single-branch clone (tag-following from the
/// cache) works.
#[test]
fn t30_a_tag_cache_copy_split_in_several_packs_is_kept_whole() {
    let f = Fixture::new();
    // Over 1 MiB of tag objects: two-person tags with large, incompressible messages.
    for n in 5..7 {
        f.w.commit(&f.work, &format!("c{n}"));
        for (i, who) in ["alice", "bob"].iter().enumerate() {
            let k = keys().get(who);
            let mut noise = vec![0u8; 400_000];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut r| std::io::Read::read_exact(&mut r, &mut noise))
                .expect("random bytes");
            let message: String = noise.iter().map(|b| format!("{b:02x}")).collect();
            let file = f.w.write("message", &message);
            let tag = format!("deploy/{n}");
            let target = if i == 0 { "HEAD".to_owned() } else { tag.clone() };
            let key = format!("user.signingKey={}", k.fingerprint);
            let (name, email) = (format!("user.name={}", k.name), format!("user.email={}", k.email));
            let file = file.to_str().expect("utf8");
            run_ok(
                f.w.git(&f.work)
                    .args(["-c", &key, "-c", &name, "-c", &email, "tag", "-s", "-f", "-F", file, &tag, &target]),
            );
        }
    }
    f.w.git_ok(&f.work, &["push", "-q", "-f", f.upstream.to_str().expect("utf8"), "main", "refs/tags/*:refs/tags/*"]);
    ok(&f.clone_as("staging", "c", &["-c", "pack.packSizeLimit=1m"]));
    assert!(f.tags("c").contains(&"deploy/5".to_owned()));
    assert!(in_tag_cache(&f, &f.id("deploy/5")) && in_tag_cache(&f, &f.id("deploy/6")), "every pack was kept");
    ok(&f.clone_as("staging", "s", &["--single-branch", "--branch", "main"]));
    assert!(f.tags("s").contains(&"deploy/6".to_owned()), "followed from the tag cache");
}

/// After a clone kept its verified chains (commits without trees), a later fetch into the tag
/// cache of a new tag on one of those commits works.
#[test]
fn a_fetch_after_a_clone_fetches_into_the_kept_tag_cache() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    f.w.git_ok(&f.work, &["checkout", "-q", "deploy/3^{}"]);
    f.w.sign_chain(&f.work, "deploy/5", &["alice", "bob"]);
    f.w.git_ok(&f.work, &["checkout", "-q", "main"]);
    f.w.git_ok(&f.work, &["push", "-q", f.upstream.to_str().expect("utf8"), "refs/tags/deploy/5"]);
    let c = f.w.path().join("c");
    ok(&f.git_as("staging", &c).args(["fetch", "--tags"]).output().expect("fetch"));
    assert!(f.tags("c").contains(&"deploy/5".to_owned()));
}

/// `git ls-remote` in an empty repository only lists: no transfer of everything (only a
/// clone's named remote makes one while listing).
#[test]
fn ls_remote_in_an_empty_repository_only_lists() {
    let f = Fixture::new();
    let log = f.w.path().join("trace");
    run_ok(f.w.git(f.w.path()).args(["init", "-q", "e"]));
    let e = f.w.path().join("e");
    let runs = || {
        let trace = std::fs::read_to_string(&log).unwrap_or_default();
        trace.lines().filter(|l| l.contains("built-in: git upload-pack")).count()
    };
    // A first listing fills the tag cache (its own fetch of the tag objects).
    ok(&f.git_as("staging", f.w.path()).args(["ls-remote", &f.url()]).output().expect("ls-remote"));
    ok(&f.git_as("staging", &e).env("GIT_TRACE", &log).args(["ls-remote", &f.url()]).output().expect("ls-remote"));
    assert_eq!(runs(), 1, "ls-remote only lists");
    assert!(!e.join(".git/objects/pack").read_dir().expect("pack dir").any(|_| true), "nothing was stored");
}

#[test]
fn a_clones_transfer_does_not_keep_other_helpers_for_the_mirror_waiting() {
    // The mirror's pack-objects takes 4 s for a whole-history pack (a clone's transfer), not
    // for the tag cache's shallow fetches. A cold clone waits for its transfer before it can
    // verify; a pipeline's `ls-remote` of the same mirror meanwhile must not wait with it.
    let f = Fixture::new();
    let slow =
        f.w.write("slow-pack-objects", "#!/bin/sh\ncase \"$*\" in *--shallow*) ;; *) sleep 4;; esac\nexec \"$@\"\n");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    f.w.write("home/.gitconfig", &format!("[uploadpack]\n\tpackObjectsHook = {}\n", slow.display()));
    /// The clone, killed and reaped if the test fails first.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let started = std::time::Instant::now();
    let mut clone =
        Running(f.git_as("staging", f.w.path()).args(["clone", "-q", &f.url(), "c"]).spawn().expect("clone"));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let listing = std::time::Instant::now();
    let out = f.git_as("staging", f.w.path()).args(["ls-remote", &f.url()]).output().expect("ls-remote");
    let waited = listing.elapsed();
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    ok(&out);
    assert!(listed.contains("refs/tags/deploy/1") && !listed.contains("refs/tags/deploy/2"), "{listed}");
    assert!(waited < std::time::Duration::from_millis(2500), "ls-remote waited {waited:?} for the clone's transfer");
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "the clone's transfer was still running");
    assert!(clone.0.wait().expect("clone").success());
    assert_eq!(f.tags("c"), vec!["deploy/1", "deploy/3"]);
}

#[test]
fn a_clone_with_reference_fetches_only_what_the_reference_lacks() {
    let f = Fixture::new();
    ok(&f.clone_as("staging", "c", &[]));
    // Only what staging sees is left upstream: the reference holds all of it.
    run_ok(f.w.git(&f.upstream).args(["tag", "-d", "deploy/2", "deploy/4", "v1.0"]));
    let reference = f.w.path().join("c");
    ok(&f.clone_as("staging", "r", &["--reference", reference.to_str().expect("utf8")]));
    assert_eq!(f.tags("r"), vec!["deploy/1", "deploy/3"]);
    let counts = f.w.git_ok(&f.w.path().join("r"), &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "in-pack: 0"), "everything came from the reference: {counts}");
    f.w.git_ok(&f.w.path().join("r"), &["fsck", "--strict"]);
}
