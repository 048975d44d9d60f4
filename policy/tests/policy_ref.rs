//! The policy kept in the repository (`refs/signed/policy`), walked from a pinned root: which
//! changes come into force, and the typed reason each bad history is refused for.

#[allow(dead_code)] // each test file uses a part of it
mod fixture;

use std::time::SystemTime;

use fixture::Fixture;
use git_signed_policy::chain::{self, ChainError, State};
use git_signed_policy::signature::Problem as SignatureProblem;
use gix::ObjectId;

/// alice and bob are admins, two of them sign a change; mallory has deploy access.
const FOUNDING: &str = r#"version = 1
admins = 2
environments = ["production"]

[people.alice]
keys = ["keys/alice.asc"]
access = "admin"

[people.bob]
keys = ["keys/bob.asc"]
access = "admin"

[people.mallory]
keys = ["keys/mallory.asc"]
access = "deploy"
sponsor = "alice"

[machines.ci]
keys = ["keys/ci.asc"]

[[rule]]
tags = ["deploy/*"]
people = 2
"#;

fn walk(f: &Fixture, root: ObjectId, tip: ObjectId) -> Result<State, ChainError> {
    chain::walk(&f.repo().repo, root, tip, SystemTime::now())
}

/// `FOUNDING` with `people = 3` in its rule: a change anyone can see.
fn stricter() -> String {
    FOUNDING.replace("people = 2\n", "people = 3\n")
}

#[test]
fn a_change_signed_by_two_admins_comes_into_force_where_the_second_signs() {
    let f = Fixture::new();
    let root = f.policy_commit(&[], FOUNDING, Some("alice"));
    let proposed = f.policy_commit(&[root], &stricter(), Some("alice"));
    let approved = f.policy_commit(&[proposed], &stricter(), Some("bob"));
    let state = walk(&f, root, approved).expect("approved");
    assert_eq!((state.commit, state.signed_by.as_slice()), (approved, &["alice".to_owned(), "bob".to_owned()][..]));
    assert_eq!(state.policy.rules[0].people, 3);
    // Signing what is in force again changes nothing.
    let again = f.policy_commit(&[approved], &stricter(), Some("alice"));
    assert_eq!(walk(&f, root, again).expect("no-op").commit, approved);
}

#[test]
fn t31_a_change_one_admin_signed_is_not_in_force() {
    let f = Fixture::new();
    let root = f.policy_commit(&[], FOUNDING, Some("alice"));
    let proposed = f.policy_commit(&[root], &stricter(), Some("alice"));
    let twice = f.policy_commit(&[proposed], &stricter(), Some("alice"));
    match walk(&f, root, twice) {
        Err(ChainError::Unapproved { commit, have, needed: 2 }) => {
            assert_eq!((commit, have), (proposed, vec!["alice".to_owned()]));
        }
        other => panic!("{other:?}"),
    }
    // A new change starts a new count: bob's approval of the first does not carry over.
    let other = f.policy_commit(&[proposed], FOUNDING.replace("people = 2\n", "people = 4\n").as_str(), Some("bob"));
    assert!(matches!(walk(&f, root, other), Err(ChainError::Unapproved { commit, .. }) if commit == other));
}

#[test]
fn t31_only_admins_of_the_policy_in_force_sign_its_history() {
    let f = Fixture::new();
    let root = f.policy_commit(&[], FOUNDING, Some("alice"));
    let by_deployer = f.policy_commit(&[root], &stricter(), Some("mallory"));
    assert!(matches!(walk(&f, root, by_deployer), Err(ChainError::NotAdmin { commit, .. }) if commit == by_deployer));
    let by_machine = f.policy_commit(&[root], &stricter(), Some("ci"));
    assert!(matches!(walk(&f, root, by_machine), Err(ChainError::NotAdmin { .. })));
    let unsigned = f.policy_commit(&[root], &stricter(), None);
    assert!(matches!(
        walk(&f, root, unsigned),
        Err(ChainError::Signature { problem, commit }) if commit == unsigned && *problem == SignatureProblem::Unsigned
    ));
    // Without bob, bob's later signature is an outsider's.
    let without_bob = FOUNDING
        .replace("admins = 2", "admins = 1")
        .replace("[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n", "");
    let a = f.policy_commit(&[root], &without_bob, Some("alice"));
    let b = f.policy_commit(&[a], &without_bob, Some("bob"));
    assert_eq!(walk(&f, root, b).map(|s| s.commit).ok(), Some(b), "alice and bob removed bob");
    let removed = f.policy_commit(&[b], &stricter(), Some("bob"));
    assert!(matches!(walk(&f, root, removed), Err(ChainError::Signature { .. } | ChainError::NotAdmin { .. })));
}

