//! The policy pinned by `signed.root`: the mirror's `refs/signed/policy`, fetched into the tag
//! cache and walked (`git_signed_policy::chain`) from the last policy history this cache
//! trusted for that root (the root itself at first), as far as it is valid.
//!
//! A mirror can only move the policy forward. A history that does not descend from the one
//! trusted last (rewound or rewritten), a commit not signed by an admin of the policy in
//! force, a change that breaks the access rules: each is refused with a warning naming the
//! commit, and the policy trusted before stays in force (with `signed.strict`, the fetch fails).
//! A change still waiting for its admins is not in force yet, silently.

use std::time::SystemTime;

use git_signed_policy::chain::{self, ChainError, Followed};
use git_signed_policy::{Policy, Repo, verdict};
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::{self, TagCache};
use crate::upstream::{self, Advertisement};

/// Why no policy is in force.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tag cache, where the policy history is kept, cannot be used.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// The policy history cannot be fetched from the mirror.
    #[error(transparent)]
    Fetch(#[from] upstream::Error),
    /// The pinned root, or the policy trusted last, cannot be read.
    #[error("the pinned policy (signed.root {root}) cannot be used: {source}")]
    Root { root: ObjectId, source: ChainError },
    /// `signed.strict` is set and the mirror's policy history was refused.
    #[error("{0} (signed.strict is set)")]
    Refused(String),
}

/// The policy in force for `root` given the mirror's `advertised` refs at `url`.
pub fn in_force(
    url: &str,
    hash: gix::hash::Kind,
    root: ObjectId,
    advertised: &Advertisement,
    strict: bool,
) -> Result<Policy, Error> {
    let listed = advertised.refs.iter().find(|r| r.name == chain::POLICY_REF).map(|r| r.id);
    if listed.is_none() {
        eprintln!("signed: warning: the mirror lists no {}: the policy of the pinned root applies", chain::POLICY_REF);
    }
    let tip = listed.unwrap_or(root);
    let cache = TagCache::open(url, hash)?;
    let (mut repo, dir) = cache.policy_repo()?;
    let present = |repo: &Repo, id: &ObjectId| matches!(repo.repo.objects.try_header(id), Ok(Some(_)));
    for wanted in [tip, root] {
        if !present(&repo, &wanted) {
            upstream::fetch_policy(url, dir, wanted)?;
            repo = cache.policy_repo()?.0;
        }
    }
    let trusted = cache.store.policy_trusted(&root);
    let followed = chain::follow(&repo.repo, root, trusted, tip, SystemTime::now());
    let Followed { state, at, refused } = followed.map_err(|source| Error::Root { root, source })?;
    if trusted != Some((at, state.commit)) {
        cache.store.advance_policy_trusted(&root, trusted, &at, &state.commit);
    }
    if let Some(why) = refused {
        let why = format!("refusing the mirror's {}: {why}", chain::POLICY_REF);
        if strict {
            return Err(Error::Refused(why));
        }
        eprintln!("signed: warning: {why}; the policy of {} stays in force", verdict::short(&state.commit));
    }
    Ok(state.policy)
}
