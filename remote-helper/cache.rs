//! The per-URL tag cache: a small bare repository holding only tag objects and the commits
//! they point at (fetched with `--depth=1 --filter=tree:0`), so tags can be verified before
//! `list` answers, and a file of verdicts that cannot have changed (same tag object, same
//! policy and keys, same environment), so a fetch with nothing new stays cheap.
//!
//! One exclusive file lock per cache serialises concurrent helpers for the same URL.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use git_signed_policy::duration::unix_seconds as seconds;
use git_signed_policy::{Repo, RepoError};
use gix::ObjectId;
use gix::objs::FindHeader;

use git_signed_tool::store::{self, Cache, private, private_dir, write_private};

use crate::git::{self, RunError};
use crate::listing::Hidden;
use crate::upstream;

/// Cached accepted verdicts are trusted for this long, then re-verified.
const VERDICT_TTL_SECS: u64 = 24 * 3600;

/// Why the tag cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Its directory cannot be made.
    #[error("cannot create the tag cache {}: {source}", dir.display())]
    Create { dir: PathBuf, source: std::io::Error },
    /// Another user could write its directory, and so forge remembered verdicts (T29).
    #[error("{0}; or set GIT_SIGNED_CACHE to a directory only you can write")]
    NotPrivate(#[from] store::Error),
    /// Its lock cannot be taken.
    #[error("cannot lock the tag cache: {0}")]
    Lock(#[source] std::io::Error),
    /// A git command on the cache (`git init`, `git config`, `git pack-objects`) failed.
    #[error(transparent)]
    Git(#[from] RunError),
    /// The URL cannot be hashed into a directory name.
    #[error("cannot name the tag cache: {0}")]
    Name(#[source] gix::Error),
    /// The cache repository cannot be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Fetching tag objects into it failed.
    #[error(transparent)]
    Fetch(#[from] upstream::Error),
    /// What a clone's transfer brought cannot be read.
    #[error(transparent)]
    Arrived(#[from] crate::quarantine::Error),
    /// The thread writing the cache stopped early.
    #[error("the tag cache's writer failed")]
    Writer,
    /// Verified tag objects copied from a clone's transfer cannot be marked as the cache's.
    #[error("cannot keep verified tag objects in the tag cache: {0}")]
    Adopt(#[source] std::io::Error),
    /// Accepted verdicts cannot be written down.
    #[error("cannot write the verdict cache: {0}")]
    Remember(#[source] std::io::Error),
    /// A tag listed from a remembered verdict has no remembered chain any more.
    #[error("the tag cache no longer holds what verified {0} (it was cleared meanwhile?); fetch again to verify anew")]
    Forgotten(String),
}

/// The objects a cache holds, read once from its pack indexes and loose object directories
/// (under the cache's lock, so they stay put): the object database would look for a loose
/// file for every id it lacks, which at 10,000 tags costs more than the rest of a listing.
struct Held {
    packs: Vec<gix::odb::pack::index::File>,
    loose: gix::hashtable::HashSet,
}

impl Held {
    fn read(objects: &Path, hash: gix::hash::Kind) -> Result<Held, Box<dyn std::error::Error>> {
        let mut packs = Vec::new();
        for entry in std::fs::read_dir(objects.join("pack"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "idx") {
                packs.push(gix::odb::pack::index::File::at(&path, hash)?);
            }
        }
        let mut loose = gix::hashtable::HashSet::default();
        for id in gix::odb::loose::Store::at(objects, hash).iter() {
            loose.insert(id?);
        }
        Ok(Held { packs, loose })
    }

    fn contains(&self, id: &ObjectId) -> bool {
        self.loose.contains(id) || self.packs.iter().any(|p| p.lookup(id).is_some())
    }
}

/// An opened, locked tag cache for one URL.
pub struct TagCache {
    repo_dir: PathBuf,
    /// The mirror's policy history (`refs/signed/policy`), whole commits.
    policy_dir: PathBuf,
    verdicts_file: PathBuf,
    snapshot_file: PathBuf,
    url: String,
    hash: gix::hash::Kind,
    /// Signature facts learned from this mirror's tags.
    pub store: Cache,
    lock: File,
}

/// A cached accepted verdict: the chain of tag objects that verified.
pub type Chain = Vec<ObjectId>;

/// What an accepted verdict rested on: the chain that verified and the commit it reaches
/// (so a mirror advertising another `^{}` is caught without walking the chain again), and
/// until when time alone leaves it standing.
#[derive(Debug, Clone)]
pub struct Remembered {
    /// The tag objects, innermost first.
    pub chain: Chain,
    /// The commit at the bottom.
    pub commit: ObjectId,
    /// When a signature in it expires (or another time-bound answer changes), if ever
    /// (`Verdict::holds_until`).
    pub until: Option<SystemTime>,
    /// When it was remembered (it is used for [`VERDICT_TTL_SECS`] from then).
    pub at: SystemTime,
}

/// How long a verification stands: until time alone can change one of its verdicts, and
/// counted (for [`VERDICT_TTL_SECS`]) from the oldest remembered verdict it reused.
#[derive(Debug, Default, Clone, Copy)]
pub struct Standing {
    /// The first time a verdict in it can change by time alone.
    pub until: Option<SystemTime>,
    /// The oldest remembered verdict it rests on, if older than now.
    pub since: Option<SystemTime>,
}

fn base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIT_SIGNED_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("git-signed");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("git-signed");
    }
    std::env::temp_dir().join(format!("git-signed-cache-{}", git_signed_tool::effective_uid()))
}

fn hex_digest(text: &str) -> Result<String, Error> {
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(text.as_bytes());
    h.try_finalize().map(|id| id.to_string()).map_err(Error::Name)
}

impl TagCache {
    /// Open (creating if needed) and lock the cache for `url` with object format `hash`.
    pub fn open(url: &str, hash: gix::hash::Kind) -> Result<TagCache, Error> {
        let base = base_dir();
        private_dir(&base)?;
        let dir = base.join(format!("{}-{hash}", hex_digest(url)?));
        let create = |source| Error::Create { dir: dir.clone(), source };
        private_dir(&dir)?;
        let store = Cache::open(&dir.join("store"))?;
        let verdicts_file = dir.join("verdicts");
        let snapshot_file = dir.join("snapshot");
        for file in [&verdicts_file, &snapshot_file] {
            if file.exists() {
                private(file)?;
            }
        }
        let lock = File::options().create(true).truncate(false).write(true).open(dir.join("lock"));
        let lock = lock.map_err(Error::Lock)?;
        lock.lock().map_err(Error::Lock)?;
        let repo_dir = dir.join("tags.git");
        if !repo_dir.join("config").exists() {
            let scratch = dir.join(format!("tags.git.new.{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            init(url, hash, &scratch)?;
            std::fs::rename(&scratch, &repo_dir).map_err(create)?;
            // What was remembered refers to tag objects a new cache does not hold.
            for file in [&verdicts_file, &snapshot_file] {
                let _ = std::fs::remove_file(file);
            }
        }
        let policy_dir = dir.join("policy.git");
        let url = url.to_owned();
        Ok(TagCache { verdicts_file, snapshot_file, repo_dir, policy_dir, url, hash, store, lock })
    }

    /// Run `f` with the cache unlocked, so other helpers for this mirror (a pipeline's checks)
    /// need not wait for it, then lock it again. What was read before stays true: remembered
    /// verdicts and facts only ever hold or expire, and the cache's objects are never removed.
    pub fn unlocked<R>(&self, f: impl FnOnce() -> R) -> Result<R, Error> {
        self.lock.unlock().map_err(Error::Lock)?;
        let out = f();
        self.lock.lock().map_err(Error::Lock)?;
        Ok(out)
    }

    /// The cache repository, for reading objects. Nothing else writes it while the cache is
    /// locked, so a missing object is not looked for again in packs that may have appeared
    /// meanwhile (gix would rescan the pack directory on every miss, and a cold cache misses
    /// every tag).
    pub fn repo(&self) -> Result<Repo, Error> {
        let mut repo = Repo::open(&self.repo_dir, &[])?;
        repo.repo.objects.refresh_never();
        Ok(repo)
    }

    /// The repository holding the mirror's policy history, created if missing, and its path.
    pub fn policy_repo(&self) -> Result<(Repo, &Path), Error> {
        if !self.policy_dir.join("config").exists() {
            let scratch = self.policy_dir.with_extension(format!("new.{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            let mut init = git::git(&self.url, None);
            init.args(["init", "-q", "--bare", &format!("--object-format={}", self.hash)]).arg(&scratch);
            git::run(init, None, "creating the policy cache")?;
            let mut cfg = git::git(&self.url, Some(&scratch));
            cfg.args(["config", "gc.auto", "0"]);
            git::run(cfg, None, "configuring the policy cache")?;
            std::fs::rename(&scratch, &self.policy_dir)
                .map_err(|source| Error::Create { dir: self.policy_dir.clone(), source })?;
        }
        Ok((Repo::open(&self.policy_dir, &[])?, &self.policy_dir))
    }

    /// Those of `ids` the cache does not hold yet, each once.
    pub fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, Error> {
        let mut missing: Vec<ObjectId> = match Held::read(&self.repo_dir.join("objects"), self.hash) {
            Ok(held) => ids.iter().copied().filter(|id| !held.contains(id)).collect(),
            Err(_) => {
                let repo = self.repo()?;
                ids.iter().copied().filter(|id| !matches!(repo.repo.objects.try_header(id), Ok(Some(_)))).collect()
            }
        };
        missing.sort();
        missing.dedup();
        Ok(missing)
    }

    /// Fetch the tag objects `ids` (and their commits, without trees) from upstream. The
    /// cache keeps no refs; nothing in it is ever garbage-collected (`gc.auto=0`).
    pub fn fetch(&self, ids: &[ObjectId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        Ok(upstream::fetch_tags(&self.url, &self.repo_dir, ids)?)
    }

    /// Keep `ids` (tag objects and the commits they reach), copied from the repository at
    /// `git_dir` a clone's transfer went into, so later fetches need not fetch them. Their
    /// pack is marked as a promisor's, like every fetch into the cache: the trees those commits
    /// name may be missing.
    pub fn adopt(&self, git_dir: &Path, ids: &[ObjectId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let from = Repo::open(git_dir, &[])?.repo.common_dir().join("objects");
        let own = self.repo_dir.join("objects");
        // Written beside the cache's packs and moved in, the `.promisor` mark first, so no
        // fetch into the cache sees the commits without it.
        let scratch = tempfile::Builder::new().prefix("adopt-").tempdir_in(&own).map_err(Error::Adopt)?;
        let mut cmd = git::local(Some(git_dir));
        cmd.env("GIT_OBJECT_DIRECTORY", &own)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", from)
            .args(["pack-objects", "-q"])
            .arg(scratch.path().join("pack"));
        let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let out = git::run(cmd, Some(&input), "copying verified tag objects into the tag cache")?;
        // One pack per line (`pack.packSizeLimit` may split it), each moved in whole.
        for checksum in String::from_utf8_lossy(&out).split_whitespace() {
            let name = format!("pack-{checksum}");
            let pack = scratch.path().join(&name);
            if !pack.with_extension("pack").is_file() || !pack.with_extension("idx").is_file() {
                return Err(Error::Adopt(std::io::Error::other(format!("git pack-objects wrote no {name}.pack"))));
            }
            std::fs::write(pack.with_extension("promisor"), "").map_err(Error::Adopt)?;
            for ext in ["promisor", "pack", "rev", "idx"] {
                let from = pack.with_extension(ext);
                if from.exists() {
                    std::fs::rename(&from, own.join("pack").join(&name).with_extension(ext)).map_err(Error::Adopt)?;
                }
            }
        }
        // Only what is really there may be recorded as kept.
        match self.missing(ids)?.first() {
            Some(id) => Err(Error::Adopt(std::io::Error::other(format!("{id} did not reach the tag cache")))),
            None => Ok(()),
        }
    }

    /// Cached accepted verdicts for `policy_digest`, by (tag name, object id): the chain and
    /// the commit it reaches. Lines of older versions (no commit) are not reused.
    pub fn verdicts(&self, policy_digest: &str) -> foldhash::HashMap<(String, ObjectId), Remembered> {
        use foldhash::HashMapExt as _;
        let now = seconds(SystemTime::now());
        let text = std::fs::read_to_string(&self.verdicts_file).unwrap_or_default();
        let mut out = foldhash::HashMap::new();
        // Only whole lines: a write cut short (a full disk, a killed process) leaves a last
        // line without its newline, whose tag name may be cut too.
        for line in text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n')) {
            let mut f = line.splitn(5, ' ');
            let (Some(when), Some(digest), Some(id), Some(chain), Some(name)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            if digest != policy_digest {
                continue;
            }
            let Some((at, until)) = window(when, now) else { continue };
            let Ok(id) = ObjectId::from_hex(id.as_bytes()) else { continue };
            let Some((chain, commit)) = chain.split_once('>') else { continue };
            let chain: Result<Chain, _> = chain.split(',').map(|c| ObjectId::from_hex(c.as_bytes())).collect();
            if let (Ok(chain), Ok(commit)) = (chain, ObjectId::from_hex(commit.as_bytes())) {
                out.insert((name.to_owned(), id), Remembered { chain, commit, until, at });
            }
        }
        out
    }

    /// Remember accepted verdicts: (tag name, object id, what was verified). The file is
    /// rewritten under the cache's lock with only the lines still fresh (every policy and
    /// environment share it) plus the new ones, and renamed into place: it stays as large as
    /// one day of verdicts however long the cache lives, and a reader never sees half a write.
    pub fn remember(&self, policy_digest: &str, accepted: &[(String, ObjectId, Remembered)]) -> Result<(), Error> {
        if accepted.is_empty() {
            return Ok(());
        }
        let now = seconds(SystemTime::now());
        let mut added = String::new();
        for (name, id, Remembered { chain, commit, until, .. }) in accepted {
            let chain: Vec<String> = chain.iter().map(ToString::to_string).collect();
            let when = stamp(now, *until);
            added.push_str(&format!("{when} {policy_digest} {id} {}>{commit} {name}\n", chain.join(",")));
        }
        let existing = std::fs::read_to_string(&self.verdicts_file).unwrap_or_default();
        let text = fresh_lines(&existing, now) + &added;
        write_private(&self.verdicts_file, &text).map_err(Error::Remember)
    }
}

/// How a remembered answer made at `now` is dated: `<now>`, or `<now>..<until>` when time
/// alone changes it then (a signature expires).
fn stamp(now: u64, until: Option<SystemTime>) -> String {
    match until {
        Some(until) => format!("{now}..{}", seconds(until)),
        None => now.to_string(),
    }
}

/// Whether something dated `when` (see [`stamp`]) may be used at `now`: within
/// [`VERDICT_TTL_SECS`], not from the future (a clock that was ahead would otherwise keep it
/// fresh longer), and before its `until`. If so, when it was made and that `until`.
fn window(when: &str, now: u64) -> Option<(SystemTime, Option<SystemTime>)> {
    let (t, until) = match when.split_once("..") {
        Some((t, until)) => (t, Some(until.parse::<u64>().ok()?)),
        None => (when, None),
    };
    let t = t.parse::<u64>().ok()?;
    let fresh = t <= now && now - t < VERDICT_TTL_SECS && until.is_none_or(|u| now < u);
    let time = |s: u64| UNIX_EPOCH + std::time::Duration::from_secs(s);
    fresh.then(|| (time(t), until.map(time)))
}

/// The whole lines of a verdicts file that may still be used at `now`.
fn fresh_lines(text: &str, now: u64) -> String {
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter(|line| line.split(' ').next().and_then(|when| window(when, now)).is_some())
        .collect()
}

/// The last verification of a mirror's protected tags, while it stands.
pub struct Snapshot {
    /// The tags it hid, and why.
    pub hidden: HashMap<String, Hidden>,
    /// When the first of its verdicts can change by time alone.
    pub until: Option<SystemTime>,
}

impl TagCache {
    /// When the last verification of this mirror's protected tags, less than
    /// [`VERDICT_TTL_SECS`] ago, was of exactly the advertisement `digest` names (see
    /// [`snapshot_digest`]), and no verdict of it can have changed by time since: the tags it
    /// hid, and why. Anything else, or a file that does not read back whole, is `None`.
    pub fn same_as_last_time(&self, digest: &str) -> Option<Snapshot> {
        let now = seconds(SystemTime::now());
        let text = std::fs::read_to_string(&self.snapshot_file).ok()?;
        // Whole and unaltered, or not at all: a damaged line must never un-hide a tag.
        let (body, sum) = text.strip_suffix('\n')?.rsplit_once("\nsum ")?;
        if hex_digest(&format!("{body}\n")).ok()? != sum {
            return None;
        }
        let mut lines = body.strip_suffix("\nend")?.split('\n');
        let (when, last) = lines.next()?.split_once(' ')?;
        if last != digest {
            return None;
        }
        let (_, until) = window(when, now)?;
        let hidden = lines
            .map(|line| line.split_once('\t').map(|(name, why)| (name.to_owned(), Hidden::Failed(why.to_owned()))))
            .collect::<Option<_>>()?;
        Some(Snapshot { hidden, until })
    }

    /// Record that every protected tag of the advertisement `digest` names was verified now:
    /// the accepted ones are remembered, and these were `hidden`. It stands no longer than
    /// `standing` says, so never longer than a remembered verdict it rests on.
    pub fn verified<'h>(
        &self,
        digest: &str,
        hidden: impl IntoIterator<Item = (&'h String, &'h Hidden)>,
        standing: Standing,
    ) -> Result<(), Error> {
        let now = seconds(SystemTime::now());
        let since = standing.since.map_or(now, |s| seconds(s).min(now));
        let mut text = format!("{} {digest}\n", stamp(since, standing.until));
        for (name, why) in hidden {
            let (Hidden::Failed(why) | Hidden::Quiet(why)) = why;
            text.push_str(&format!("{name}\t{}\n", why.replace(['\n', '\t'], " ")));
        }
        text.push_str("end\n");
        let sum = hex_digest(&text)?;
        write_private(&self.snapshot_file, &format!("{text}sum {sum}\n")).map_err(Error::Remember)
    }
}

impl TagCache {
    /// Drop the record of the last verification: the next listing verifies anew.
    pub fn forget_snapshot(&self) {
        let _ = std::fs::remove_file(&self.snapshot_file);
    }
}

/// A digest of what the verdicts on a mirror's protected tags depend on besides time: the
/// policy and environment (`policy_digest`) and every protected tag as advertised (name,
/// object, `^{}`), in order. The `inactivity` rule reads the whole set, so while it is the
/// same, so is every verdict.
pub fn snapshot_digest<'r>(
    policy_digest: &str,
    tags: impl IntoIterator<Item = (&'r str, ObjectId, Option<ObjectId>)>,
) -> String {
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(policy_digest.as_bytes());
    for (name, id, peeled) in tags {
        // Raw ids (fixed length per object format) and the name between separators.
        h.update(b"\n");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(id.as_bytes());
        h.update(peeled.as_ref().map_or(&[][..], |p| p.as_bytes()));
    }
    h.try_finalize().map(|id| id.to_string()).unwrap_or_default()
}

/// Make a new cache repository at `dir`: bare, promisor remote `upstream` at `url`, never
/// garbage-collected.
fn init(url: &str, hash: gix::hash::Kind, dir: &std::path::Path) -> Result<(), RunError> {
    let mut init = git::git(url, None);
    init.args(["init", "-q", "--bare", &format!("--object-format={hash}")]).arg(dir);
    git::run(init, None, "creating the tag cache")?;
    for (key, value) in [
        ("remote.upstream.url", url),
        ("remote.upstream.promisor", "true"),
        ("remote.upstream.partialclonefilter", "tree:0"),
        ("gc.auto", "0"),
    ] {
        let mut cfg = git::git(url, Some(dir));
        cfg.args(["config", key, value]);
        git::run(cfg, None, "configuring the tag cache")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_still_standing_are_kept() {
        let now = 10 * VERDICT_TTL_SECS;
        let old = now - VERDICT_TTL_SECS - 1;
        let recent = now - 60;
        let ahead = now + 60;
        let (due, later) = (now, now + 1);
        let text = format!(
            "{old} d id c>x deploy/1\n{recent} d id c>x deploy/2\nnot-a-time d\n{ahead} d id c>x deploy/3\n\
             {recent}..{due} d id c>x deploy/4\n{recent}..{later} d id c>x deploy/5\n{recent}..x d id c>x deploy/6\n\
             {recent} d id c>x depl"
        );
        assert_eq!(
            fresh_lines(&text, now),
            format!("{recent} d id c>x deploy/2\n{recent}..{later} d id c>x deploy/5\n")
        );
    }
}
