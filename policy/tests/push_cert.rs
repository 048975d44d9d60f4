//! Push certificates as the core judges them (T39): typed outcomes for who a certificate
//! proves pushed, and what a rule with `pushers` makes of it. Certificates are written as
//! git's send-pack writes them and signed in-process.

#[allow(dead_code)] // each test file uses a part of it
mod fixture;

use std::time::{Duration, SystemTime};

use fixture::{Fixture, POLICY};
use git_signed_policy::Principal;
use git_signed_policy::push_cert::{CertProblem, Certificate, Presented, Unproven, refusals};
use git_signed_policy::signature::Problem as SignatureProblem;

const OLD: &str = "0000000000000000000000000000000000000000";
const NEW: &str = "1111111111111111111111111111111111111111";

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs()
}

/// The update line of a push creating deploy/1.
fn update() -> String {
    format!("{OLD} {NEW} refs/tags/deploy/1")
}

/// A nonce as receive-pack issues them: `<seconds>-<hmac>`.
fn nonce(at: SystemTime) -> String {
    format!("{}-{}", secs(at), "ab".repeat(20))
}

/// A certificate for `updates` with `nonce`, signed by `signer` at `at`.
fn certificate(f: &Fixture, signer: &str, at: SystemTime, nonce: &str, updates: &[String]) -> Vec<u8> {
    let mut text = format!(
        "certificate version 0.1\npusher {signer} {} +0000\npushee file:///srv/app.git\nnonce {nonce}\n\n",
        secs(at)
    );
    for u in updates {
        text.push_str(u);
        text.push('\n');
    }
    let mut bytes = text.into_bytes();
    let signature = f.sign(signer, &bytes, at, None);
    bytes.extend_from_slice(&signature);
    bytes
}

fn presented(nonce: &str) -> Presented {
    Presented { nonce: Some(nonce.to_owned()), nonce_status: Some("OK".to_owned()) }
}

fn check(f: &Fixture, bytes: Vec<u8>, said: &Presented, updates: &[String]) -> Result<Principal, CertProblem> {
    Certificate::parse(bytes)?.check(&f.policy, said, updates, SystemTime::now()).map(|p| p.signer)
}

#[test]
fn a_certificate_for_this_push_proves_who_signed_it() {
    let f = Fixture::new();
    let now = SystemTime::now();
    let n = nonce(now);
    let cert = Certificate::parse(certificate(&f, "ci", now, &n, &[update()])).expect("parses");
    assert_eq!(cert.updates, vec![update()]);
    assert_eq!(cert.nonce.as_deref(), Some(n.as_str()));
    assert_eq!(cert.pushee.as_deref(), Some("file:///srv/app.git"));
    assert_eq!(cert.pusher, "ci");
    let pusher = cert.check(&f.policy, &presented(&n), &[update()], now).expect("valid");
    assert_eq!(pusher.signer, Principal::Machine("ci".into()));
}

#[test]
fn t39_a_nonce_receive_pack_did_not_issue_now_proves_nothing() {
    let f = Fixture::new();
    let now = SystemTime::now();
    let n = nonce(now);
    let bytes = certificate(&f, "ci", now, &n, &[update()]);
    for status in ["SLOP", "BAD", "MISSING", "UNSOLICITED"] {
        let said = Presented { nonce_status: Some(status.into()), ..presented(&n) };
        assert_eq!(check(&f, bytes.clone(), &said, &[update()]), Err(CertProblem::Nonce(status.into())));
    }
    let said = Presented { nonce_status: None, ..presented(&n) };
    assert!(matches!(check(&f, bytes.clone(), &said, &[update()]), Err(CertProblem::Nonce(_))));
    // receive-pack says OK, but of another nonce than the certificate's (a forged environment).
    let other = presented(&nonce(now - Duration::from_secs(5)));
    assert!(matches!(check(&f, bytes, &other, &[update()]), Err(CertProblem::Stale(_))));
    // A nonce of yesterday, said to be OK.
    let old = nonce(now - Duration::from_secs(86_400));
    let bytes = certificate(&f, "ci", now, &old, &[update()]);
    assert!(matches!(check(&f, bytes, &presented(&old), &[update()]), Err(CertProblem::Stale(_))));
}

