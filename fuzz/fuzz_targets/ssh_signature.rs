//! SSH signatures: the input is a tag object whose last armor block is taken as an SSH
//! signature (`-----BEGIN SSH SIGNATURE-----`, whatever git's split found), parsed by
//! `ssh::Signed::parse` and checked against a policy holding the key of the seed's signature,
//! at verify time and at push time; the FIDO trailer is read when the key type has one.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use git_signed_policy::signature::{self, Timing};
use git_signed_policy::ssh;
use gix::objs::signature::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let marker = b"-----BEGIN SSH SIGNATURE-----";
    let at = data.windows(marker.len()).rposition(|w| w == marker).unwrap_or(0);
    let (payload, block) = data.split_at(at);
    if let Ok(signed) = ssh::Signed::parse(block) {
        let _ = (ssh::fingerprint(signed.key()), ssh::key_type(signed.key()));
        if let Some(known) = common::policy().ssh_key_for(signed.key()) {
            let _ = signed.verify(&known.key, payload);
        }
    }
    let now = std::time::SystemTime::now();
    for fresh in [None, Some(std::time::Duration::from_secs(3600))] {
        let timing = Timing { now, fresh_within: fresh, claimed: Some(now) };
        let check = signature::check(common::policy(), Some((Format::Ssh, block)), payload, timing);
        let _ = check.problem.map(|p| p.to_string());
    }
    let _ = ssh::parse_keys(data);
});
