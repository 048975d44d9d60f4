//! Finding the repository and the policy the way every subcommand does.

use std::path::{Path, PathBuf};

use git_signed_policy::{Policy, Repo, gitconfig};

/// Errors a subcommand reports with exit code 2.
pub type Error = Box<dyn std::error::Error>;

/// The output format shared by commands a pipeline parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For pipelines: one JSON document on stdout.
    Json,
}

/// The repository in (or above) the current directory.
pub fn repository() -> Result<Repo, Error> {
    Ok(Repo::open(&git_dir()?, &[])?)
}

/// The absolute git directory of the repository in (or above) the current directory.
pub fn git_dir() -> Result<PathBuf, Error> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--absolute-git-dir"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err("not inside a git repository; cd into the repository whose tags you want to check".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end()))
}

/// The policy from `--policy`, else `git config signed.policy`.
pub fn policy(explicit: Option<&Path>) -> Result<Policy, Error> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let value = gitconfig::get(None, "signed.policy", true)?.ok_or(
                "no policy: pass --policy FILE or set it with `git config signed.policy /path/to/policy.toml`",
            )?;
            gitconfig::resolve(&std::env::current_dir()?, &value)
        }
    };
    Ok(Policy::load(&path)?)
}

/// A refusal: the command's answer is "no" (exit 1), with a message saying why and what to do.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}
