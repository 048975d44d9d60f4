//! A protected name means a verified tag, everywhere git can resolve it (T21, T23–T27).
//!
//! Driven as an attacker would: a compromised mirror written by hand (`git symbolic-ref`,
//! `git update-ref`, no hook) served through `signed::`, and a developer with ordinary push
//! rights pushing to a mirror whose hook install.sh installed. The invariant test at the end
//! clones a mirror holding every kind of ref around protected names in every shape a pipeline
//! uses, and checks that each protected name resolves to a verified tag or to nothing.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::*;

const ENVIRONMENTS: [&str; 3] = ["ci", "staging", "production"];

/// A mirror with no hook (it may be compromised), a work repository, and the policy.
type Hostile = Upstream;

impl Hostile {
    /// `main`; `deploy/1` signed by alice, bob and staging-ci (every environment accepts it);
    /// `deploy/2` by alice and bob (not production); a branch `evil` nobody signed.
    fn new() -> Hostile {
        let w = World::new();
        w.policy(DEPLOY_RULES);
        let work = w.repo("work");
        w.commit(&work, "release 1");
        w.sign_chain(&work, "deploy/1", &["alice", "bob", "staging-ci"]);
        w.commit(&work, "release 2");
        w.sign_chain(&work, "deploy/2", &["alice", "bob"]);
        w.git_ok(&work, &["checkout", "-q", "-b", "evil"]);
        w.commit(&work, "unsigned code");
        w.git_ok(&work, &["checkout", "-q", "main"]);
        run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
        let mirror = w.path().join("mirror.git");
        let m = mirror.to_str().expect("utf8");
        w.git_ok(&work, &["push", "-q", m, "main", "evil", "refs/tags/*:refs/tags/*"]);
        Hostile { w, upstream: mirror, work }
    }

    /// Write refs straight into the mirror: `update-ref` for values, `symbolic-ref` for `->`.
    fn plant(&self, refs: &[(&str, &str)]) {
        for (name, value) in refs {
            match value.strip_prefix("-> ") {
                Some(target) => self.w.git_ok(&self.upstream, &["symbolic-ref", name, target]),
                None => {
                    let id = self.w.git_ok(&self.work, &["rev-parse", value]);
                    self.w.git_ok(&self.upstream, &["update-ref", name, &id])
                }
            };
        }
    }

