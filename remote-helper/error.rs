//! Why a session ends early. Each layer has its own error; this one gathers them, so the
//! binary maps every failure to the exit code and the `fatal: signed: …` line in one place.

use git_signed_policy::{PolicyError, UnknownEnvironment};

use crate::protocol::{Command, ParseError};
use crate::{cache, fetch, pinned, settings, upstream};

/// A fatal error: git reports the fetch or push as failed (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `url.*.insteadOf` rule or a lazy fetch routed an inner git command back here (T20).
    #[error(
        "git-remote-signed was invoked by itself (a url.*.insteadOf rule or a lazy fetch points back at \
         signed::); refusing to recurse"
    )]
    Recursion,
    /// The URL after `signed::` is empty or another `signed::` URL.
    #[error("invalid URL {0:?}")]
    Url(String),
    /// `GIT_DIR` cannot be made absolute.
    #[error("cannot resolve GIT_DIR: {0}")]
    GitDir(#[source] std::io::Error),
    /// stdin failed.
    #[error("reading from git: {0}")]
    Read(#[source] std::io::Error),
    /// git sent a line the protocol does not have.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A batch of `fetch` (or `push`) lines held another command.
    #[error("unexpected {0:?} inside a batch")]
    Batch(Command),
    /// A fetch or push batch without a repository to fetch into or push from.
    #[error("{0} outside a repository")]
    NoRepository(&'static str),
    /// A setting is missing or wrong.
    #[error(transparent)]
    Settings(#[from] settings::Error),
    /// The policy cannot be loaded.
    #[error("policy error: {0}")]
    Policy(#[from] PolicyError),
    /// `signed.environment` names an environment the policy does not declare (T26).
    #[error(transparent)]
    Environment(#[from] UnknownEnvironment),
    /// Talking to the mirror failed.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// A fetch batch stored nothing.
    #[error(transparent)]
    Fetch(#[from] fetch::Error),
    /// No policy pinned by `signed.root` is in force.
    #[error(transparent)]
    Pinned(#[from] pinned::Error),
    /// The tag cache cannot be used.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// `signed.strict` is set and protected refs failed verification: each `<ref>: <why>`.
    #[error("{} protected ref(s) failed verification (signed.strict is set):\n  {}", .0.len(), .0.join("\n  "))]
    Strict(Vec<String>),
}
