//! Finding the repository and the policy the way every subcommand does.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use git_signed_policy::{Activity, Policy, Repo};
use git_signed_tool::config::Config;
use git_signed_tool::store::Cache;

use crate::exit::Error;

/// The output format shared by every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For pipelines: one JSON document on stdout, on success and on failure
    /// (docs/git-signed.schema.json).
    Json,
}

/// The repository in (or above) the current directory.
pub fn repository() -> Result<Repo, Error> {
    Ok(Repo::open(&git_dir()?, &[])?)
}

/// The absolute git directory of the repository in (or above) the current directory. git's
/// own complaint is kept back: the error says it in our words, with what to do.
pub fn git_dir() -> Result<PathBuf, Error> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--absolute-git-dir"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        if said.contains("not a git repository") {
            return Err(Error::NotARepository);
        }
        return Err(Error::Git(format!("cannot find the repository here: {}", said.trim())));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end()))
}

/// The policy from `--policy`, else `git config signed.policy`.
pub fn policy(explicit: Option<&Path>) -> Result<Policy, Error> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let config = Config::read(None, &["signed.policy"]).map_err(|e| Error::Git(e.to_string()))?;
            config.path("signed.policy", &std::env::current_dir()?).ok_or(Error::NoPolicy)?
        }
    };
    Ok(Policy::load(&path)?)
}

/// What earlier runs learned about this repository (`<git dir>/git-signed`); `None` when it
/// cannot be used (not this user's, read-only), and everything is verified from scratch.
pub fn cache(repo: &Repo) -> Option<Cache> {
    Cache::for_repo(repo).ok()
}

/// The signing history of the repository's protected tags, from the cache when there is one.
pub fn history(cache: Option<&mut Cache>, repo: &Repo, policy: &Policy, now: SystemTime) -> Result<Activity, Error> {
    Ok(match cache {
        Some(cache) => cache.activity(repo, policy, now)?,
        None => repo.history(policy, now, None)?.0,
    })
}
