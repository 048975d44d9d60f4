//! The cache directory the hook and the CLI keep (`git_signed_tool::store`), on real
//! repositories built by the core's fixture: what it remembers never outlives what it rests
//! on, time included (T30).

#[allow(dead_code)] // the core's fixture, of which these tests use a part
#[path = "../../policy/tests/fixture/mod.rs"]
mod fixture;

use std::time::{Duration, SystemTime};

use fixture::{DAY, Fixture, POLICY};
use git_signed_tool::store::Cache;

/// A stored signing history holds only until time alone changes a verdict it was built from:
/// a counted signature that expires stops counting, and one dated in the future starts to,
/// without any ref moving.
#[test]
fn t30_the_stored_history_is_built_again_when_a_signature_expires_or_comes_due() {
    let f = Fixture::new();
    let policy = f.policy_from(&POLICY.replacen("version = 1\n", "version = 1\ninactivity = \"6w\"\n", 1));
    let now = SystemTime::now();
    let (before, after) = (now - 2 * DAY, now + Duration::from_secs(3600));
    // deploy/1: alice's signature expires tomorrow; deploy/2: alice signed it an hour ahead.
    let inner = f.expiring_layer("deploy/1", f.commit("one"), "alice", before, 3 * DAY);
    let deploy1 = f.layer("deploy/1", inner, Some("bob"), before);
    let deploy2 = f.chain("deploy/2", f.commit("two"), &["alice", "bob"], after);
    f.git(&["update-ref", "refs/tags/deploy/1", &deploy1.to_string()], None);
    f.git(&["update-ref", "refs/tags/deploy/2", &deploy2.to_string()], None);
    let dir = tempfile::tempdir().expect("tempdir");
    let seconds = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let latest = |at: SystemTime| {
        let mut cache = Cache::open(dir.path()).expect("cache");
        cache.activity(&f.repo(), &policy, at).expect("history").latest("alice").map(seconds)
    };

    assert_eq!(latest(now), Some(seconds(before)), "today deploy/1 counts and deploy/2 does not yet");
    assert_eq!(latest(now), Some(seconds(before)), "and so does the stored history");
    assert_eq!(latest(now + 2 * DAY), Some(seconds(after)), "in two days deploy/1 has expired, deploy/2 is due");
}

/// A tag rewritten behind the history's back, as a loose ref hiding the packed value the
/// history counted, takes that value's signatures out of it; a value that wraps the old one (a
/// promotion) is added on top.
#[test]
fn t30_a_packed_tag_rewritten_as_a_loose_ref_no_longer_counts() {
    let f = Fixture::new();
    let policy = f.policy_from(&POLICY.replacen("version = 1\n", "version = 1\ninactivity = \"6w\"\n", 1));
    let (now, signed) = (SystemTime::now(), SystemTime::now() - 30 * DAY);
    let seconds = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let latest = |person: &str| {
        let mut cache = Cache::open(dir.path()).expect("cache");
        cache.activity(&f.repo(), &policy, now).expect("history").latest(person).map(seconds)
    };
    let original = f.chain("deploy/1", f.commit("one"), &["alice", "bob"], signed);
    let packed = |id: gix::ObjectId| {
        f.git(&["update-ref", "refs/tags/deploy/1", &id.to_string()], None);
        f.git(&["pack-refs", "--all"], None);
    };
    packed(original);
    assert_eq!(latest("alice"), Some(seconds(signed)));

    // A rewrite: the signatures it hides are gone from the repository, and from the history
    // (the new value, bob alone, is not accepted).
    let rewritten = f.chain("deploy/1", f.commit("other"), &["bob", "ci"], now);
    f.git(&["update-ref", "refs/tags/deploy/1", &rewritten.to_string()], None);
    assert_eq!((latest("alice"), latest("bob")), (None, None));

    // A promotion wraps the old value: added on top, alice and bob still count.
    packed(original);
    assert_eq!(latest("alice"), Some(seconds(signed)));
    let promoted = f.layer("deploy/1", original, Some("ci"), now);
    f.git(&["update-ref", "refs/tags/deploy/1", &promoted.to_string()], None);
    assert_eq!((latest("alice"), latest("bob")), (Some(seconds(signed)), Some(seconds(signed))));
}

/// T29: every file in the cache must be private, not only the directory: a history (or facts)
/// file another user could write is refused, so the caller goes without the cache.
#[test]
fn t29_a_cache_file_another_user_could_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let policy = f.policy_from(&POLICY.replacen("version = 1\n", "version = 1\ninactivity = \"6w\"\n", 1));
    let deploy1 = f.chain("deploy/1", f.commit("one"), &["alice", "bob"], SystemTime::now() - DAY);
    f.git(&["update-ref", "refs/tags/deploy/1", &deploy1.to_string()], None);
    let dir = tempfile::tempdir().expect("tempdir");
    Cache::open(dir.path()).expect("cache").activity(&f.repo(), &policy, SystemTime::now()).expect("history");
    let history = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("history-")))
        .expect("a stored history");
    std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let refused = Cache::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("is not private to this user") && refused.contains("history-"), "{refused}");
}

/// Facts learned before the facts file is first read (a clone's tag objects checked while
/// they arrive) are known to the verification that reads it, and are written with the rest.
#[test]
fn facts_learned_before_the_file_is_read_are_known_and_kept() {
    let f = Fixture::new();
    let deploy1 = f.chain("deploy/1", f.commit("one"), &["alice", "bob"], SystemTime::now() - DAY);
    let v = f.verify(git_signed_policy::Request::new("deploy/1", deploy1, "push", SystemTime::now()));
    assert_eq!(v.learned().len(), 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::open(dir.path()).expect("cache");
    cache.learn_facts(v.learned().iter().cloned());
    for (id, fact) in v.learned() {
        assert_eq!(cache.facts().get(id), Some(fact));
    }
    cache.save();
    let mut again = Cache::open(dir.path()).expect("cache");
    assert_eq!(again.facts().len(), 2);
}
