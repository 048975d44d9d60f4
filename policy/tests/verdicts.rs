//! The core as a library: one verdict per situation, asserted on its typed problems, never
//! on English. Repositories are built with the real `git` (tests/fixture).

#[allow(dead_code)] // each test file uses a part of it
mod fixture;

use std::time::SystemTime;

use fixture::{DAY, Fixture};
use git_signed_policy::layer::WalkError;
use git_signed_policy::signature::Problem as SignatureProblem;
use git_signed_policy::verdict::{Expected, LayerProblem, Missing, Problem, Request, TransitionProblem};
use git_signed_policy::{Facts, Principal, Verdict};
use gix::objs::Kind;

fn now() -> SystemTime {
    SystemTime::now()
}

/// The signature problem of layer `number`, if it has one.
fn layer_problem(v: &Verdict, number: usize) -> Option<&SignatureProblem> {
    v.problems().iter().find_map(|p| match p {
        Problem::Layer { number: n, problem: LayerProblem::Signature(s), .. } if *n == number => Some(s),
        _ => None,
    })
}

fn missing(v: &Verdict) -> Vec<&Missing> {
    v.problems()
        .iter()
        .flat_map(|p| if let Problem::Rule { missing, .. } = p { missing.iter().collect() } else { vec![] })
        .collect()
}

#[test]
fn two_people_make_a_deploy_tag() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("release 1"), &["alice", "bob"], now());
    let v = f.verify(Request::new("deploy/1", tag, "staging", now()).at_push(None));
    assert!(matches!(v.problems(), [Problem::UnknownEnvironment(e)] if e.name == "staging"));
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(v.accepted(), "{:?}", v.problems());
    assert_eq!(v.people(), ["alice", "bob"]);
    assert_eq!(
        v.layers().iter().map(|l| l.signer.clone()).collect::<Vec<_>>(),
        [Some(Principal::Person("alice".into())), Some(Principal::Person("bob".into()))]
    );
}

#[test]
fn t1_an_unsigned_layer_is_a_typed_problem_and_counts_for_no_one() {
    let f = Fixture::new();
    let inner = f.layer("deploy/1", f.commit("c"), None, now());
    let tag = f.layer("deploy/1", inner, Some("alice"), now());
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert_eq!(layer_problem(&v, 1), Some(&SignatureProblem::Unsigned));
    assert_eq!(missing(&v), [&Missing::People { needed: 2, have: vec!["alice".into()] }]);
    let lightweight = f.commit("lightweight");
    let v = f.verify(Request::new("deploy/2", lightweight, "push", now()));
    assert!(matches!(v.problems(), [Problem::Walk(WalkError::NotATag { kind: Kind::Commit, .. }), ..]));
}

#[test]
fn t2_one_person_twice_is_one_person() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "alice"], now());
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(!v.accepted());
    assert_eq!(missing(&v), [&Missing::People { needed: 2, have: vec!["alice".into()] }]);
}

#[test]
fn t3_a_key_outside_the_policy_is_named_by_its_issuer() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "mallory"], now());
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(matches!(layer_problem(&v, 2), Some(SignatureProblem::UnknownKey(issuers)) if !issuers.is_empty()));
}

#[test]
fn t4_bytes_after_the_signature_make_the_walk_fail() {
    let f = Fixture::new();
    let signed = f.layer("deploy/1", f.commit("c"), Some("alice"), now());
    let mut bytes = f.bytes(signed);
    bytes.extend_from_slice(b"approved by the CTO\n");
    let tag = f.object(&bytes);
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(matches!(v.problems(), [Problem::Walk(WalkError::Malformed { .. }), ..]), "{:?}", v.problems());
}

#[test]
fn t5_a_layer_named_for_another_tag_is_a_name_mismatch() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now());
    let v = f.verify(Request::new("deploy/2", tag, "push", now()));
    assert!(matches!(
        v.problems(),
        [Problem::Walk(WalkError::NameMismatch { found, expected, .. }), ..] if found == "deploy/1" && expected == "deploy/2"
    ));
    // A name of any length is shown clipped: every verdict that reports it holds a copy.
    let long = format!("deploy/{}", "x".repeat(5000));
    let tag = f.layer(&long, f.commit("c"), Some("alice"), now());
    let v = f.verify(Request::new("deploy/3", tag, "push", now()));
    assert!(matches!(
        v.problems(),
        [Problem::Walk(WalkError::NameMismatch { found, .. }), ..] if found.starts_with("deploy/xxx") && found.chars().count() == 201
    ));
}