    /// What `rev` resolves to in clone `repo`, if anything.
    fn resolve(&self, repo: &Path, rev: &str) -> Option<String> {
        let out = self.w.git(repo).args(["rev-parse", "-q", "--verify", rev]).output().expect("rev-parse");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// stdout of a command that must have succeeded.
fn ok_stdout(out: &Output) -> String {
    ok(out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {err}");
    err
}

#[test]
fn t23_symbolic_refs_from_a_compromised_mirror_are_never_passed_on() {
    let h = Hostile::new();
    h.plant(&[
        ("refs/tags/deploy/11", "-> refs/heads/evil"),
        ("refs/tags/deploy/12", "-> refs/tags/deploy/1"),
        ("refs/deploy/10", "-> refs/tags/deploy/1"),
        ("refs/heads/release", "-> refs/heads/main"),
    ]);
    let listed = h.w.git_ok(h.w.path(), &["ls-remote", "--symref", h.upstream.to_str().expect("utf8")]);
    assert!(listed.contains("ref: refs/heads/evil\trefs/tags/deploy/11"), "protocol v2 advertises it: {listed}");
    for env in ENVIRONMENTS {
        for (name, shape) in [(format!("{env}-default"), &[][..]), (format!("{env}-mirror"), &["--mirror"][..])] {
            let err = ok(&h.clone_as(env, &name, shape));
            let clone = h.w.path().join(&name);
            for hidden in ["deploy/11", "deploy/12", "refs/tags/deploy/11", "refs/deploy/10", "refs/heads/release"] {
                assert_eq!(h.resolve(&clone, hidden), None, "{name}: {hidden} must not resolve");
            }
            assert!(err.contains("hiding refs/tags/deploy/11: symbolic ref to refs/heads/evil"), "{name}: {err}");
            assert_eq!(h.resolve(&clone, "deploy/1"), Some(h.id("deploy/1")), "{name}: the real tag stays");
        }
    }
    let out = h.git_as("ci", h.w.path()).args(["ls-remote", &h.url()]).output().expect("ls-remote");
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !listed.contains("deploy/11") && !listed.contains("deploy/12") && !listed.contains("refs/deploy/10"),
        "{listed}"
    );
    assert!(listed.contains("HEAD"), "HEAD -> main still passes: {listed}");
}

#[test]
fn t24_branches_and_remote_refs_that_git_resolves_for_a_protected_name_are_hidden() {
    let h = Hostile::new();
    h.plant(&[
        ("refs/heads/deploy/1", "evil"),
        ("refs/heads/tags/deploy/1", "evil"),
        ("refs/remotes/origin/deploy/2", "evil"),
        ("refs/remotes/deploy/2", "evil"),
        ("refs/heads/Deploy/2", "evil"),
        ("refs/heads/x/refs/tags/deploy/1", "evil"),
        ("refs/foo/deploy/1", "evil"),
    ]);
    let tag_commit = h.id("deploy/1^{commit}");
    // ls-remote matches the end of ref names: asked for the tag, it must list the tag alone.
    for pattern in ["deploy/1", "refs/tags/deploy/1"] {
        let out = h.git_as("staging", h.w.path()).args(["ls-remote", "--exit-code", &h.url(), pattern]).output();
        let listed = ok_stdout(&out.expect("ls-remote"));
        let names: Vec<&str> =
            listed.lines().filter_map(|l| l.split('\t').nth(1)).filter(|n| !n.ends_with("^{}")).collect();
        assert_eq!(names, ["refs/tags/deploy/1"], "{pattern}");
    }
    // `clone --branch` and `checkout` prefer a branch to a tag: the branch must not arrive.
    let err = ok(&h.clone_as("production", "by-branch", &["--branch", "deploy/1"]));
    assert!(err.contains("hiding refs/heads/deploy/1"), "{err}");
    let clone = h.w.path().join("by-branch");
    assert_eq!(h.w.git_ok(&clone, &["rev-parse", "HEAD"]), tag_commit);
    ok(&h.clone_as("staging", "default", &[]));
    let clone = h.w.path().join("default");
    run_ok(h.w.git(&clone).args(["checkout", "-q", "deploy/1"]));
    assert_eq!(h.w.git_ok(&clone, &["rev-parse", "HEAD"]), tag_commit, "checkout deploy/1 lands on the tag");
    assert_eq!(h.resolve(&clone, "origin/deploy/1"), None);
    ok(&h.clone_as("staging", "bare", &["--mirror"]));
    let bare = h.w.path().join("bare");
    assert_eq!(h.resolve(&bare, "deploy/1"), Some(h.id("deploy/1")), "rev-parse in a bare clone gives the tag");
    for r in
        ["refs/heads/deploy/1", "refs/heads/tags/deploy/1", "refs/remotes/origin/deploy/2", "refs/remotes/deploy/2"]
    {
        assert_eq!(h.resolve(&bare, r), None, "{r}");
    }
    assert_eq!(h.resolve(&bare, "refs/heads/Deploy/2"), None, "a case variant is the same file on macOS");
}

#[test]
fn t24_a_remote_named_like_a_protected_directory_gets_no_branch_under_a_protected_name() {
    let h = Hostile::new();
    // `git clone -o deploy` stores branch `2` as refs/remotes/deploy/2, which `git rev-parse
    // deploy/2` and `git checkout deploy/2` find when the tag deploy/2 is hidden (production).
    h.plant(&[("refs/heads/2", "evil"), ("refs/heads/7", "evil")]);
    let err = ok(&h.clone_as("production", "clone", &["-o", "deploy"]));
    assert!(err.contains("hiding refs/heads/2: it would be stored as refs/remotes/deploy/2"), "{err}");
    let clone = h.w.path().join("clone");
    for name in ["deploy/2", "deploy/7"] {
        assert_eq!(h.resolve(&clone, name), None, "{name}");
        let out = h.w.git(&clone).args(["checkout", "-q", name]).output().expect("checkout");
        assert!(!out.status.success(), "checkout {name} found something");
    }
    assert_eq!(h.resolve(&clone, "deploy/1"), Some(h.id("deploy/1")));
    // Every branch of this remote would be a protected name: deploy/main matches deploy/*.
    assert_eq!(h.resolve(&clone, "deploy/main"), None);
    // Named like a protected tag, the remote's HEAD would answer for it.
    ok(&h.clone_as("production", "named-like-a-tag", &["-o", "deploy/7"]));
    assert_eq!(h.resolve(&h.w.path().join("named-like-a-tag"), "deploy/7"), None);
    ok(&h.clone_as("production", "origin", &[]));
    assert_eq!(h.resolve(&h.w.path().join("origin"), "origin/main"), Some(h.id("main")), "under origin they arrive");
}

/// A mirror with the hook installed by install.sh, and a work clone with ordinary push rights.
fn guarded() -> (World, PathBuf, PathBuf) {
    let w = World::new();
    w.policy(DEPLOY_RULES);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    (w, mirror, work)
}

#[test]
fn t24_hook_rejects_every_ref_git_would_resolve_for_a_protected_name() {
    let (w, mirror, work) = guarded();
    for (refname, command) in [
        ("refs/heads/deploy/51", "`git clone --branch deploy/51`"),
        ("refs/heads/tags/deploy/51", "`git clone --branch deploy/51`"),
        ("refs/remotes/deploy/51", "`git rev-parse deploy/51`"),
        ("refs/remotes/deploy/51/HEAD", "`git rev-parse deploy/51`"),
        ("refs/remotes/origin/deploy/51", "`git checkout deploy/51`"),
        ("refs/remotes/a/b/deploy/51", "`git checkout deploy/51`"),
        ("refs/deploy/51", "`git rev-parse deploy/51`"),
        ("refs/heads/refs/tags/deploy/51", "`git clone --branch deploy/51`"),
        ("refs/refs/tags/deploy/51", "`git rev-parse deploy/51`"),
        ("refs/tags/tags/deploy/51", "`git rev-parse deploy/51`"),
        ("refs/heads/feature/deploy/51", "`git ls-remote <remote> deploy/51`"),
        ("refs/heads/x/refs/tags/deploy/51", "`git ls-remote <remote> deploy/51`"),
        ("refs/foo/deploy/51", "`git ls-remote <remote> deploy/51`"),
    ] {
        let (ok, err) = w.push(&work, &["origin", &format!("HEAD:{refname}")]);
        assert!(!ok, "{refname} accepted");
        assert!(err.contains(&format!("REJECTED {refname}: {command} would find this ref")), "{refname}: {err}");
        assert!(err.contains("instead of the protected tag refs/tags/deploy/51"), "{err}");
        assert!(err.contains("choose a name that does not collide"), "{err}");
        assert_eq!(
            w.git(&mirror).args(["rev-parse", "-q", "--verify", refname]).output().expect("rev-parse").status.code(),
            Some(1)
        );
    }
    let (ok, err) = w.push(&work, &["origin", "HEAD:refs/heads/deploy-tools", "HEAD:refs/heads/feature/deploy-51"]);
    assert!(ok, "names no lookup reaches pass: {err}");
}

#[test]
fn t25_names_that_make_a_protected_tag_uncreatable_are_rejected() {
    let (w, mirror, work) = guarded();
    for (refname, says) in [
        ("refs/tags/deploy/61/x", "impossible to create"),
        ("refs/tags/deploy", "impossible to create"),
        ("refs/tags/Deploy/61", "only in letter case"),
        ("refs/heads/DEPLOY/61", "only in letter case"),
        ("refs/Tags/deploy", "only in letter case"),
        ("refs/heads/TAGS/deploy/61", "would find this ref"),
        ("refs/signed/proposed", "impossible to create"),
    ] {
        let (ok, err) = w.push(&work, &["origin", &format!("HEAD:{refname}")]);
        assert!(!ok, "{refname} accepted");
        assert!(err.contains(&format!("REJECTED {refname}:")) && err.contains(says), "{refname}: {err}");
    }
    // deploy/61 can still be created afterwards.
    w.sign_chain(&work, "deploy/61", &["alice", "bob"]);
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/61"]);
    assert!(ok, "{err}");
    assert!(w.git_ok(&mirror, &["for-each-ref", "--format=%(refname)"]).contains("refs/tags/deploy/61"));
}

#[test]
fn t25_a_compromised_mirror_cannot_block_or_case_fold_a_protected_tag_in_a_clone() {
    let h = Hostile::new();
    // (refs/tags/deploy itself cannot exist next to deploy/1: git refuses it in the mirror too.)
    h.plant(&[("refs/tags/deploy/3/x", "evil"), ("refs/tags/DEPLOY/2", "evil"), ("refs/Tags/deploy/4", "evil")]);
    let out = h
        .git_as("staging", h.w.path())
        .args(["-c", "signed.allowUnprotectedTags=true", "clone", &h.url(), "clone"])
        .output()
        .expect("clone");
    ok(&out);
    let clone = h.w.path().join("clone");
    let tags = h.w.git_ok(&clone, &["tag", "--list"]);
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["deploy/1", "deploy/2"], "even with unprotected tags allowed");
    ok(&h.clone_as("staging", "bare", &["--mirror"]));
    let refs = h.w.git_ok(&h.w.path().join("bare"), &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/Tags/") && !refs.contains("DEPLOY"), "same files on macOS: {refs}");
}

/// `signed::liar::<mirror>`: the mirror's objects behind an advertisement the test writes
/// (tests/support/bin/git-remote-liar). Real git computes `^{}` and never sends a tag
/// object as a branch; a compromised mirror sends whatever it likes.
impl Hostile {
    fn liar_url(&self) -> String {
        format!("signed::liar::{}", self.upstream.display())
    }

    /// From now on the mirror advertises `lines` (`<id> <name>`, `<id> <name>^{}`).
    fn lie(&self, lines: &[String]) {
        std::fs::write(format!("{}.lies", self.upstream.display()), lines.join("\n") + "\n").expect("write lies");
    }

    fn ls_remote_as(&self, env: &str) -> Output {
        self.git_as(env, self.w.path()).args(["ls-remote", &self.liar_url()]).output().expect("ls-remote")
    }
}

#[test]
fn t28_a_lie_about_the_commit_behind_a_verified_tag_is_not_believed_even_when_cached() {
    let h = Hostile::new();
    let (tag, commit, evil, main) = (h.id("deploy/1"), h.id("deploy/1^{}"), h.id("evil"), h.id("main"));
    for env in ENVIRONMENTS {
        // The truth first, so every environment has a remembered verdict for deploy/1.
        let out = h.ls_remote_as(env);
        let listed = ok_stdout(&out);
        assert!(listed.contains(&format!("{commit}\trefs/tags/deploy/1^{{}}")), "{env}: {listed}");
    }
    h.lie(&[
        format!("{main} refs/heads/main"),
        format!("{tag} refs/tags/deploy/1"),
        format!("{evil} refs/tags/deploy/1^{{}}"),
    ]);
    for env in ENVIRONMENTS {
        let out = h.ls_remote_as(env);
        let listed = ok_stdout(&out);
        assert!(!listed.contains(&evil) && !listed.contains("deploy/1"), "{env}: {listed}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("hiding refs/tags/deploy/1"), "{env}: {err}");
    }
}

#[test]
fn t28_tag_objects_advertised_as_branches_or_lightweight_tags_never_arrive() {
    let h = Hostile::new();
    // An unsigned tag object claiming deploy/9, kept on the mirror under a name no one fetches.
    h.w.git_ok(&h.work, &["tag", "-a", "-m", "not signed", "deploy/9", "evil"]);
    let smuggled = h.id("refs/tags/deploy/9");
    h.w.git_ok(&h.work, &["push", "-q", h.upstream.to_str().expect("utf8"), "refs/tags/deploy/9:refs/smuggle/9"]);
    let (one, two, main) = (h.id("deploy/1"), h.id("deploy/2"), h.id("main"));
    let planted = [
        // A tag object as a branch, without the `^{}` that would give it away.
        format!("{smuggled} refs/heads/release"),
        // A verified tag object passed off as lightweight, and another under a new name.
        format!("{one} refs/tags/deploy/1"),
        format!("{two} refs/tags/deploy/7"),
        format!("{} refs/tags/deploy/7^{{}}", h.id("deploy/2^{}")),
    ];
    let mut lies = vec![format!("{main} refs/heads/main")];
    lies.extend(planted.iter().cloned());
    h.lie(&lies);
    for env in ENVIRONMENTS {
        let listed = ok_stdout(&h.ls_remote_as(env));
        assert!(!listed.contains("deploy/1") && !listed.contains("deploy/7"), "{env}: {listed}");
        let name = format!("{env}-clone");
        let out = h.git_as(env, h.w.path()).args(["clone", &h.liar_url(), &name]).output().expect("clone");
        // The branch's object is a tag no one verified: the fetch fails closed, storing nothing.
        assert!(!out.status.success(), "{env}: the clone took an unverified tag object");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("refusing unverified tag object(s) {smuggled}")), "{env}: {err}");
        assert!(!h.w.path().join(&name).exists(), "{env}: git removes the failed clone");
    }
    // Without the smuggled branch, the rest clones and none of the lies resolve.
    h.lie(&lies.iter().filter(|l| !l.contains("refs/heads/release")).cloned().collect::<Vec<_>>());
    let out = h.git_as("ci", h.w.path()).args(["clone", &h.liar_url(), "ci"]).output().expect("clone");
    ok(&out);
    let clone = h.w.path().join("ci");
    for hidden in ["deploy/1", "deploy/7", "refs/tags/deploy/9", &format!("{smuggled}^{{object}}")] {
        assert_eq!(h.resolve(&clone, hidden), None, "{hidden}");
    }
}

#[test]
fn t26_an_undeclared_environment_fails_the_fetch_closed() {
    let h = Hostile::new();
    for typo in ["Production", "prodution", "prod"] {
        let out = h.clone_as(typo, &format!("clone-{typo}"), &["-q"]);
        assert!(!out.status.success(), "{typo}: clone succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("environment \"{typo}\" is not declared")), "{err}");
        assert!(!h.w.path().join(format!("clone-{typo}")).exists(), "nothing is left behind");
    }
}

