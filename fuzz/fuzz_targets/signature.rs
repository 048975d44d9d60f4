//! The signature-block split and check: the input is a tag object; its signature (git's "last
//! armor marker" rule) is parsed and checked against the policy, loosely and at push time.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use git_signed_policy::signature::{self, Timing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sig, payload) = match gix::objs::TagRefIter::signature(data) {
        Some((sig, _)) => (Some((sig.format, sig.data.as_ref())), &data[..data.len() - sig.data.len()]),
        None => (None, data),
    };
    let now = std::time::SystemTime::now();
    for fresh in [None, Some(std::time::Duration::from_secs(3600))] {
        let check = signature::check(common::policy(), sig, payload, Timing { now, fresh_within: fresh, claimed: Some(now) });
        let _ = check.problem.map(|p| p.to_string());
    }
    let _ = signature::parse_single(data);
});
