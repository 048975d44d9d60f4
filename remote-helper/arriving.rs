//! Signature facts learned from a clone's pack while it arrives. `git index-pack` writes the
//! pack into the quarantine as it reads it from the mirror; a thread follows that file and
//! checks the signature of each tag object in it (the cryptographic part only,
//! [`facts::learn`]) on the core the transfer leaves free, so verification, once the transfer
//! ends, finds most facts made and judges on top of them.
//!
//! Nothing here decides anything. A fact is keyed by the hash of the bytes it was made from:
//! one made from a pack that turns out bad is still true of those bytes, and one not made (a
//! deltified tag object, a pack this cannot read, a transfer that ended first) is made later
//! by verification itself.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use git_signed_policy::layer::MAX_TAG_SIZE;
use git_signed_policy::{Facts, Policy, SignatureFact, facts};
use gix::ObjectId;
use gix::odb::pack::data::{self, entry::Header};

/// Facts learned by a thread following a pack as it is written ([`Learning::start`]).
pub struct Learning {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(ObjectId, SignatureFact)>>>,
}

/// How long to wait before looking again for the pack, or for more of it.
const POLL: Duration = Duration::from_millis(2);

impl Learning {
    /// Follow the pack `git index-pack` is about to write into `pack_dir` (a quarantine's
    /// `pack/`), learning the facts of the tag objects in it under `policy` that `known` lacks;
    /// at most `limit` (a mirror may send any number of signed tag objects no ref names).
    pub fn start(
        pack_dir: PathBuf,
        policy: Arc<Policy>,
        known: Arc<Facts>,
        hash: gix::hash::Kind,
        limit: usize,
    ) -> Learning {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut learned = Vec::new();
            follow(&pack_dir, hash, &stopped, |object| {
                learned.extend(facts::learn(&policy, hash, object, &known));
                learned.len() < limit
            });
            learned
        });
        Learning { stop, thread: Some(thread) }
    }

    /// Stop (the transfer has ended, or was dropped): the facts learned so far.
    pub fn finish(mut self) -> Vec<(ObjectId, SignatureFact)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Learning {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Call `each` with the tag objects of the pack `git index-pack` writes into `pack_dir`, as
/// they are written, until `stop` is set or `each` says to stop. A pack this cannot read ends
/// it early.
fn follow(pack_dir: &Path, hash: gix::hash::Kind, stop: &AtomicBool, each: impl FnMut(&[u8]) -> bool) {
    if let Some(file) = written(pack_dir, stop) {
        crate::trace("pack found");
        let pack = BufReader::with_capacity(1 << 16, Following { file, stop });
        let _ = tag_objects(pack, hash, stop, each);
    }
}

/// The pack `git index-pack` writes into `pack_dir` (`tmp_pack_*` until it is complete), once
/// it is there; `None` if told to stop first.
fn written(pack_dir: &Path, stop: &AtomicBool) -> Option<File> {
    while !stop.load(Ordering::Relaxed) {
        let found = std::fs::read_dir(pack_dir)
            .ok()
            .and_then(|entries| entries.flatten().find(|e| e.file_name().as_encoded_bytes().starts_with(b"tmp_pack_")));
        if let Some(file) = found.and_then(|e| File::open(e.path()).ok()) {
            return Some(file);
        }
        std::thread::sleep(POLL);
    }
    None
}

/// A file still being written: reading waits for more until told to stop, then ends.
struct Following<'a> {
    file: File,
    stop: &'a AtomicBool,
}

