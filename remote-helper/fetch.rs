//! `fetch` batches: one native `git fetch` into a quarantine object directory inside the
//! user's repository, then a scan that refuses the whole batch if any tag object arrived that
//! was not verified at `list` time (T15: a mirror serving an unverified tag, even by object
//! id), then the verified tag objects needed for tag-following, then migration into the real
//! object store. Until migration nothing the mirror sent is visible to the repository.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use git_signed_policy::Repo;
use gix::ObjectId;
use gix::objs::{Find, FindHeader, Kind, Write as _};

use crate::cache::TagCache;
use crate::git;
use crate::listing::Listing;
use crate::options::FetchOptions;

/// git's "infinite" depth, sent for `--unshallow`.
const INFINITE_DEPTH: u64 = 2_147_483_647;

/// What a fetch batch brought.
pub struct Fetched {
    /// The `.keep` file protecting the new pack until git has written the refs.
    pub lock: Option<PathBuf>,
    /// Whether the new objects were proven connected (so git may skip its own walk).
    pub connected: bool,
}

/// The inner `git fetch` flags for what git asked.
fn flags(opts: &FetchOptions, shallow_exists: bool) -> Vec<String> {
    let mut f = Vec::new();
    match opts.depth {
        // --unshallow on a complete repository is an error; nothing to do then.
        Some(INFINITE_DEPTH) if shallow_exists => f.push("--unshallow".to_owned()),
        Some(INFINITE_DEPTH) => {}
        Some(d) if d > 0 && opts.deepen_relative => f.push(format!("--deepen={d}")),
        Some(d) if d > 0 => f.push(format!("--depth={d}")),
        _ => {}
    }
    if let Some(since) = &opts.deepen_since {
        f.push(format!("--shallow-since={since}"));
    }
    for not in &opts.deepen_not {
        f.push(format!("--shallow-exclude={not}"));
    }
    if opts.update_shallow {
        f.push("--update-shallow".to_owned());
    }
    if opts.refetch {
        f.push("--refetch".to_owned());
    }
    match opts.verbosity {
        0 => f.push("-q".to_owned()),
        1 => {}
        _ => f.push("-v".to_owned()),
    }
    if opts.progress {
        f.push("--progress".to_owned());
    }
    match opts.family.as_deref() {
        Some("ipv4") => f.push("-4".to_owned()),
        Some("ipv6") => f.push("-6".to_owned()),
        _ => {}
    }
    f
}

/// Restores `shallow` as it was unless the fetch is accepted.
struct ShallowGuard {
    path: PathBuf,
    before: Option<Vec<u8>>,
    keep: bool,
}