#[test]
fn t6_at_push_the_new_value_must_wrap_the_old() {
    let f = Fixture::new();
    let old = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now());
    let other = f.chain("deploy/1", f.commit("other"), &["alice", "bob"], now());
    let v = f.verify(Request::new("deploy/1", other, "push", now()).at_push(Some(old)));
    assert_eq!(v.problems().first(), Some(&Problem::DoesNotWrap { tag: "deploy/1".into(), old }));
    let grown = f.layer("deploy/1", old, Some("ci"), now());
    let v = f.verify(Request::new("deploy/1", grown, "push", now()).at_push(Some(old)));
    assert!(v.accepted(), "{:?}", v.problems());
    assert_eq!(v.layers().iter().map(|l| l.new).collect::<Vec<_>>(), [false, false, true]);
}

#[test]
fn t11_a_signature_from_the_future_does_not_count() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now() + DAY);
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(
        matches!(layer_problem(&v, 1), Some(SignatureProblem::Future { principal, .. }) if principal.name() == "alice")
    );
}

/// A verdict says until when time alone leaves it standing (what a cache may keep it for):
/// the first signature in it to expire, or a signature dated ahead coming due; then it
/// changes, and a remembered fact changes nothing about that (T30).
#[test]
fn t30_a_verdict_holds_until_a_signature_expires_or_comes_due() {
    let f = Fixture::new();
    let signed = now() - DAY;
    let inner = f.expiring_layer("deploy/1", f.commit("c"), "alice", signed, 2 * DAY);
    let tag = f.layer("deploy/1", inner, Some("bob"), signed);
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(v.accepted(), "{}", v.summary());
    let expires = v.layers()[0].signed_at.map(|t| t + 2 * DAY);
    assert_eq!(v.holds_until(), expires);
    let mut facts = Facts::default();
    v.learned().iter().for_each(|(id, fact)| facts.insert(*id, fact.clone()));
    for remembered in [None, Some(&facts)] {
        let later = f.verify(Request::new("deploy/1", tag, "push", now() + 2 * DAY).with_facts(remembered));
        assert!(matches!(layer_problem(&later, 1), Some(SignatureProblem::KeyNotValid { .. })), "{}", later.summary());
    }

    let ahead = f.chain("deploy/2", f.commit("d"), &["alice", "bob"], now() + DAY);
    let v = f.verify(Request::new("deploy/2", ahead, "push", now()));
    let due = v.layers()[0].signed_at.map(|t| t - git_signed_policy::signature::CLOCK_SKEW);
    assert_eq!(v.holds_until(), due);
    assert!(f.verify(Request::new("deploy/2", ahead, "push", now() + 2 * DAY)).accepted());
}

#[test]
fn at_push_a_signature_older_than_max_age_must_be_made_again() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now() - 8 * DAY);
    let v = f.verify(Request::new("deploy/1", tag, "push", now()).at_push(None));
    assert!(matches!(layer_problem(&v, 1), Some(SignatureProblem::TooOld { max_age, .. }) if *max_age == 7 * DAY));
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(v.accepted(), "old layers count when nothing is pushed: {:?}", v.problems());
}

#[test]
fn t13_production_needs_the_machine_and_a_machine_is_no_person() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "ci"], now());
    let v = f.verify(Request::new("deploy/1", tag, "production", now()));
    assert_eq!(missing(&v), [&Missing::People { needed: 2, have: vec!["alice".into()] }]);
    let tag = f.chain("deploy/2", f.commit("c2"), &["alice", "bob"], now());
    let v = f.verify(Request::new("deploy/2", tag, "production", now()));
    assert_eq!(missing(&v), [&Missing::Machine("ci".into())]);
}