/// The activity history must not depend on where it is built (T27): a tag the mirror
/// accepted but production never sees still counts as its signers' activity in production.
#[test]
fn t27_hook_helper_and_cli_build_the_same_activity_history() {
    let w = World::new();
    let now = std::time::SystemTime::now();
    let carol = SqKey::new("carol", now - 90 * DAY, None);
    let granted = today_utc().checked_sub(jiff::Span::new().days(60)).expect("date");
    let people = w
        .people_with_sq_carol(&carol)
        .replace("[people.carol]\n", &format!("[people.carol]\ngranted = {granted}\n"))
        .replace("[people.bob]\n", &format!("[people.bob]\ngranted = {}\n", today_utc()));
    let people = people.replacen("version = 1\n", "version = 1\ninactivity = \"6w\"\n", 1);
    w.write("policy.toml", &format!("{people}{DEPLOY_RULES}"));
    let work = w.repo("work");
    // deploy/1: carol and bob, 30 days ago; never promoted, so production never sees it.
    w.sign_sq(&work, &carol, "deploy/1", "HEAD", now - 30 * DAY, sequoia_openpgp::types::HashAlgorithm::SHA256);
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    // deploy/2: carol and bob today, promoted by staging-ci. Carol's previous accepted
    // signature is deploy/1's (30 days, within 6w); without it, her grant (60 days) lapsed.
    w.commit(&work, "release 2");
    w.sign_sq(&work, &carol, "deploy/2", "HEAD", now, sequoia_openpgp::types::HashAlgorithm::SHA256);
    w.sign(&work, "bob", "deploy/2", "deploy/2");
    w.sign(&work, "staging-ci", "deploy/2", "deploy/2");
    run_ok(w.git(w.path()).args(["init", "-q", "--bare", "mirror.git"]));
    let mirror = w.path().join("mirror.git");
    w.git_ok(&work, &["push", "-q", mirror.to_str().expect("utf8"), "HEAD:refs/heads/main", "refs/tags/*:refs/tags/*"]);

    let (code, out, _) = w.verify(&work, "deploy/2", &["--environment", "production"]);
    assert_eq!(code, 0, "CLI: {out}");
    let url = format!("signed::{}", mirror.display());
    let clone = w
        .git(w.path())
        .env("GIT_SIGNED_POLICY", w.path().join("policy.toml"))
        .env("GIT_SIGNED_ENVIRONMENT", "production")
        .args(["clone", &url, "production"])
        .output()
        .expect("clone");
    ok(&clone);
    let tags = w.git_ok(&w.path().join("production"), &["tag", "--list"]);
    assert_eq!(tags, "deploy/2", "helper agrees with the CLI");
}

