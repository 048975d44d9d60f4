//! `fetch` batches: one inner fetch from the mirror into a [`Quarantine`], the verified tag
//! objects tag-following needs, a scan that refuses the whole batch if any tag object arrived
//! that was not verified at `list` time (T15: a mirror serving an unverified tag, even by
//! object id), then migration into the real object store. Until migration nothing the mirror
//! sent is visible to the repository.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git_signed_policy::{Facts, Policy, Repo, SignatureFact};
use gix::ObjectId;
use gix::objs::{Find, FindHeader, Kind};

use crate::arriving::Learning;
use crate::cache::{self, TagCache};
use crate::listing::{Followed, Listing};
use crate::options::FetchOptions;
use crate::quarantine::{self, Quarantine};
use crate::{trace, upstream};

/// Why a fetch batch stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The quarantine refused what arrived, or could not be used.
    #[error(transparent)]
    Quarantine(#[from] quarantine::Error),
    /// The inner fetch failed.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// The tag cache cannot supply verified tag objects.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// A verified tag object is no longer in the tag cache.
    #[error("verified tag object {0} is missing from the tag cache")]
    NotCached(ObjectId),
}

/// What a fetch batch brought.
pub struct Fetched {
    /// The `.keep` file protecting the new pack until git has written the refs.
    pub lock: Option<PathBuf>,
    /// Whether the new objects were proven connected (so git may skip its own walk).
    pub connected: bool,
    /// Whether they came from the listing's [`Prefetch`], all of it but unverified tags.
    pub prefetched: bool,
}

/// A clone's one transfer, started at `list` time before anything is verified: every ref the
/// listing may offer arrives in a quarantine in the new repository, verification reads the
/// tag objects from there (instead of fetching them into the tag cache first), and the fetch
/// batch that follows takes its objects from it. Nothing in it is visible until that batch
/// scans and migrates it; dropped unused, it is stopped and discarded.
///
/// It runs while the listing is judged and sent, and while git reads it and asks: a listing
/// whose verdicts all stand waits for it only in the fetch batch.
///
/// git says it is cloning only after `list`, so a prefetch is made for what looks like a
/// clone then: a named remote (`ls-remote` and `git fetch <url>` have none), the whole history
/// asked for, no single branch (`followtags` before `list`), into a repository without a
/// single ref.
pub struct Prefetch {
    /// Signature facts learned from the pack while it arrives, when verification needs them.
    /// The fields are dropped in order: this and the transfer stop before the quarantine they
    /// read and write is removed.
    learning: RefCell<Option<Learning>>,
    transfer: RefCell<Transfer>,
    quarantine: Quarantine,
    /// What was asked for.
    wanted: HashSet<ObjectId>,
}

/// Where a prefetch's transfer stands.
enum Transfer {
    Running(upstream::Transfer),
    /// It ended: whether fetch-pack proved the pack connected.
    Done {
        connected: bool,
    },
    /// It failed (the error went to whoever waited first).
    Failed,
}

impl Prefetch {
    /// Whether a fetch with `opts` into the repository at `git_dir` looks like a clone.
    pub fn wanted(git_dir: &Path, opts: &FetchOptions) -> bool {
        // Cheapest answers first: a fetch into a clone of 100,000 tags must not read them all.
        let empty = || {
            let repo = Repo::open(git_dir, &[]).ok()?;
            let packed = std::fs::metadata(repo.repo.common_dir().join("packed-refs"));
            if packed.is_ok_and(|m| m.len() > 0) || repo.repo.head_id().is_ok() {
                return Some(false);
            }
            let refs = repo.repo.references().ok()?;
            let mut all = refs.all().ok()?;
            Some(all.next().is_none())
        };
        opts.whole_history() && !opts.followtags && empty() == Some(true)
    }

    /// Start the transfer from `url` into a new quarantine in the repository at `git_dir`,
    /// to be told what to fetch ([`Prefetch::want`]) once the listing is judged.
    pub fn prepare(url: &str, git_dir: &Path, opts: &FetchOptions) -> Result<Prefetch, Error> {
        let quarantine = Quarantine::create(git_dir)?;
        // Into a repository without refs, as a clone's fetch is.
        let opts = FetchOptions { cloning: true, ..opts.clone() };
        let transfer = upstream::prepare_fetch(url, &quarantine.destination(), &opts)?;
        Ok(Prefetch {
            learning: RefCell::new(None),
            transfer: RefCell::new(Transfer::Running(transfer)),
            quarantine,
            wanted: HashSet::new(),
        })
    }

    /// Fetch `ids`.
    pub fn want(&mut self, ids: &[ObjectId]) -> Result<(), Error> {
        self.wanted = ids.iter().copied().collect();
        match self.transfer.get_mut() {
            Transfer::Running(transfer) => Ok(transfer.want(&unique(ids.iter().copied()))?),
            _ => Err(upstream::Error::Interrupted.into()),
        }
    }

    /// Whether it holds all of `batch`, fetched as `opts` now asks (a fetch batch then uses it).
    pub fn holds(&self, batch: &[(ObjectId, String)], opts: &FetchOptions) -> bool {
        opts.whole_history() && batch.iter().all(|(id, _)| self.wanted.contains(id))
    }

