//! Opening a repository the safe way, and seeing objects git has not moved in yet.
//!
//! Always opened isolated (no environment, no global config) with `core.useReplaceRefs=false`,
//! so `refs/replace/*` cannot change what is verified. Inside a pre-receive hook, or the remote
//! helper's fetch quarantine, pushed objects live in a directory gix does not look at by
//! itself; [`Repo::open`] overlays those directories through an `info/alternates` file in a
//! private temporary directory. It never writes into the quarantine.

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::facts::{Facts, SignatureFact};
use crate::policy::Policy;
use crate::verdict::{Activity, Examined, Request, Verdict, Walks, verify_keeping};

/// What [`Repo::history_keeping`] made.
#[derive(Debug)]
pub struct HistoryPass {
    /// Who signed the protected tags, and when.
    pub activity: Activity,
    /// The signature facts learned, which an adapter may keep.
    pub learned: Vec<(ObjectId, SignatureFact)>,
    /// What was found of the tags asked for.
    pub walks: Walks,
}

/// Why a repository cannot be used. Each message includes its cause, which also stays a
/// typed field for callers that inspect it (adapters print one line, not a chain).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// gix could not open it.
    #[error("cannot open the repository at {}: {source}", path.display())]
    Open {
        /// Where it was looked for.
        path: PathBuf,
        /// What gix said.
        source: Box<gix::Error>,
    },
    /// The object overlay could not be set up.
    #[error("cannot see the pushed objects ({0})")]
    Overlay(std::io::Error),
    /// An object directory git named cannot be overlaid.
    #[error("cannot see the pushed objects ({0})")]
    ObjectDirectory(String),
    /// Reading refs failed.
    #[error("cannot read refs: {0}")]
    Refs(Box<dyn std::error::Error + Send + Sync>),
    /// A verification thread ended without an answer (it panicked).
    #[error("a verification thread failed")]
    ThreadFailed,
}

/// A repository opened for verification.
pub struct Repo {
    /// The gix repository (objects possibly overlaid).
    pub repo: gix::Repository,
    /// What it was opened from, so a thread can open its own view.
    git_dir: PathBuf,
    extra_object_dirs: Vec<PathBuf>,
    _overlay: Option<tempfile::TempDir>,
}

impl Repo {
    /// Open the repository at `git_dir` (a `.git` dir, bare repo, or work tree), also seeing the
    /// objects in `extra_object_dirs` (checked first).
    pub fn open(git_dir: &Path, extra_object_dirs: &[PathBuf]) -> Result<Repo, RepoError> {
        let options = gix::open::Options::isolated().config_overrides(["core.useReplaceRefs=false"]);
        let mut repo = gix::open_opts(git_dir, options)
            .map_err(|e| RepoError::Open { path: git_dir.to_owned(), source: Box::new(e) })?;
        let overlay = if extra_object_dirs.is_empty() {
            None
        } else {
            let overlay_err = RepoError::Overlay;
            let dir = tempfile::Builder::new().prefix("git-signed-objects-").tempdir().map_err(overlay_err)?;
            std::fs::create_dir_all(dir.path().join("info")).map_err(overlay_err)?;
            let mut alternates = String::new();
            let own = repo.common_dir().join("objects");
            for d in extra_object_dirs.iter().chain(std::iter::once(&own)) {
                let abs = std::path::absolute(d).map_err(overlay_err)?;
                let line = abs.to_str().ok_or_else(|| {
                    RepoError::ObjectDirectory(format!("object directory {} is not valid UTF-8", abs.display()))
                })?;
                if line.contains('\n') {
                    return Err(RepoError::ObjectDirectory("object directory path contains a newline".into()));
                }
                alternates.push_str(line);
                alternates.push('\n');
            }
            std::fs::write(dir.path().join("info").join("alternates"), alternates).map_err(overlay_err)?;
            let handle = gix::odb::at(dir.path(), repo.object_hash()).map_err(RepoError::Overlay)?;
            repo.objects = gix::odb::memory::Proxy::from(handle).with_write_passthrough();
            Some(dir)
        };
        Ok(Repo { repo, git_dir: git_dir.to_owned(), extra_object_dirs: extra_object_dirs.to_vec(), _overlay: overlay })
    }