#[test]
fn t31_a_history_that_does_not_reach_the_root_or_merges_is_refused() {
    let f = Fixture::new();
    let root = f.policy_commit(&[], FOUNDING, Some("alice"));
    let forged_root = f.policy_commit(&[], &stricter(), Some("alice"));
    let on_forged = f.policy_commit(&[forged_root], &stricter(), Some("bob"));
    assert!(matches!(walk(&f, root, on_forged), Err(ChainError::NotFromRoot { .. })));
    let side = f.policy_commit(&[root], &stricter(), Some("alice"));
    let merge = f.policy_commit(&[root, side], &stricter(), Some("bob"));
    assert!(matches!(walk(&f, root, merge), Err(ChainError::Merge(commit)) if commit == merge));
}

#[test]
fn t31_the_access_rules_hold_at_every_change() {
    let f = Fixture::new();
    let root = f.policy_commit(&[], FOUNDING, Some("alice"));
    let approved = |policy: &str| {
        let proposed = f.policy_commit(&[root], policy, Some("alice"));
        let approved = f.policy_commit(&[proposed], policy, Some("bob"));
        walk(&f, root, approved)
    };
    let refused = |policy: String, expected: &str| match approved(&policy) {
        Err(e @ (ChainError::Access { .. } | ChainError::Invalid { .. })) => {
            assert!(e.to_string().contains(expected), "{e}");
        }
        other => panic!("{expected}: {other:?}"),
    };
    refused(FOUNDING.replace("admins = 2", "admins = 0"), "admins must be at least 1");
    refused(
        FOUNDING.replace("[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n", ""),
        "admins = 2, but the policy has 1 person with access = \"admin\"",
    );
    refused(FOUNDING.replace("admins = 2\n", ""), "no `admins = N` line");
    // mallory made an admin, sponsored by a non-admin (herself): refused.
    let raised =
        FOUNDING.replace("access = \"deploy\"\nsponsor = \"alice\"", "access = \"admin\"\nsponsor = \"mallory\"");
    refused(raised, "sponsored by mallory, who is not an admin; only admins sponsor admins");
    // A new person whose sponsor did not sign the change.
    let added =
        format!("{FOUNDING}\n[people.carol]\nkeys = [\"keys/ci.asc\"]\naccess = \"deploy\"\nsponsor = \"mallory\"\n")
            .replace("[machines.ci]\nkeys = [\"keys/ci.asc\"]\n", "");
    refused(added, "adds carol (policy.toml:");
    let by_alice =
        FOUNDING.replace("access = \"deploy\"\nsponsor = \"alice\"", "access = \"admin\"\nsponsor = \"alice\"");
    assert!(approved(&by_alice).is_ok(), "alice, an admin who signed, makes mallory an admin");
    let renewed = FOUNDING.replace("sponsor = \"alice\"", "sponsor = \"alice\"\ngranted = 2026-01-01");
    assert!(approved(&renewed).is_ok(), "alice, the sponsor, signed the renewal");
}

/// T31: access extended and a sponsor changed count as granting access: the (new) sponsor
/// signs the change, as for a person added or renewed.
#[test]
fn t31_extending_access_or_changing_a_sponsor_needs_the_sponsors_signature() {
    let f = Fixture::new();
    let with_expiry = FOUNDING.replace("sponsor = \"alice\"", "sponsor = \"alice\"\nexpires = 2027-01-01");
    let old = f.policy_commit(&[], &with_expiry, Some("alice"));
    let policy = |text: &str| {
        let commit = f.policy_commit(&[old], text, Some("alice"));
        chain::policy_of(&f.repo().repo, commit).expect("policy")
    };
    let before = chain::policy_of(&f.repo().repo, old).expect("policy");
    let extended = policy(&with_expiry.replace("2027-01-01", "2028-01-01"));
    let err = chain::check_change(&before, &extended, &["bob".to_owned()]).expect_err("alice did not sign");
    assert!(err.contains("extends the access of mallory") && err.contains("alice did not sign"), "{err}");
    assert!(chain::check_change(&before, &extended, &["alice".to_owned()]).is_ok());
    let shortened = policy(&with_expiry.replace("2027-01-01", "2026-06-01"));
    assert!(
        chain::check_change(&before, &shortened, &["bob".to_owned()]).is_ok(),
        "ending access sooner grants nothing"
    );
    let moved = policy(&with_expiry.replace("sponsor = \"alice\"", "sponsor = \"bob\""));
    let err = chain::check_change(&before, &moved, &["alice".to_owned()]).expect_err("bob did not sign");
    assert!(err.contains("changes the sponsor of mallory") && err.contains("bob did not sign"), "{err}");
}