/// Every protected name, in every clone shape and environment, resolves to a tag that
/// `git signed verify` accepts there, or to nothing; `checkout` and `clone --branch` never
/// land anywhere else.
#[test]
fn invariant_a_protected_name_resolves_only_to_a_verified_tag() {
    let h = Hostile::new();
    // deploy/1: good everywhere; deploy/2: not production. Around them and others, every kind
    // of ref git could resolve for a protected name.
    let tag1 = h.id("deploy/1");
    let smuggled = h.w.mktag(
        &h.work,
        format!("object {}\ntype commit\ntag deploy/9\ntagger x <x@x> 0 +0000\n\nsmuggled\n", h.id("evil")).as_bytes(),
    );
    h.w.git_ok(&h.work, &["update-ref", "refs/other/smuggled", &smuggled]);
    h.w.git_ok(&h.work, &["push", "-q", h.upstream.to_str().expect("utf8"), "refs/other/smuggled:refs/other/smuggled"]);
    h.plant(&[
        ("refs/heads/deploy/1", "evil"),
        ("refs/heads/tags/deploy/1", "evil"),
        ("refs/remotes/origin/deploy/2", "evil"),
        ("refs/remotes/deploy/3", "evil"),
        ("refs/remotes/deploy/13/HEAD", "evil"),
        ("refs/deploy/4", "evil"),
        ("refs/tags/deploy/5", "evil"),
        ("refs/tags/deploy/6", "-> refs/heads/evil"),
        ("refs/tags/deploy/7", "-> refs/tags/deploy/1"),
        ("refs/deploy/8", "-> refs/tags/deploy/1"),
        ("refs/tags/deploy/10/x", "evil"),
        ("refs/tags/Deploy/11", "evil"),
        ("refs/heads/Deploy/12", "evil"),
        ("refs/notes/deploy/13", "evil"),
    ]);
    h.w.git_ok(&h.upstream, &["update-ref", "refs/tags/deploy/9", &smuggled]);
    h.w.git_ok(&h.upstream, &["update-ref", "refs/tags/deploy/14", &tag1]);
    let names: Vec<String> = (1..=14).map(|n| format!("deploy/{n}")).collect();
    let shapes: [(&str, &[&str]); 6] = [
        ("default", &[]),
        ("bare", &["--bare"]),
        ("mirror", &["--mirror"]),
        ("single", &["--single-branch"]),
        ("branch", &["--branch", "deploy/1"]),
        ("shallow", &["--depth", "1"]),
    ];
    for env in ENVIRONMENTS {
        for (shape, args) in shapes {
            let name = format!("{env}-{shape}");
            ok(&h.clone_as(env, &name, args));
            let clone = h.w.path().join(&name);
            let mut fetch = h.git_as(env, &clone);
            ok(&fetch.args(["fetch", "-q", "--tags", "origin"]).output().expect("fetch"));
            let mut all = h.git_as(env, &clone);
            ok(&all.args(["fetch", "-q", "--update-head-ok", "origin", "+refs/*:refs/*"]).output().expect("fetch"));
            check_clone(&h, env, &name, &clone, &names, !matches!(shape, "bare" | "mirror"));
        }
        for n in &names {
            let out = h.clone_as(env, &format!("{env}-branch-{}", n.replace('/', "-")), &["-q", "--branch", n]);
            if out.status.success() {
                let clone = h.w.path().join(format!("{env}-branch-{}", n.replace('/', "-")));
                let head = h.w.git_ok(&clone, &["rev-parse", "HEAD"]);
                assert_eq!(Some(head), verified_commit(&h, env, &clone, n), "{env}: clone --branch {n}");
            }
        }
    }
}

