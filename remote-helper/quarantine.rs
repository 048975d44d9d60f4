//! The quarantine: a temporary object directory inside the user's repository that a fetch
//! writes into. Nothing in it is visible to the repository until it is scanned (every tag
//! object in it was verified, everything asked for arrived) and migrated into the real object
//! store. A quarantine dropped before migration is discarded with everything in it, and the
//! repository's `shallow` file is put back as it was.
//!
//! It never decides which tag objects are verified: the caller says which ones are allowed.

use std::path::{Path, PathBuf};

use git_signed_policy::{Repo, RepoError};
use gix::ObjectId;
use gix::objs::{FindHeader, Kind, Write as _};

use crate::upstream::Destination;

/// Why a fetch's objects were not let in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository (or it with the quarantine in front) cannot be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The quarantine directory cannot be made.
    #[error("cannot create a quarantine in {}: {source}", objects.display())]
    Create { objects: PathBuf, source: std::io::Error },
    /// Listing what arrived failed.
    #[error("cannot list quarantined objects: {0}")]
    List(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A pack index that arrived cannot be read.
    #[error("cannot read pack index {}: {source}", path.display())]
    PackIndex { path: PathBuf, source: gix::Error },
    /// An object that arrived cannot be read.
    #[error("cannot read fetched object {0}")]
    Unreadable(ObjectId),
    /// Tag objects that were not verified arrived (T15).
    #[error("refusing unverified tag object(s) {}; nothing from this fetch was stored", list(.0))]
    Unverified(Vec<ObjectId>),
    /// Something asked for did not arrive.
    #[error("{name} ({id}) did not arrive; the remote changed during the fetch, try again")]
    Missing { name: String, id: ObjectId },
    /// A verified tag object cannot be written into the quarantine.
    #[error("cannot store tag object {id}: {source}")]
    StoreTag { id: ObjectId, source: gix::Error },
    /// Copying objects out of it into a pack failed.
    #[error("cannot copy fetched objects into a pack: {0}")]
    Pack(#[source] crate::git::RunError),
    /// Moving the objects into the repository failed.
    #[error("cannot move fetched objects into the repository: {0}")]
    Migrate(#[source] std::io::Error),
}

fn list(ids: &[ObjectId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// An object directory in front of a repository's own, and the repository's `shallow` file as
/// it was before the fetch.
pub struct Quarantine {
    git_dir: PathBuf,
    /// The repository's object directory.
    objects: PathBuf,
    dir: tempfile::TempDir,
    shallow: Shallow,
}

/// Restores `shallow` as it was unless the fetch is accepted.
struct Shallow {
    path: PathBuf,
    before: Option<Vec<u8>>,
    keep: bool,
}

impl Drop for Shallow {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = match &self.before {
            Some(bytes) => std::fs::write(&self.path, bytes),
            None => std::fs::remove_file(&self.path).or(Ok(())),
        };
    }
}

impl Quarantine {
    /// A new, empty quarantine for the repository at `git_dir`.
    pub fn create(git_dir: &Path) -> Result<Quarantine, Error> {
        let common = Repo::open(git_dir, &[])?.repo.common_dir().to_owned();
        let objects = common.join("objects");
        let create = |source| Error::Create { objects: objects.clone(), source };
        let dir = tempfile::Builder::new().prefix("incoming-signed-").tempdir_in(&objects).map_err(create)?;
        std::fs::create_dir_all(dir.path().join("pack")).map_err(create)?;
        let path = common.join("shallow");
        let shallow = Shallow { before: std::fs::read(&path).ok(), path, keep: false };
        Ok(Quarantine { git_dir: git_dir.to_owned(), objects, dir, shallow })
    }

    /// Where an inner fetch should write.
    pub fn destination(&self) -> Destination<'_> {
        Destination {
            git_dir: &self.git_dir,
            quarantine: self.dir.path(),
            objects: &self.objects,
            shallow: self.shallow.before.is_some(),
        }
    }

    /// The repository with the quarantine's objects in front of its own.
    pub fn repo(&self) -> Result<Repo, Error> {
        Ok(Repo::open(&self.git_dir, &[self.dir.path().to_owned()])?)
    }

    /// Add a (verified) tag object, so tag-following can create its tag.
    pub fn add_tag(&self, hash: gix::hash::Kind, id: ObjectId, data: &[u8]) -> Result<(), Error> {
        let loose = gix::odb::loose::Store::at(self.dir.path(), hash);
        loose.write_buf(Kind::Tag, data).map_err(|source| Error::StoreTag { id, source })?;
        Ok(())
    }

    /// Refuse what must not enter `repo` (opened by [`Quarantine::repo`]): any tag object not in
    /// `allowed`, or an incomplete fetch (`wanted`: (object id, ref name)).
    pub fn scan(
        &self,
        repo: &Repo,
        allowed: &gix::hashtable::HashSet,
        wanted: &[(ObjectId, String)],
    ) -> Result<(), Error> {
        let mut refused = Vec::new();
        for (id, kind) in self.arrived(repo.hash())? {
            let kind = match kind {
                Some(kind) => kind,
                None => match repo.repo.objects.try_header(&id) {
                    Ok(Some(h)) => h.kind,
                    _ => return Err(Error::Unreadable(id)),
                },
            };
            if kind == Kind::Tag && !allowed.contains(&id) {
                refused.push(id);
            }
        }
        if !refused.is_empty() {
            return Err(Error::Unverified(refused));
        }
        for (id, name) in wanted {
            if !matches!(repo.repo.objects.try_header(id), Ok(Some(_))) {
                return Err(Error::Missing { name: name.clone(), id: *id });
            }
        }
        Ok(())
    }

    /// What is reachable from `tips` (in the quarantine, or the repository behind it, down to
    /// the repository's shallow boundary), in a new quarantine; this one is discarded. Nothing
    /// only other refs reach comes along: not a tag object verification hid, nor the code only
    /// such a tag reaches (design §6).
    pub fn only_reachable_from(mut self, tips: impl IntoIterator<Item = ObjectId>) -> Result<Quarantine, Error> {
        let mut fresh = Quarantine::create(&self.git_dir)?;
        // The repository's shallow file as it was before the fetch stays with the fetch.
        std::mem::swap(&mut fresh.shallow, &mut self.shallow);
        self.shallow.keep = true;
        let mut cmd = crate::git::local(Some(&self.git_dir));
        cmd.env("GIT_OBJECT_DIRECTORY", self.dir.path())
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.objects)
            .args(["pack-objects", "-q", "--revs"])
            .arg(fresh.dir.path().join("pack").join("pack"));
        let input: String = tips.into_iter().map(|id| format!("{id}\n")).collect();
        crate::git::run(cmd, Some(&input), "git pack-objects").map_err(Error::Pack)?;
        Ok(fresh)
    }

    /// Every object id in the quarantine (loose objects and pack indexes), with its kind where
    /// its pack entry says it (not for deltas, whose kind is their base's).
    fn arrived(&self, hash: gix::hash::Kind) -> Result<Vec<(ObjectId, Option<Kind>)>, Error> {
        let mut ids = Vec::new();
        for id in gix::odb::loose::Store::at(self.dir.path(), hash).iter() {
            ids.push((id.map_err(|e| Error::List(e.into()))?, None));
        }
        for entry in std::fs::read_dir(self.dir.path().join("pack")).map_err(|e| Error::List(e.into()))? {
            let path = entry.map_err(|e| Error::List(e.into()))?.path();
            if path.extension().is_some_and(|e| e == "idx") {
                ids.extend(pack_kinds(&path, hash)?);
            }
        }
        Ok(ids)
    }

    /// Move the objects into the repository: loose objects first, then packs in git's order
    /// (`.keep` first, `.idx` last so no reader sees a half-moved pack). Returns the `.keep`
    /// file protecting the new pack until git has written the refs, if a pack arrived.
    pub fn migrate(mut self) -> Result<Option<PathBuf>, Error> {
        self.migrate_loose().map_err(Error::Migrate)?;
        let lock = self.migrate_packs().map_err(Error::Migrate)?;
        self.shallow.keep = true;
        Ok(lock)
    }

    fn migrate_loose(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(self.dir.path())? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(n) = name.to_str() else { continue };
            if n.len() != 2 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let dest_dir = self.objects.join(n);
            std::fs::create_dir_all(&dest_dir)?;
            for obj in std::fs::read_dir(entry.path())? {
                let obj = obj?;
                let dest = dest_dir.join(obj.file_name());
                if !dest.exists() {
                    std::fs::rename(obj.path(), dest)?;
                }
            }
        }
        Ok(())
    }

    fn migrate_packs(&self) -> std::io::Result<Option<PathBuf>> {
        let pack_dir = self.objects.join("pack");
        std::fs::create_dir_all(&pack_dir)?;
        let mut lock = None;
        let mut packs: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("pack"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        packs.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
        for pack in packs {
            let stem = pack.with_extension("");
            if lock.is_none() {
                let keep = pack_dir.join(format!("{}.keep", file_name(&stem)));
                std::fs::write(&keep, "git-remote-signed\n")?;
                lock = Some(keep);
            }
            for ext in ["pack", "rev", "bitmap", "promisor", "idx"] {
                let from = stem.with_extension(ext);
                if from.exists() {
                    std::fs::rename(&from, pack_dir.join(file_name(&from)))?;
                }
            }
        }
        Ok(lock)
    }
}

/// The objects of the pack whose index is at `path`, each with its kind as the pack's entry
/// headers give it, without reading any object's data; `None` where they cannot say (the
/// object database decides those). A delta has its base's kind. git writes a delta's base
/// before it, and `index-pack --fix-thin` appends a thin pack's missing bases whole, so one
/// walk in pack order finds every base's kind; a pack made otherwise leaves some `None`.
fn pack_kinds(path: &Path, hash: gix::hash::Kind) -> Result<Vec<(ObjectId, Option<Kind>)>, Error> {
    use gix::odb::pack::data::entry::Header;
    let index = gix::odb::pack::index::File::at(path, hash)
        .map_err(|source| Error::PackIndex { path: path.to_owned(), source })?;
    let mut entries: Vec<(u64, ObjectId)> = index.iter().map(|e| (e.pack_offset, e.oid)).collect();
    entries.sort_unstable_by_key(|&(offset, _)| offset);
    let Ok(pack) = gix::odb::pack::data::File::at(path.with_extension("pack"), hash) else {
        return Ok(entries.into_iter().map(|(_, id)| (id, None)).collect());
    };
    let at = |offset: u64| entries.binary_search_by_key(&offset, |&(o, _)| o).ok();
    let headers: Vec<Option<Header>> =
        entries.iter().map(|&(offset, _)| pack.entry(offset).ok().map(|e| e.header)).collect();
    let base = |i: usize| match headers[i] {
        Some(Header::OfsDelta { base_distance }) => entries[i].0.checked_sub(base_distance).and_then(at),
        Some(Header::RefDelta { base_id }) => index.lookup(base_id).and_then(|b| at(index.pack_offset_at_index(b))),
        _ => None,
    };
    let mut kinds: Vec<Option<Kind>> = headers.iter().map(|h| h.as_ref().and_then(Header::as_kind)).collect();
    for i in 0..entries.len() {
        if kinds[i].is_none() {
            kinds[i] = base(i).and_then(|b| kinds[b]);
        }
    }
    Ok(entries.into_iter().zip(kinds).map(|((_, id), kind)| (id, kind)).collect())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::git;

    /// Every object of every pack in `repo` with the kind git gives it, against the kinds read
    /// from the packs' headers.
    fn assert_kinds_match_git(repo: &Path) {
        let listed = git(repo, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"], b"");
        let by_git: std::collections::HashMap<String, String> = String::from_utf8(listed)
            .expect("utf-8")
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(id, kind)| (id.to_owned(), kind.to_owned())))
            .collect();
        let mut deltas = 0;
        for entry in std::fs::read_dir(repo.join(".git/objects/pack")).expect("packs") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "idx") {
                continue;
            }
            let index = gix::odb::pack::index::File::at(&path, gix::hash::Kind::Sha1).expect("index");
            let pack =
                gix::odb::pack::data::File::at(path.with_extension("pack"), gix::hash::Kind::Sha1).expect("pack");
            deltas += index.iter().filter(|e| pack.entry(e.pack_offset).is_ok_and(|e| e.header.is_delta())).count();
            for (id, kind) in pack_kinds(&path, gix::hash::Kind::Sha1).expect("kinds") {
                assert_eq!(kind.map(|k| k.to_string()).as_ref(), by_git.get(&id.to_string()), "{id}");
            }
        }
        assert!(deltas > 0, "the packs hold deltas");
    }

    /// A delta's kind is its base's, read from the pack: offset deltas (tag objects among
    /// them), and a thin pack's ref deltas whose bases `index-pack --fix-thin` appended.
    #[test]
    fn kinds_from_pack_headers_are_the_kinds_git_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir(&src).expect("src");
        git(&src, &["init", "-q"], b"");
        let text: String = (0..200).map(|i| format!("line {i} of a file that changes a little\n")).collect();
        for n in 0..3 {
            std::fs::write(src.join("file"), format!("{text}{n}\n")).expect("file");
            git(&src, &["add", "file"], b"");
            git(&src, &["commit", "-q", "-m", &format!("commit {n}")], b"");
            git(&src, &["tag", "-a", &format!("t{n}"), "-m", &format!("{text}tag {n}")], b"");
        }
        git(&src, &["repack", "-adfq", "--window=50"], b"");
        assert_kinds_match_git(&src);

        // Only what t2 adds to t0, its bases left out: deltas against objects it does not carry.
        let thin = git(&src, &["pack-objects", "--thin", "--stdout", "--revs", "-q"], b"t2^{commit}\n^t0^{commit}\n");
        let dst = dir.path().join("dst");
        std::fs::create_dir(&dst).expect("dst");
        git(&dst, &["init", "-q"], b"");
        let base = git(&src, &["pack-objects", "--stdout", "--revs", "-q"], b"t0^{commit}\n");
        git(&dst, &["index-pack", "--stdin"], &base);
        git(&dst, &["index-pack", "--stdin", "--fix-thin"], &thin);
        assert_kinds_match_git(&dst);
    }
}