#[test]
fn t27_transitions_and_advertised_commits_are_part_of_the_request() {
    let f = Fixture::new();
    let commit = f.commit("c");
    let people = f.chain("deploy/2", commit, &["alice", "bob"], now());
    let tag = f.layer_with("deploy/2", people, Some("ci"), now(), "\nTransition: initial\nEnvironment: staging\n");
    let v = f.verify(Request::new("deploy/2", tag, "production", now()).expect_transition(Expected::Initial));
    assert!(v.accepted(), "{:?}", v.problems());
    let previous = [people];
    let expected = Expected::From { tag: "deploy/1", chain: &previous };
    let v = f.verify(Request::new("deploy/2", tag, "production", now()).expect_transition(expected));
    assert!(matches!(v.problems(), [Problem::Transition(TransitionProblem::Other { .. })]));
    let v = f.verify(Request::new("deploy/2", people, "push", now()).expect_transition(Expected::Initial));
    assert_eq!(v.problems(), [Problem::Transition(TransitionProblem::NotRecorded)]);
    let other = f.commit("what the mirror claims");
    let v = f.verify(Request::new("deploy/2", tag, "production", now()).advertised(Some(other)));
    assert_eq!(v.problems(), [Problem::CommitMismatch { advertised: other, actual: commit }]);
}

#[test]
fn t16_a_missing_object_is_not_a_bad_signature() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now());
    let absent = gix::ObjectId::from_hex(b"1234567890123456789012345678901234567890").expect("hex");
    let v = f.verify(Request::new("deploy/1", absent, "push", now()));
    assert_eq!(v.problems().first(), Some(&Problem::Walk(WalkError::Missing(absent))));
    assert!(f.verify(Request::new("deploy/1", tag, "push", now())).accepted());
}

#[test]
fn bulk_verification_gives_each_tag_its_own_verdict_in_order() {
    let f = Fixture::new();
    let mut tags = Vec::new();
    for n in 1..=12 {
        let signers: &[&str] = if n % 3 == 0 { &["alice"] } else { &["alice", "bob"] };
        let name = format!("deploy/{n}");
        tags.push((name.clone(), f.chain(&name, f.commit(&name), signers, now())));
    }
    let at = now();
    let requests: Vec<Request<'_>> = tags.iter().map(|(name, id)| Request::new(name, *id, "push", at)).collect();
    let repo = f.repo();
    let bulk = repo.verify_all(&f.policy, &requests).expect("bulk");
    let one_by_one: Vec<Verdict> = requests.iter().map(|r| repo.verify(&f.policy, *r)).collect();
    assert_eq!(bulk.len(), 12);
    for (b, o) in bulk.iter().zip(&one_by_one) {
        assert_eq!((b.tag(), b.accepted(), b.problems()), (o.tag(), o.accepted(), o.problems()));
    }
    assert_eq!(
        bulk.iter().filter(|v| !v.accepted()).map(|v| v.tag()).collect::<Vec<_>>(),
        ["deploy/3", "deploy/6", "deploy/9", "deploy/12"]
    );
}

/// Signature facts are remembered by layer and certificate: reused while the certificate is
/// the same, never once it is revoked or gone from the policy, and never made for a layer
/// whose signature fails.
#[test]
fn a_remembered_signature_fact_is_not_reused_after_its_key_is_revoked_or_removed() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now() - DAY);
    let first = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert!(first.accepted(), "{:?}", first.problems());
    assert_eq!(first.learned().len(), 2);
    let mut facts = Facts::default();
    first.learned().iter().for_each(|(id, fact)| facts.insert(*id, fact.clone()));

    let again = f.verify(Request::new("deploy/1", tag, "push", now()).with_facts(Some(&facts)));
    assert!(again.accepted() && again.learned().is_empty(), "facts are reused while nothing changed");

    f.revoke("alice");
    let revoked = f.policy_from(fixture::POLICY);
    let v = f.repo().verify(&revoked, Request::new("deploy/1", tag, "push", now()).with_facts(Some(&facts)));
    assert!(
        matches!(layer_problem(&v, 1), Some(SignatureProblem::KeyNotValid { reason, .. }) if reason.contains("revoked")),
        "{:?}",
        v.problems()
    );
    assert!(!v.accepted());

    let removed = f.policy_from(&fixture::POLICY.replace("keys/alice.asc", "keys/mallory.asc"));
    let v = f.repo().verify(&removed, Request::new("deploy/1", tag, "push", now()).with_facts(Some(&facts)));
    assert!(matches!(layer_problem(&v, 1), Some(SignatureProblem::UnknownKey(_))), "{:?}", v.problems());

    let forged = f.chain("deploy/2", f.commit("c2"), &["mallory", "bob"], now());
    let v = f.verify(Request::new("deploy/2", forged, "push", now()));
    assert_eq!(v.learned().len(), 1, "only bob's signature verified");
    assert_eq!(v.learned()[0].0, forged);
}