/// The commit a protected name's tag reaches when `git signed verify` accepts it in `clone`.
fn verified_commit(h: &Hostile, env: &str, clone: &Path, name: &str) -> Option<String> {
    let (code, _, _) = h.w.verify(clone, name, &["--environment", env]);
    (code == 0).then(|| h.w.git_ok(clone, &["rev-parse", &format!("refs/tags/{name}^{{commit}}")]))
}

fn check_clone(h: &Hostile, env: &str, label: &str, clone: &Path, names: &[String], worktree: bool) {
    for n in names {
        let tag = h.resolve(clone, &format!("refs/tags/{n}"));
        for form in [n.clone(), format!("tags/{n}")] {
            if let Some(id) = h.resolve(clone, &form) {
                assert_eq!(Some(&id), tag.as_ref(), "{label}: {form} resolves to something other than refs/tags/{n}");
                assert_eq!(h.w.git_ok(clone, &["cat-file", "-t", &id]), "tag", "{label}: {form}");
                assert!(verified_commit(h, env, clone, n).is_some(), "{label}: {form} resolves to an unverified tag");
            }
            if worktree {
                let checkout = h.w.git(clone).args(["checkout", "-q", "--detach", &form]).output().expect("checkout");
                let guess = h.w.git(clone).args(["checkout", "-q", &form]).output().expect("checkout");
                for out in [checkout, guess] {
                    if out.status.success() {
                        let head = h.w.git_ok(clone, &["rev-parse", "HEAD"]);
                        assert_eq!(Some(head), verified_commit(h, env, clone, n), "{label}: checkout {form}");
                    }
                }
                h.w.git_ok(clone, &["checkout", "-q", "--detach", "HEAD"]);
            }
        }
    }
}