#[test]
fn t39_a_certificate_covers_exactly_the_pushed_updates() {
    let f = Fixture::new();
    let now = SystemTime::now();
    let n = nonce(now);
    let other = format!("{OLD} {NEW} refs/tags/deploy/2");
    let bytes = certificate(&f, "ci", now, &n, &[update()]);
    assert!(matches!(
        check(&f, bytes.clone(), &presented(&n), std::slice::from_ref(&other)),
        Err(CertProblem::Updates(_))
    ));
    assert!(matches!(
        check(&f, bytes.clone(), &presented(&n), &[update(), other.clone()]),
        Err(CertProblem::Updates(_))
    ));
    let both = certificate(&f, "ci", now, &n, &[update(), other.clone()]);
    assert!(check(&f, both, &presented(&n), &[other, update()]).is_ok(), "order does not matter");
}

#[test]
fn t39_the_signature_counts_as_a_new_one_at_push() {
    let f = Fixture::new();
    let now = SystemTime::now();
    let n = nonce(now);
    let bytes = certificate(&f, "mallory", now, &n, &[update()]);
    assert!(matches!(
        check(&f, bytes, &presented(&n), &[update()]),
        Err(CertProblem::Signature(SignatureProblem::UnknownKey(_)))
    ));
    let bytes = certificate(&f, "ci", now - Duration::from_secs(3 * 3600), &n, &[update()]);
    assert!(matches!(
        check(&f, bytes, &presented(&n), &[update()]),
        Err(CertProblem::Signature(SignatureProblem::TooOld { .. }))
    ));
    let mut bytes = certificate(&f, "ci", now, &n, &[update()]);
    let at = bytes.iter().position(|b| *b == b'\n').expect("line") + 1;
    bytes.insert(at, b'x'); // an altered header line
    assert!(matches!(check(&f, bytes, &presented(&n), &[update()]), Err(CertProblem::Malformed(_))));
}

#[test]
fn what_git_does_not_write_is_not_a_certificate() {
    let f = Fixture::new();
    let now = SystemTime::now();
    let n = nonce(now);
    let good = String::from_utf8(certificate(&f, "ci", now, &n, &[update()])).expect("utf8");
    for bad in [
        good.replace("certificate version 0.1", "certificate version 0.2"),
        good.replace("pusher ci", "pusher-x ci"),
        good.replace(&update(), "not an update"),
        good.replace(&format!("{OLD} "), "0000 "),
        good.split("-----BEGIN").next().expect("before").to_owned(),
        good.replacen("\n\n", "\n", 1),
    ] {
        assert!(matches!(Certificate::parse(bad.clone().into_bytes()), Err(CertProblem::Malformed(_))), "{bad}");
    }
}

#[test]
fn a_rule_with_pushers_names_who_may_push_and_what_is_missing() {
    let f = Fixture::new();
    let policy = f.policy_from(&POLICY.replacen("people = 2\n", "people = 2\npushers = [\"ci\"]\n", 1));
    let ci = Ok(git_signed_policy::push_cert::Pusher { signer: Principal::Machine("ci".into()), key: None });
    let alice = Ok(git_signed_policy::push_cert::Pusher { signer: Principal::Person("alice".into()), key: None });
    assert!(refusals(&policy, "deploy/1", Some(&ci)).is_empty());
    assert!(refusals(&policy, "v1.0", None).is_empty(), "an unprotected tag asks nothing");
    assert!(matches!(refusals(&policy, "deploy/1", None).as_slice(), [Unproven::NoCertificate { .. }]));
    assert!(matches!(
        refusals(&policy, "deploy/1", Some(&alice)).as_slice(),
        [Unproven::NotAPusher { signer: Principal::Person(a), pushers, .. }] if a == "alice" && pushers == &["ci"]
    ));
    let replayed = Err(CertProblem::Replayed(SystemTime::now()));
    assert!(matches!(refusals(&policy, "deploy/1", Some(&replayed)).as_slice(), [Unproven::Invalid { .. }]));
    assert!(refusals(&f.policy, "deploy/1", None).is_empty(), "no rule asks for a signed push");
}
