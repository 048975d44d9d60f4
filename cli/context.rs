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

/// The policy from `--policy`; else the one in force on this repository's
/// `refs/signed/policy`, trusted from `git config signed.root` (or `GIT_SIGNED_ROOT`); else the
/// file `git config signed.policy` names.
pub fn policy(explicit: Option<&Path>) -> Result<Policy, Error> {
    if let Some(path) = explicit {
        return Ok(Policy::load(path)?);
    }
    let config = Config::read(None, &["signed.root", "signed.policy"]).map_err(|e| Error::Git(e.to_string()))?;
    if let Some(root) = root(&config)? {
        return pinned(root);
    }
    let path = config.path("signed.policy", &std::env::current_dir()?).ok_or(Error::NoPolicy)?;
    Ok(Policy::load(&path)?)
}

/// The pinned root of the policy history: `GIT_SIGNED_ROOT`, else `signed.root`.
fn root(config: &Config) -> Result<Option<gix::ObjectId>, Error> {
    let var = std::env::var("GIT_SIGNED_ROOT").ok().filter(|r| !r.is_empty());
    let Some(root) = var.as_deref().or(config.get("signed.root")) else { return Ok(None) };
    let id = gix::ObjectId::from_hex(root.trim().as_bytes());
    let bad =
        |_| Error::Pin(format!("signed.root {root:?} is not a full commit id (git rev-parse <commit> prints one)"));
    id.map(Some).map_err(bad)
}

/// Whether the policy is pinned in the repository (`signed.root` or `GIT_SIGNED_ROOT`).
pub fn pinned_root() -> Result<Option<gix::ObjectId>, Error> {
    root(&Config::read(None, &["signed.root"]).map_err(|e| Error::Git(e.to_string()))?)
}

/// The pinned policy history of this repository: the repository, the root, and the commit
/// `rev` names (default: `refs/signed/policy`).
pub fn policy_history(rev: Option<&str>) -> Result<(Repo, gix::ObjectId, gix::ObjectId), Error> {
    use git_signed_policy::chain;
    let config = Config::read(None, &["signed.root"]).map_err(|e| Error::Git(e.to_string()))?;
    let root = root(&config)?.ok_or_else(|| {
        Error::Pin("no policy history pinned: set `git config signed.root <first commit of refs/signed/policy>`".into())
    })?;
    let repo = repository()?;
    let tip = match rev {
        Some(rev) => {
            let id = crate::git::resolve(&format!("{rev}^{{commit}}"))
                .ok_or_else(|| Error::Pin(format!("{rev} names no commit in this repository")))?;
            gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| Error::Internal(e.to_string()))?
        }
        None => repo.resolve(chain::POLICY_REF)?.ok_or_else(|| {
            Error::Pin(format!(
                "{} is not in this repository, and signed.root pins the policy there; fetch it: git fetch origin +{0}:{0}",
                chain::POLICY_REF
            ))
        })?,
    };
    Ok((repo, root, tip))
}

/// The policy in force on `refs/signed/policy`, followed from `root` as far as it is valid,
/// never back behind what this repository trusted last (kept in its cache).
fn pinned(root: gix::ObjectId) -> Result<Policy, Error> {
    use git_signed_policy::chain;
    let (repo, _, tip) = policy_history(None)?;
    let cache = cache(&repo);
    let trusted = cache.as_ref().and_then(|c| c.policy_trusted(&root));
    let followed = chain::follow(&repo.repo, root, trusted, tip, SystemTime::now())?;
    if let (Some(cache), true) = (&cache, trusted != Some((followed.at, followed.state.commit))) {
        cache.advance_policy_trusted(&root, trusted, &followed.at, &followed.state.commit);
    }
    if let Some(why) = followed.refused {
        crate::text::warning(&format!(
            "refusing {}: {why}; the policy of {} stays in force",
            chain::POLICY_REF,
            git_signed_policy::verdict::short(&followed.state.commit)
        ));
    }
    Ok(followed.state.policy)
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