#[test]
fn t29_a_verdict_cache_other_users_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let h = Hostile::new();
    let cache = h.w.path().join("home/.cache/git-signed");
    std::fs::create_dir_all(&cache).expect("cache dir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = h.clone_as("production", "shared", &[]);
    assert!(!out.status.success(), "a clone trusted a cache anyone can write");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not private to this user") && err.contains("mode 777"), "{err}");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    ok(&h.clone_as("production", "private", &[]));
    // Under a umask of 002 an older version left the mirror's verdicts group-writable.
    let verdicts = std::fs::read_dir(&cache).expect("cache").filter_map(Result::ok).map(|e| e.path().join("verdicts"));
    let verdicts = verdicts.into_iter().find(|p| p.exists()).expect("a verdicts file");
    let mode = std::fs::metadata(&verdicts).expect("verdicts").permissions().mode();
    assert_eq!(mode & 0o077, 0, "written for its owner only: {mode:o}");
    std::fs::set_permissions(&verdicts, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    let out = h.clone_as("production", "group-writable", &[]);
    assert!(!out.status.success(), "a clone trusted verdicts its group can write");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not private to this user"));
}

/// A mirror that lists one name twice (T28): the first copy hidden or verified, the second
/// something else. Every decision is by name, so such a listing is refused whole: neither an
/// unsigned commit nor another tag's objects arrive under a protected name.
#[test]
fn t28_a_name_the_mirror_lists_twice_never_reaches_git() {
    let h = Hostile::new();
    let (evil, main) = (h.id("evil"), h.id("main"));
    let (one, one_c, two, two_c) = (h.id("deploy/1"), h.id("deploy/1^{}"), h.id("deploy/2"), h.id("deploy/2^{}"));
    let lies = [
        // An unsigned commit as a lightweight protected tag, twice.
        vec![
            format!("{main} refs/heads/main"),
            format!("{evil} refs/tags/deploy/9"),
            format!("{evil} refs/tags/deploy/9"),
        ],
        // deploy/1 as itself, then as deploy/2's tag object.
        vec![
            format!("{main} refs/heads/main"),
            format!("{one} refs/tags/deploy/1"),
            format!("{one_c} refs/tags/deploy/1^{{}}"),
            format!("{two} refs/tags/deploy/2"),
            format!("{two_c} refs/tags/deploy/2^{{}}"),
            format!("{two} refs/tags/deploy/1"),
            format!("{two_c} refs/tags/deploy/1^{{}}"),
        ],
    ];
    for (i, lie) in lies.iter().enumerate() {
        h.lie(lie);
        for env in ENVIRONMENTS {
            let name = format!("{env}-twice-{i}");
            let out = h.git_as(env, h.w.path()).args(["clone", &h.liar_url(), &name]).output().expect("clone");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && err.contains("twice, with different values") || i == 0, "{env}: {err}");
            let clone = h.w.path().join(&name);
            assert!(
                !clone.exists() || h.resolve(&clone, "deploy/9").is_none(),
                "{env}: deploy/9 is the unsigned {evil}"
            );
            let deploy1 = if clone.exists() { h.resolve(&clone, "deploy/1^{commit}") } else { None };
            assert!(deploy1.is_none() || deploy1.as_deref() == Some(one_c.as_str()), "{env}: deploy/1 moved");
        }
    }
}

/// T30: the helper's record of its last verification (which tags it hid) is believed only
/// whole: a damaged line never lists a tag it hid.
#[test]
fn t30_a_damaged_snapshot_never_lists_a_hidden_tag() {
    let h = Hostile::new();
    let listed = ok_stdout(&h.ls_remote_as("production"));
    assert!(!listed.contains("deploy/2"), "{listed}");
    let base = h.w.path().join("home/.cache/git-signed");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&base).expect("cache").filter_map(Result::ok) {
        let snapshot = entry.path().join("snapshot");
        if let Ok(text) = std::fs::read_to_string(&snapshot) {
            assert!(text.contains("refs/tags/deploy/2\t"), "{text}");
            std::fs::write(&snapshot, text.replace("refs/tags/deploy/2\t", "refs/tags/deploy/\u{0}\t"))
                .expect("damage");
            damaged += 1;
        }
    }
    assert_eq!(damaged, 1);
    let listed = ok_stdout(&h.ls_remote_as("production"));
    assert!(!listed.contains("deploy/2"), "a damaged snapshot listed deploy/2: {listed}");
}
