//! The layer walk and the full verdict over arbitrary tag objects: input is split on NUL
//! into objects; the first becomes the outermost tag, the rest are available to it (their
//! ids are those of the bytes). A commit is always present. Also the hook's and helper's
//! smuggling check (`claimed_names`) over the same objects. Must never panic.
#![no_main]

#[path = "common.rs"]
mod common;

use git_signed_policy::verdict::{Request, verify_tag};
use gix::objs::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut odb = common::Memory::default();
    let commit = odb.insert(Kind::Commit, b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@b> 0 +0000\ncommitter a <a@b> 0 +0000\n\nc\n".to_vec());
    let mut parts = data.split(|b| *b == 0);
    let first = parts.next().unwrap_or_default().to_vec();
    for part in parts {
        let mut bytes = part.to_vec();
        // Let inputs refer to the commit by a placeholder.
        if let Some(pos) = bytes.windows(6).position(|w| w == b"COMMIT") {
            bytes.splice(pos..pos + 6, commit.to_string().bytes());
        }
        odb.insert(Kind::Tag, bytes);
    }
    let mut outer = first;
    if let Some(pos) = outer.windows(6).position(|w| w == b"COMMIT") {
        outer.splice(pos..pos + 6, commit.to_string().bytes());
    }
    let id = odb.insert(Kind::Tag, outer);
    let now = std::time::SystemTime::now();
    let verdict = verify_tag(common::policy(), &odb, gix::hash::Kind::Sha1, Request::new("deploy/1", id, "push", now));
    let _ = verdict.summary();
    let _ = git_signed_policy::layer::claimed_names(&odb, gix::hash::Kind::Sha1, id);
});