/// A fact learned from a tag object's bytes alone (as a clone's pack arrives) is the fact
/// verification learns for that layer, under the id the bytes hash to; a layer whose signature
/// fails, or that is not a tag object a walk would read, teaches nothing.
#[test]
fn a_fact_learned_from_a_tag_objects_bytes_is_the_one_verification_learns() {
    let f = Fixture::new();
    let policy = f.policy_from(fixture::POLICY);
    let hash = gix::hash::Kind::Sha1;
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now() - DAY);
    let v = f.verify(Request::new("deploy/1", tag, "push", now()));
    assert_eq!(v.learned().len(), 2);
    let none = Facts::default();
    let learn = |bytes: &[u8], known: &Facts| git_signed_policy::facts::learn(&policy, hash, bytes, known);
    for (id, fact) in v.learned() {
        assert_eq!(learn(&f.bytes(*id), &none), Some((*id, fact.clone())));
    }

    let forged = f.layer("deploy/2", f.commit("c2"), Some("mallory"), now());
    let unsigned = f.layer("deploy/3", f.commit("c3"), None, now());
    for id in [forged, unsigned] {
        assert_eq!(learn(&f.bytes(id), &none), None);
    }
    // Text after the signature's END line: the walk refuses the layer, so no fact is made.
    let mut trailing = f.bytes(tag);
    trailing.extend_from_slice(b"not signed\n");
    assert_eq!(learn(&trailing, &none), None);

    // A fact already known is not made again, unless the policy no longer accepts it: here
    // bob's key is someone else's now, and the fact is made anew, for them.
    let mut known = Facts::default();
    v.learned().iter().for_each(|(id, fact)| known.insert(*id, fact.clone()));
    assert_eq!(learn(&f.bytes(tag), &known), None);
    let moved = f.policy_from(&fixture::POLICY.replace("[people.bob]", "[people.robert]"));
    let (id, fact) = git_signed_policy::facts::learn(&moved, hash, &f.bytes(tag), &known).expect("made anew");
    assert_eq!(id, tag);
    assert!(moved.known_for_fact(&fact).is_some() && known.get(&tag) != Some(&fact));
}