impl Read for Following<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || buf.is_empty() || self.stop.load(Ordering::Relaxed) {
                return Ok(n);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Call `each` with every whole (not deltified) tag object of at most [`MAX_TAG_SIZE`] bytes
/// in the pack `pack` reads, in pack order, until it ends, `stop` is set, or `each` returns
/// false.
fn tag_objects(
    mut pack: impl BufRead,
    hash: gix::hash::Kind,
    stop: &AtomicBool,
    mut each: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<()> {
    let mut header = [0u8; data::header::SIZE];
    pack.read_exact(&mut header)?;
    let (_, count) = data::header::decode(&header).map_err(std::io::Error::other)?;
    let mut inflate = gix::zlib::Decompress::default();
    let mut object = Vec::new();
    let mut rest = [0u8; 8192];
    for _ in 0..count {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let entry = data::Entry::from_read(&mut pack, 0, hash.len_in_bytes())?;
        let wanted = entry.header == Header::Tag && entry.decompressed_size <= MAX_TAG_SIZE;
        object.clear();
        if wanted {
            object.resize(entry.decompressed_size as usize, 0);
        }
        inflate.reset();
        let mut read = gix::zlib::stream::inflate::read(&mut pack, &mut inflate, &mut object)?;
        // The rest of the stream (all of it, for an object not wanted), to where the next entry starts.
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match gix::zlib::stream::inflate::read(&mut pack, &mut inflate, &mut rest)? {
                0 => break,
                n => read += n,
            }
        }
        if read as u64 != entry.decompressed_size {
            return Err(std::io::Error::other("a pack entry is not the size its header gives"));
        }
        if wanted && !each(&object) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::git;

    /// A repository of commits whose files git deltifies, each tagged; and a pack of all of
    /// it, with the ids of the tag objects git stored whole in it (not as deltas).
    fn tagged_history() -> (tempfile::TempDir, Vec<u8>, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path();
        git(repo, &["init", "-q"], b"");
        for i in 0..20 {
            std::fs::write(repo.join("f"), format!("{}\n{i}\n", "line\n".repeat(200))).expect("write");
            git(repo, &["add", "f"], b"");
            git(repo, &["commit", "-q", "-m", &format!("c{i}")], b"");
            git(repo, &["tag", "-a", "-m", &format!("tag {i}"), &format!("t{i}")], b"");
        }
        let out = git(repo, &["pack-objects", "-q", "--all", "p"], b"");
        let name = format!("p-{}", String::from_utf8_lossy(&out).trim());
        let pack = std::fs::read(repo.join(format!("{name}.pack"))).expect("pack");
        let listed = git(repo, &["verify-pack", "-v", &format!("{name}.idx")], b"");
        // `<id> <type> <size> <size in pack> <offset>`, and `<depth> <base>` after a delta.
        let whole: Vec<String> = String::from_utf8_lossy(&listed)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() == 5 && f[1] == "tag")
            .map(|f| f[0].to_owned())
            .collect();
        assert!(!whole.is_empty());
        (dir, pack, whole)
    }

    fn ids(objects: &[Vec<u8>]) -> Vec<String> {
        let hash = |o: &Vec<u8>| gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Tag, o).expect("hash");
        let mut ids: Vec<String> = objects.iter().map(|o| hash(o).to_string()).collect();
        ids.sort();
        ids
    }

    /// Every whole tag object of a pack git wrote is found, with the bytes git stores, past
    /// commits, trees, blobs and deltas.
    #[test]
    fn tag_objects_are_read_from_a_pack_as_git_wrote_it() {
        let (_dir, pack, mut whole) = tagged_history();
        let mut found = Vec::new();
        tag_objects(&pack[..], gix::hash::Kind::Sha1, &AtomicBool::new(false), |o| {
            found.push(o.to_vec());
            true
        })
        .expect("the pack reads");
        whole.sort();
        assert_eq!(ids(&found), whole);
    }

    /// Reading stops at the first tag object the caller wants no more after (a limit).
    #[test]
    fn reading_stops_when_the_caller_has_enough() {
        let (_dir, pack, whole) = tagged_history();
        assert!(whole.len() >= 2);
        let mut calls = 0;
        tag_objects(&pack[..], gix::hash::Kind::Sha1, &AtomicBool::new(false), |_| {
            calls += 1;
            false
        })
        .expect("the pack reads");
        assert_eq!(calls, 1);
    }

    /// A pack is read while it is written, a piece at a time, into a file that appears late.
    #[test]
    fn a_pack_is_followed_while_it_is_written() {
        let (_dir, pack, mut whole) = tagged_history();
        whole.sort();
        let into = tempfile::tempdir().expect("tempdir");
        let stop = AtomicBool::new(false);
        let found = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                follow(into.path(), gix::hash::Kind::Sha1, &stop, |o| {
                    found.lock().unwrap().push(o.to_vec());
                    true
                })
            });
            std::thread::sleep(Duration::from_millis(20));
            let mut file = File::create(into.path().join("tmp_pack_x")).expect("create");
            for piece in pack.chunks(pack.len() / 7 + 1) {
                std::io::Write::write_all(&mut file, piece).expect("write");
                std::thread::sleep(Duration::from_millis(10));
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while found.lock().unwrap().len() < whole.len() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(ids(&found.into_inner().unwrap()), whole);
    }

    /// Told to stop, it stops: before the pack appears, and in the middle of one that never ends.
    #[test]
    fn following_stops_when_told() {
        let (_dir, pack, _) = tagged_history();
        let into = tempfile::tempdir().expect("tempdir");
        let stops = || {
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                let following = s.spawn(|| follow(into.path(), gix::hash::Kind::Sha1, &stop, |_| true));
                std::thread::sleep(Duration::from_millis(20));
                stop.store(true, Ordering::Relaxed);
                following.join().expect("stopped");
            });
        };
        stops();
        std::fs::write(into.path().join("tmp_pack_y"), &pack[..pack.len() / 2]).expect("write");
        stops();
    }
}
