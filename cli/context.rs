//! Finding the repository and the policy the way every subcommand does.

use std::path::{Path, PathBuf};

use git_signed_policy::{Policy, Repo};
use git_signed_tool::config::Config;

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