/// A revoked copy of a certificate listed beside the old copy (either order) revokes it: the
/// copies are one certificate, and a fact remembered from the old copy is not reused (T9).
#[test]
fn t9_a_revoked_copy_listed_beside_the_old_one_revokes_it_with_or_without_facts() {
    let f = Fixture::new();
    let tag = f.chain("deploy/1", f.commit("c"), &["alice", "bob"], now() - DAY);
    let first = f.verify(Request::new("deploy/1", tag, "push", now()));
    let mut facts = Facts::default();
    first.learned().iter().for_each(|(id, fact)| facts.insert(*id, fact.clone()));
    f.revoke_into("alice", "keys/alice-revoked.asc");
    for keys in [r#"["keys/alice-revoked.asc", "keys/alice.asc"]"#, r#"["keys/alice.asc", "keys/alice-revoked.asc"]"#] {
        let policy = f.policy_from(&fixture::POLICY.replace(r#"["keys/alice.asc"]"#, keys));
        for remembered in [None, Some(&facts)] {
            let v = f.repo().verify(&policy, Request::new("deploy/1", tag, "push", now()).with_facts(remembered));
            assert!(
                matches!(layer_problem(&v, 1), Some(SignatureProblem::KeyNotValid { reason, .. }) if reason.contains("revoked")),
                "{keys} with facts {}: {:?}",
                remembered.is_some(),
                v.problems()
            );
        }
    }
}

/// A tag examined for the signing history is judged for an environment from what was found
/// (nothing is read or checked again: here its objects are gone by then), with the same
/// verdict as from scratch; what was found is never used for another policy, time, name or
/// a push.
#[test]
fn a_tag_examined_for_the_signing_history_is_judged_again_only_as_it_was_examined() {
    let f = Fixture::new();
    let granted = |days: u32| {
        let at = jiff::Timestamp::try_from(now() - days * DAY).expect("time");
        at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
    };
    let text = fixture::POLICY
        .replacen("environments =", "inactivity = \"1w\"\nenvironments =", 1)
        .replace("access = \"deploy\"", &format!("access = \"deploy\"\ngranted = {}", granted(25)));
    let policy = f.policy_from(&text);
    let signers = ["alice", "bob", "ci"];
    let mut tags = vec![
        // accepted; then lapsed: both people's signatures before were more than 1w earlier
        ("deploy/1".to_owned(), f.chain("deploy/1", f.commit("1"), &signers, now() - 20 * DAY)),
        ("deploy/2".to_owned(), f.chain("deploy/2", f.commit("2"), &signers, now() - 2 * DAY)),
        ("deploy/3".to_owned(), f.chain("deploy/3", f.commit("3"), &["alice"], now() - DAY)),
    ];
    tags.push(("deploy/4".to_owned(), f.commit("lightweight")));
    let at = now();
    let repo = f.repo();
    let keep_all = |_: &str, _| true;
    let pass = repo.history_keeping(&policy, at, None, &tags, &keep_all, &|| {}).expect("history");
    let (activity, walks) = (pass.activity, pass.walks);
    assert_eq!(walks.len(), 4);
    let request = |name: &'static str, id| Request::new(name, id, "production", at).with_activity(Some(&activity));
    let names = ["deploy/1", "deploy/2", "deploy/3", "deploy/4"];
    let fresh: Vec<Verdict> =
        names.iter().zip(&tags).map(|(name, (_, id))| repo.verify(&policy, request(name, *id))).collect();
    assert!(fresh[0].accepted(), "{:?}", fresh[0].problems());
    assert!(matches!(fresh[1].problems()[0], Problem::Layer { problem: LayerProblem::Lapsed { .. }, .. }));
    assert!(!fresh[2].accepted() && matches!(fresh[3].problems(), [Problem::Walk(WalkError::NotATag { .. }), ..]));

    let git_dir = std::path::PathBuf::from(f.git(&["rev-parse", "--absolute-git-dir"], None));
    for id in fresh.iter().flat_map(|v| v.chain()) {
        let hex = id.to_string();
        std::fs::remove_file(git_dir.join("objects").join(&hex[..2]).join(&hex[2..])).expect("a loose tag object");
    }
    let repo = f.repo();
    for ((name, (_, id)), fresh) in names.iter().zip(&tags).zip(&fresh) {
        let again = repo.verify(&policy, request(name, *id).with_walks(Some(&walks)));
        assert_eq!(
            (again.accepted(), again.problems(), again.chain(), again.people(), again.machines()),
            (fresh.accepted(), fresh.problems(), fresh.chain(), fresh.people(), fresh.machines()),
        );
        assert_eq!(format!("{:?}", again.layers()), format!("{:?}", fresh.layers()));
        assert_eq!(again.holds_until(), fresh.holds_until());
        assert!(again.learned().is_empty(), "the history learned those");
    }

    // Anything else walks again, and finds the objects gone: another repository (here the same
    // one seeing one more object directory) ...
    let other_objects = tempfile::tempdir().expect("tempdir");
    let elsewhere = git_signed_policy::Repo::open(&git_dir, &[other_objects.path().to_owned()]).expect("open");
    let r = request("deploy/1", tags[0].1).with_walks(Some(&walks));
    assert!(matches!(elsewhere.verify(&policy, r).problems(), [Problem::Walk(WalkError::Missing(_)), ..]));
    // ... another policy, time, push or name.
    let gone = |v: &Verdict| matches!(v.problems(), [Problem::Walk(WalkError::Missing(_)), ..]);
    let id = tags[0].1;
    let walk_again = |policy: &git_signed_policy::Policy, name: &str, at: SystemTime, push: bool| {
        let r = Request::new(name, id, "production", at).with_activity(Some(&activity)).with_walks(Some(&walks));
        gone(&repo.verify(policy, if push { r.at_push(None) } else { r }))
    };
    let other_key = f.policy_from(&text.replace("keys/alice.asc", "keys/mallory.asc"));
    assert!(walk_again(&other_key, "deploy/1", at, false), "another policy");
    assert!(walk_again(&policy, "deploy/1", at + std::time::Duration::from_secs(1), false), "another time");
    assert!(walk_again(&policy, "deploy/1", at, true), "a push");
    assert!(walk_again(&policy, "deploy/9", at, false), "another name");
    let first = |name: &str, _| name == "deploy/1";
    let pass = repo.history_keeping(&policy, at, None, &tags, &first, &|| {}).expect("history");
    assert_eq!(pass.walks.len(), 1, "only the tags asked for are kept");
}
