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

use git_signed_policy::chain::{self, ChainError, State};
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
    let tip = advertised.refs.iter().find(|r| r.name == chain::POLICY_REF).map_or(root, |r| r.id);
    let cache = TagCache::open(url, hash)?;
    let (mut repo, dir) = cache.policy_repo()?;
    let present = |repo: &Repo, id: &ObjectId| matches!(repo.repo.objects.try_header(id), Ok(Some(_)));
    for wanted in [tip, root] {
        if !present(&repo, &wanted) {
            upstream::fetch_policy(url, dir, wanted)?;
            repo = cache.policy_repo()?.0;
        }
    }
    let root_error = |source| Error::Root { root, source };
    let (trusted_tip, trusted) = match cache.store.policy_trusted(&root) {
        Some((at, commit)) => {
            let policy = chain::policy_of(&repo.repo, commit).map_err(root_error)?;
            (at, State { commit, policy, signed_by: Vec::new() })
        }
        None => (root, chain::root_state(&repo.repo, root).map_err(root_error)?),
    };
    if tip == trusted_tip {
        return Ok(trusted.policy);
    }
    let (state, at, refused) = forward(&repo.repo, trusted, trusted_tip, tip);
    cache.store.remember_policy_in_force(&root, &at, &state.commit);
    if let Some(why) = refused {
        let why = format!("refusing the mirror's {}: {why}", chain::POLICY_REF);
        if strict {
            return Err(Error::Refused(why));
        }
        eprintln!("signed: warning: {why}; the policy of {} stays in force", verdict::short(&state.commit));
    }
    Ok(state.policy)
}

/// Move `trusted` (in force at `trusted_tip`) forward to `tip`: the state reached, the newest
/// commit of the history that is trusted now, and why the rest was refused.
fn forward(
    repo: &gix::Repository,
    trusted: State,
    trusted_tip: ObjectId,
    tip: ObjectId,
) -> (State, ObjectId, Option<String>) {
    if chain::line_from(repo, trusted_tip, tip).is_err() {
        let why = format!(
            "{} does not descend from {}, the policy history trusted last; the mirror rewound or rewrote it",
            verdict::short(&tip),
            verdict::short(&trusted_tip)
        );
        return (trusted, trusted_tip, Some(why));
    }
    // From the commit in force, so approvals of a change still waiting are counted again.
    let line = match chain::line_from(repo, trusted.commit, tip) {
        Ok(line) => line,
        Err(e) => return (trusted, trusted_tip, Some(e.to_string())),
    };
    let advanced = chain::advance(repo, trusted, &line, SystemTime::now());
    match advanced.stopped {
        None | Some(ChainError::Unapproved { .. }) => (advanced.state, tip, None),
        Some(e) => {
            // The newest valid commit, never behind what was trusted before (a key that has
            // expired since can make an old signature fail now: that moves nothing back).
            let trusted_at = line.iter().position(|c| *c == trusted_tip).map_or(0, |i| i + 1);
            let at = match advanced.valid.checked_sub(1).and_then(|i| line.get(i)) {
                Some(newest) if advanced.valid > trusted_at => *newest,
                _ => trusted_tip,
            };
            (advanced.state, at, Some(e.to_string()))
        }
    }
}
