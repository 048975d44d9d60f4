//! `fetch` batches: one inner fetch from the mirror into a [`Quarantine`], the verified tag
//! objects tag-following needs, a scan that refuses the whole batch if any tag object arrived
//! that was not verified at `list` time (T15: a mirror serving an unverified tag, even by
//! object id), then migration into the real object store. Until migration nothing the mirror
//! sent is visible to the repository.

use std::path::{Path, PathBuf};

use git_signed_policy::Repo;
use gix::ObjectId;
use gix::objs::{Find, FindHeader, Kind};

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
}

/// Fetch `batch` of (object id, name) into the repository at `git_dir`, letting in only the
/// tag objects `listing` verified.
pub fn fetch(
    url: &str,
    git_dir: &Path,
    listing: &Listing,
    batch: &[(ObjectId, String)],
    opts: &FetchOptions,
) -> Result<Fetched, Error> {
    let quarantine = Quarantine::create(git_dir)?;
    // Each once, in git's order (a clone of 100,000 tags asks for as many).
    let mut seen = std::collections::HashSet::new();
    let wanted: Vec<ObjectId> = batch.iter().map(|(id, _)| *id).filter(|id| seen.insert(*id)).collect();
    let connected = upstream::fetch(url, &quarantine.destination(), &wanted, opts)?;
    trace("inner fetch");
    let repo = quarantine.repo()?;
    if opts.followtags {
        add_followed_tags(url, &repo, &quarantine, listing)?;
    }
    quarantine.scan(&repo, &listing.allowed_tags, batch)?;
    drop(repo);
    trace("quarantine scan");
    let lock = quarantine.migrate()?;
    Ok(Fetched { lock, connected })
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
                _ => return Err(Error::NotCached(*id)),
            };
            quarantine.add_tag(repo.hash(), *id, data.data)?;
        }
    }
    Ok(())
}