impl Drop for ShallowGuard {
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

/// Fetch `batch` of (object id, name) into the repository at `git_dir`; returns the `.keep`
/// lock to report, if a pack arrived.
pub fn fetch(
    url: &str,
    git_dir: &Path,
    listing: &Listing,
    batch: &[(ObjectId, String)],
    opts: &FetchOptions,
) -> Result<Fetched, String> {
    let common = Repo::open(git_dir, &[]).map_err(|e| e.to_string())?.repo.common_dir().to_owned();
    let objects = common.join("objects");
    let quarantine = tempfile::Builder::new()
        .prefix("incoming-signed-")
        .tempdir_in(&objects)
        .map_err(|e| format!("cannot create a quarantine in {}: {e}", objects.display()))?;
    let q = quarantine.path().to_owned();
    std::fs::create_dir_all(q.join("pack")).map_err(|e| e.to_string())?;
    let shallow_path = common.join("shallow");
    let mut shallow = ShallowGuard { before: std::fs::read(&shallow_path).ok(), path: shallow_path, keep: false };

    // Ask for object ids, not ref names: they were advertised (so any server allows them),
    // they pin exactly what `list` verified, and git matches thousands of ids far faster
    // than thousands of refspecs.
    let mut wanted: Vec<ObjectId> = Vec::new();
    for (id, _) in batch {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    let mut cmd = git::git(url, Some(git_dir));
    cmd.env("GIT_OBJECT_DIRECTORY", &q)
        .env("GIT_QUARANTINE_PATH", &q)
        .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &objects)
        .args(["-c", "fetch.writeCommitGraph=false", "-c", "fetch.unpackLimit=1"]);
    // A plain clone over a native transport goes through `git fetch-pack`, which — like
    // `git clone` itself — proves a self-contained pack connected while indexing it, instead
    // of `git fetch`'s separate walk over every new object. `fetch-pack` cannot speak http(s),
    // and shallow or incremental fetches need the porcelain.
    let plain_clone = opts.cloning
        && opts.depth.is_none()
        && opts.deepen_since.is_none()
        && opts.deepen_not.is_empty()
        && !opts.refetch
        && !opts.update_shallow
        && matches!(git::transport(url), "file" | "ssh" | "git");
    if plain_clone {
        cmd.args(["fetch-pack", "--stdin", "--lock-pack", "--check-self-contained-and-connected", "--cloning"]);
        if opts.verbosity == 0 {
            cmd.arg("-q");
        }
        if !opts.progress {
            cmd.arg("--no-progress");
        }
        cmd.arg(url);
    } else {
        cmd.args(["fetch", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance", "--no-recurse-submodules"])
            .args(flags(opts, shallow.before.is_some()))
            .args(["--stdin", url]);
    }
    let input: String = wanted.iter().map(|w| format!("{w}\n")).collect();
    let out = git::run(cmd, Some(&input), if plain_clone { "git fetch-pack" } else { "git fetch" })?;
    // `git fetch` walked the new objects itself; `fetch-pack` says whether its pack was.
    let connected = !plain_clone || String::from_utf8_lossy(&out).lines().any(|l| l == "connectivity-ok");
    crate::trace("inner fetch");

    let repo = Repo::open(git_dir, std::slice::from_ref(&q)).map_err(|e| e.to_string())?;
    if opts.followtags {
        add_followed_tags(url, &repo, &q, listing)?;
    }
    let arrived = quarantined_ids(&q, repo.hash())?;
    let mut refused = Vec::new();
    for id in &arrived {
        match repo.repo.objects.try_header(id) {
            Ok(Some(h)) if h.kind == Kind::Tag && !listing.allowed_tags.contains(id) => refused.push(*id),
            Ok(Some(_)) => {}
            _ => return Err(format!("cannot read fetched object {id}")),
        }
    }
    if !refused.is_empty() {
        let ids: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(format!(
            "refusing unverified tag object(s) {}; nothing from this fetch was stored",
            ids.join(", ")
        ));
    }
    for (id, name) in batch {
        if !matches!(repo.repo.objects.try_header(id), Ok(Some(_))) {
            return Err(format!("{name} ({id}) did not arrive; the remote changed during the fetch, try again"));
        }
    }
    drop(repo);
    crate::trace("quarantine scan");
    let lock = migrate(&q, &objects)?;
    shallow.keep = true;
    Ok(Fetched { lock, connected })
}

/// Supply the verified tag objects of listed tags whose commit is now present, so git's
/// tag-following (and `clone --single-branch`) can create those tags.
fn add_followed_tags(url: &str, repo: &Repo, q: &Path, listing: &Listing) -> Result<(), String> {
    let present = |id: &ObjectId| matches!(repo.repo.objects.try_header(id), Ok(Some(_)));
    let needed: Vec<&(ObjectId, ObjectId, Vec<ObjectId>)> =
        listing.chains.iter().filter(|(tag, peeled, _)| !present(tag) && present(peeled)).collect();
    if needed.is_empty() {
        return Ok(());
    }
    let cache = TagCache::open(url, repo.hash())?;
    let cache_repo = cache.repo()?;
    let loose = gix::odb::loose::Store::at(q, repo.hash());
    let mut buf = Vec::new();
    for (_, _, chain) in needed {
        for id in chain {
            if present(id) {
                continue;
            }
            let data = match cache_repo.repo.objects.try_find(id, &mut buf) {
                Ok(Some(d)) if d.kind == Kind::Tag => d,
                _ => return Err(format!("verified tag object {id} is missing from the tag cache")),
            };
            loose.write_buf(Kind::Tag, data.data).map_err(|e| format!("cannot store tag object {id}: {e}"))?;
        }
    }
    Ok(())
}

/// Every object id in the quarantine: loose objects and pack indexes.
fn quarantined_ids(q: &Path, hash: gix::hash::Kind) -> Result<HashSet<ObjectId>, String> {
    let mut ids = HashSet::new();
    for id in gix::odb::loose::Store::at(q, hash).iter() {
        ids.insert(id.map_err(|e| format!("cannot list quarantined objects: {e}"))?);
    }
    let packs = std::fs::read_dir(q.join("pack")).map_err(|e| e.to_string())?;
    for entry in packs {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let index = gix::odb::pack::index::File::at(&path, hash)
                .map_err(|e| format!("cannot read pack index {}: {e}", path.display()))?;
            ids.extend(index.iter().map(|e| e.oid));
        }
    }
    Ok(ids)
}

/// Move the quarantine's objects into the repository: loose objects first, then packs in
/// git's order (`.keep` first, `.idx` last so no reader sees a half-moved pack).
fn migrate(q: &Path, objects: &Path) -> Result<Option<PathBuf>, String> {
    let io = |e: std::io::Error| format!("cannot move fetched objects into the repository: {e}");
    for entry in std::fs::read_dir(q).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(n) = name.to_str() else { continue };
        if n.len() != 2 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let dest_dir = objects.join(n);
        std::fs::create_dir_all(&dest_dir).map_err(io)?;
        for obj in std::fs::read_dir(entry.path()).map_err(io)? {
            let obj = obj.map_err(io)?;
            let dest = dest_dir.join(obj.file_name());
            if !dest.exists() {
                std::fs::rename(obj.path(), dest).map_err(io)?;
            }
        }
    }
    let pack_dir = objects.join("pack");
    std::fs::create_dir_all(&pack_dir).map_err(io)?;
    let mut lock = None;
    let mut packs: Vec<PathBuf> = std::fs::read_dir(q.join("pack"))
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect();
    packs.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    for pack in packs {
        let stem = pack.with_extension("");
        if lock.is_none() {
            let keep = pack_dir.join(format!("{}.keep", file_name(&stem)));
            std::fs::write(&keep, "git-remote-signed\n").map_err(io)?;
            lock = Some(keep);
        }
        for ext in ["pack", "rev", "bitmap", "promisor", "idx"] {
            let from = stem.with_extension(ext);
            if from.exists() {
                std::fs::rename(&from, pack_dir.join(file_name(&from))).map_err(io)?;
            }
        }
    }
    Ok(lock)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