    /// Learn the signature facts of the tag objects under `policy` that `known` lacks, while
    /// they arrive, at most `limit` ([`Learning`]): verification will need them.
    pub fn learn(&self, policy: Arc<Policy>, known: Arc<Facts>, hash: gix::hash::Kind, limit: usize) {
        let mut learning = self.learning.borrow_mut();
        if learning.is_none() && matches!(*self.transfer.borrow(), Transfer::Running(_)) {
            let pack_dir = self.quarantine.destination().quarantine.join("pack");
            *learning = Some(Learning::start(pack_dir, policy, known, hash, limit));
        }
    }

    /// The facts [`Prefetch::learn`] learned, once; the learning stops.
    pub fn learned(&self) -> Vec<(ObjectId, SignatureFact)> {
        self.learning.borrow_mut().take().map(Learning::finish).unwrap_or_default()
    }

    /// What arrived, for reading (verification), once the transfer has ended.
    pub fn arrived(&self) -> Result<&Quarantine, upstream::Error> {
        self.finish()?;
        Ok(&self.quarantine)
    }

    /// Wait for the transfer; whether its pack was proven connected.
    fn finish(&self) -> Result<bool, upstream::Error> {
        let mut transfer = self.transfer.borrow_mut();
        let connected = match std::mem::replace(&mut *transfer, Transfer::Failed) {
            Transfer::Running(running) => {
                let connected = running.finish()?;
                trace("prefetch arrived");
                connected
            }
            Transfer::Done { connected } => connected,
            Transfer::Failed => return Err(upstream::Error::Interrupted),
        };
        *transfer = Transfer::Done { connected };
        Ok(connected)
    }
}

/// Each of `ids` once, in their order (a clone of 100,000 tags asks for as many).
fn unique(ids: impl IntoIterator<Item = ObjectId>) -> Vec<ObjectId> {
    let mut seen = gix::hashtable::HashSet::default();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Fetch `batch` of (object id, name) into the repository at `git_dir`, letting in only the
/// tag objects `listing` verified. A `prefetched` transfer that holds the whole batch is used
/// instead of fetching again.
pub fn fetch(
    url: &str,
    git_dir: &Path,
    listing: &Listing,
    batch: &[(ObjectId, String)],
    opts: &FetchOptions,
    prefetched: Option<Prefetch>,
) -> Result<Fetched, Error> {
    let wanted = unique(batch.iter().map(|(id, _)| *id));
    let (mut quarantine, mut connected, prefetched) = match prefetched.filter(|p| p.holds(batch, opts)) {
        Some(p) => {
            let connected = p.finish()?;
            (p.quarantine, connected, true)
        }
        None => {
            let quarantine = Quarantine::create(git_dir)?;
            let connected = upstream::fetch(url, &quarantine.destination(), &wanted, opts)?;
            trace("inner fetch");
            (quarantine, connected, false)
        }
    };
    let repo = quarantine.repo()?;
    if opts.followtags {
        add_followed_tags(url, &repo, &quarantine, listing)?;
    }
    match quarantine.scan(&repo, &listing.allowed_tags, batch) {
        // A prefetch asked for every protected tag before verification: the tags verification
        // hid arrived too. Unless git asked for one of them, only what git asked for and the
        // verified tags are kept (repacked: not the code only a hidden tag reaches either),
        // and git walks it itself.
        Err(quarantine::Error::Unverified(refused)) if prefetched => {
            let asked: Vec<ObjectId> = refused.iter().filter(|id| wanted.contains(id)).copied().collect();
            if !asked.is_empty() {
                return Err(quarantine::Error::Unverified(asked).into());
            }
            let present = |id: &&ObjectId| matches!(repo.repo.objects.try_header(id), Ok(Some(_)));
            let verified: Vec<ObjectId> = listing.allowed_tags.iter().filter(present).copied().collect();
            drop(repo);
            quarantine = quarantine.only_reachable_from(wanted.iter().chain(&verified).copied())?;
            connected = false;
            quarantine.scan(&quarantine.repo()?, &listing.allowed_tags, batch)?;
        }
        scanned => scanned?,
    }
    trace("quarantine scan");
    let lock = quarantine.migrate()?;
    Ok(Fetched { lock, connected, prefetched })
}

/// Supply the verified tag objects of listed tags whose commit is now present, so git's
/// tag-following (and `clone --single-branch`) can create those tags.
fn add_followed_tags(url: &str, repo: &Repo, quarantine: &Quarantine, listing: &Listing) -> Result<(), Error> {
    let present = |id: &ObjectId| matches!(repo.repo.objects.try_header(id), Ok(Some(_)));
    let needed: Vec<&Followed> = listing.followed.iter().filter(|f| !present(&f.tag) && present(&f.commit)).collect();
    if needed.is_empty() {
        return Ok(());
    }
    let cache = TagCache::open(url, repo.hash())?;
    let cache_repo = cache.repo()?;
    let mut buf = Vec::new();
    for followed in needed {
        for id in followed.chain.iter().flatten() {
            if present(id) {
                continue;
            }
            let data = match cache_repo.repo.objects.try_find(id, &mut buf) {
                Ok(Some(d)) if d.kind == Kind::Tag => d,
                _ => {
                    // The record of the last listing said it was there: the next listing
                    // verifies anew instead.
                    cache.forget_snapshot();
                    return Err(Error::NotCached(*id));
                }
            };
            quarantine.add_tag(repo.hash(), *id, data.data)?;
        }
    }
    Ok(())
}
