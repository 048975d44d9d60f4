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
        Some((sig, signed)) => (Some((sig.format, sig.data.to_vec())), Vec::from(signed.to_bstring())),
        None => (None, data.to_vec()),
    };
    let now = std::time::SystemTime::now();
    for fresh in [None, Some(std::time::Duration::from_secs(3600))] {
        let check = signature::check(common::policy(), sig.as_ref(), &payload, Timing { now, fresh_within: fresh });
        let _ = check.problem.map(|p| p.to_string());
    }
    let _ = signature::parse_single(data);
});
