//! The remote helper's command parser (what git writes to the helper's stdin).
#![no_main]

use git_signed_remote::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.split('\n') {
            let _ = protocol::parse(line);
        }
        let _ = protocol::unquote(text);
    }
});