    /// Open the repository of a pre-receive hook, seeing git's quarantined objects
    /// (`GIT_OBJECT_DIRECTORY` and `GIT_ALTERNATE_OBJECT_DIRECTORIES`).
    pub fn open_in_hook(git_dir: &Path) -> Result<Repo, RepoError> {
        let mut dirs = Vec::new();
        if let Some(q) = std::env::var_os("GIT_OBJECT_DIRECTORY") {
            dirs.push(PathBuf::from(q));
        }
        if let Some(alts) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
            for alt in std::env::split_paths(&alts) {
                if alt.as_os_str().as_encoded_bytes().first() == Some(&b'"') {
                    return Err(RepoError::ObjectDirectory(format!(
                        "quoted alternate object directory {} is not supported",
                        alt.display()
                    )));
                }
                if !alt.as_os_str().is_empty() {
                    dirs.push(alt);
                }
            }
        }
        Repo::open(git_dir, &dirs)
    }

    /// The object hash of the repository.
    pub fn hash(&self) -> gix::hash::Kind {
        self.repo.object_hash()
    }

    /// The object a full ref name points at (not peeled), if the ref exists.
    pub fn resolve(&self, full_name: &str) -> Result<Option<ObjectId>, RepoError> {
        let found = self.repo.try_find_reference(full_name).map_err(|e| RepoError::Refs(e.into()))?;
        Ok(found.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    }

    /// Every `refs/tags/*` ref as (tag name, object id), in name order.
    pub fn tags(&self) -> Result<Vec<(String, ObjectId)>, RepoError> {
        let platform = self.repo.references().map_err(|e| RepoError::Refs(e.into()))?;
        let mut out = Vec::new();
        for r in platform.prefixed("refs/tags/").map_err(|e| RepoError::Refs(e.into()))? {
            let r = r.map_err(|e| RepoError::Refs(e.into()))?;
            let full = r.name().as_bstr().to_string();
            if let (Some(name), Some(id)) = (full.strip_prefix("refs/tags/"), r.target().try_id()) {
                out.push((name.to_owned(), id.to_owned()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Who signed this repository's protected tags, and when (see [`Activity::record`]),
    /// verified for `push` on every core; signatures in `facts` are not checked again. Also
    /// the facts learned, which an adapter may keep.
    pub fn history(
        &self,
        policy: &Policy,
        now: std::time::SystemTime,
        facts: Option<&Facts>,
    ) -> Result<(Activity, Vec<(ObjectId, SignatureFact)>), RepoError> {
        let tags: Vec<(String, ObjectId)> =
            self.tags()?.into_iter().filter(|(name, _)| policy.protects(name)).collect();
        self.history_of(policy, now, facts, &tags, &|| {})
    }

    /// [`Repo::history`] of the protected tags `tags` only; `tick` is called once per tag
    /// verified (for a progress line). Verdicts are made a few thousand at a time and only
    /// what the history needs is kept, so memory does not grow with the number of tags.
    pub fn history_of(
        &self,
        policy: &Policy,
        now: std::time::SystemTime,
        facts: Option<&Facts>,
        tags: &[(String, ObjectId)],
        tick: &(dyn Fn() + Sync),
    ) -> Result<(Activity, Vec<(ObjectId, SignatureFact)>), RepoError> {
        let pass = self.history_keeping(policy, now, facts, tags, &|_, _| false, tick)?;
        Ok((pass.activity, pass.learned))
    }

    /// [`Repo::history_of`], also keeping what was found of the tags `keep` names (up to
    /// [`Repo::KEPT_BYTES`] of it), so that their verdicts for an environment, with the
    /// history, by [`Repo::verify`] here, need neither read nor check them again
    /// ([`Request::with_walks`]).
    pub fn history_keeping(
        &self,
        policy: &Policy,
        now: std::time::SystemTime,
        facts: Option<&Facts>,
        tags: &[(String, ObjectId)],
        keep: &(dyn Fn(&str, ObjectId) -> bool + Sync),
        tick: &(dyn Fn() + Sync),
    ) -> Result<HistoryPass, RepoError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mut activity = Activity::new(policy);
        let mut learned = Vec::new();
        let mut walks = Walks::new(policy, now, (self.git_dir.clone(), self.extra_object_dirs.clone()));
        let room = AtomicUsize::new(Self::KEPT_BYTES);
        let verify = |repo: &Repo, (name, id): &(String, ObjectId)| {
            let request = Request::new(name, *id, crate::PUSH_ENVIRONMENT, now).with_facts(facts);
            // Kept only if it fits in what is left (weighed before it is copied).
            let taken = |e: &Examined| {
                keep(name, *id)
                    && room.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(e.weight())).is_ok()
            };
            let found = verify_keeping(policy, &repo.repo.objects, repo.hash(), request, &taken);
            tick();
            found
        };
        for part in tags.chunks(4096) {
            for ((name, id), (verdict, examined)) in part.iter().zip(self.on_every_core(part, &verify)?) {
                activity.record(&verdict);
                learned.extend_from_slice(verdict.learned());
                if let Some(examined) = examined {
                    walks.keep(name, *id, examined);
                }
            }
        }
        Ok(HistoryPass { activity, learned, walks })
    }

    /// How many bytes of examinations [`Repo::history_keeping`] keeps at most: 20,000 to
    /// 40,000 tags of three layers.
    pub const KEPT_BYTES: usize = 64 << 20;

    /// The `push` verdicts on `tags` at `now` (what the signing history is made of), on every
    /// core, with `facts`.
    pub fn push_verdicts(
        &self,
        policy: &Policy,
        now: std::time::SystemTime,
        facts: Option<&Facts>,
        tags: &[(String, ObjectId)],
        tick: &(dyn Fn() + Sync),
    ) -> Result<Vec<Verdict>, RepoError> {
        let requests: Vec<Request<'_>> = tags
            .iter()
            .map(|(name, id)| Request::new(name, *id, crate::PUSH_ENVIRONMENT, now).with_facts(facts))
            .collect();
        self.verify_all_counted(policy, &requests, tick)
    }

    /// The `refs/tags/*` refs stored as loose files, as (tag name, object id): what changed since
    /// `packed-refs` was last written.
    pub fn loose_tags(&self) -> Result<Vec<(String, ObjectId)>, RepoError> {
        let refs_err = |e: std::io::Error| RepoError::Refs(e.into());
        let prefix = <&gix::path::RelativePath>::try_from("refs/tags/").map_err(|e| RepoError::Refs(e.into()))?;
        let mut out = Vec::new();
        for r in self.repo.refs.loose_iter_prefixed(prefix).map_err(refs_err)? {
            let r = r.map_err(|e| RepoError::Refs(e.into()))?;
            let full = r.name.as_bstr().to_string();
            if let (Some(name), Some(id)) = (full.strip_prefix("refs/tags/"), r.target.try_id()) {
                out.push((name.to_owned(), id.to_owned()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The value `refs/tags/<name>` has in `packed-refs` (which a loose ref of the same name
    /// hides), if any.
    pub fn packed_tag(&self, name: &str) -> Result<Option<ObjectId>, RepoError> {
        let refs_err = |e: Box<dyn std::error::Error + Send + Sync>| RepoError::Refs(e);
        let Some(packed) = self.repo.refs.cached_packed_buffer().map_err(|e| refs_err(e.into()))? else {
            return Ok(None);
        };
        let full = format!("refs/tags/{name}");
        let found = packed.try_find(full.as_str()).map_err(|e| refs_err(e.into()))?;
        Ok(found.map(|r| r.target()))
    }

    /// What identifies the current `packed-refs` file (inode, size, modification time in
    /// nanoseconds, as git's own packed-refs cache does), or `none`.
    pub fn packed_refs_stamp(&self) -> String {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(self.repo.common_dir().join("packed-refs")) {
            Ok(m) => format!("{}:{}:{}.{}", m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
            Err(_) => "none".to_owned(),
        }
    }

    /// The directory git keeps shared repository data in (`.git` or the bare repository).
    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    /// Verify one tag: see [`crate::verify_tag`]; the request's walks are used when they were
    /// made in this repository.
    pub fn verify(&self, policy: &Policy, request: Request<'_>) -> Verdict {
        let ours = request.walks.is_some_and(|w| w.made_in(&self.git_dir, &self.extra_object_dirs));
        let request = if ours { request } else { request.with_walks(None) };
        verify_keeping(policy, &self.repo.objects, self.hash(), request, &|_| false).0
    }

    /// Verify every request on every core, verdicts in the requests' order.
    pub fn verify_all(&self, policy: &Policy, requests: &[Request<'_>]) -> Result<Vec<Verdict>, RepoError> {
        self.verify_all_counted(policy, requests, &|| {})
    }

    /// [`Repo::verify_all`], calling `tick` after each verdict (from any thread).
    pub fn verify_all_counted(
        &self,
        policy: &Policy,
        requests: &[Request<'_>],
        tick: &(dyn Fn() + Sync),
    ) -> Result<Vec<Verdict>, RepoError> {
        self.verify_all_into(policy, requests, tick, &|v| v)
    }

    /// [`Repo::verify_all_counted`], each verdict turned by `keep` into what the caller keeps
    /// as soon as it is made: whole verdicts (every layer's and rule's report) of 100,000 tags
    /// would take hundreds of MiB at once.
    pub fn verify_all_into<T: Send>(
        &self,
        policy: &Policy,
        requests: &[Request<'_>],
        tick: &(dyn Fn() + Sync),
        keep: &(dyn Fn(Verdict) -> T + Sync),
    ) -> Result<Vec<T>, RepoError> {
        self.on_every_core(requests, &|repo, r| {
            let v = keep(repo.verify(policy, *r));
            tick();
            v
        })
    }

    /// `work` on each item, on every core, answers in the items' order. A gix repository is
    /// not shared between threads, so each thread opens its own view of this one and takes an
    /// equal share; a single item stays on this thread.
    fn on_every_core<I: Sync, T: Send>(
        &self,
        items: &[I],
        work: &(dyn Fn(&Repo, &I) -> T + Sync),
    ) -> Result<Vec<T>, RepoError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
        if threads <= 1 {
            return Ok(items.iter().map(|item| work(self, item)).collect());
        }
        // Each thread takes the next few items as it gets free: the load stays even when a
        // thread is slowed (other processes share the cores) or some items cost more.
        const STEP: usize = 32;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (git_dir, extra) = (self.git_dir.as_path(), self.extra_object_dirs.as_slice());
        let parts: Vec<Result<Vec<(usize, T)>, RepoError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let repo = Repo::open(git_dir, extra)?;
                        let mut done = Vec::new();
                        loop {
                            let start = next.fetch_add(STEP, std::sync::atomic::Ordering::Relaxed);
                            let Some(part) = items.get(start..(start + STEP).min(items.len())) else { break };
                            done.extend(part.iter().enumerate().map(|(i, item)| (start + i, work(&repo, item))));
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(Err(RepoError::ThreadFailed))).collect()
        });
        let mut numbered = Vec::with_capacity(items.len());
        for part in parts {
            numbered.extend(part?);
        }
        numbered.sort_unstable_by_key(|(i, _)| *i);
        Ok(numbered.into_iter().map(|(_, v)| v).collect())
    }
}
