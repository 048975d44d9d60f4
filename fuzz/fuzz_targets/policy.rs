//! The policy parser: any text must give a policy or an error with a location, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let dir = std::env::temp_dir();
        match git_signed_policy::Policy::parse(&dir.join("fuzz-policy.toml"), text) {
            Ok(p) => {
                let _ = p.protects("deploy/1");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
