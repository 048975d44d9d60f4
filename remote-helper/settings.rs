//! What the helper is told: environment, policy, strictness. Every setting is a path or a
//! single token (Concourse's `git_config` mangles anything longer). No environment or no
//! policy means no fetch at all: fail closed.

use std::path::{Path, PathBuf};

use git_signed_policy::gitconfig;

/// The helper's configuration, from the environment or git config.
pub struct Settings {
    /// The environment whose rules apply.
    pub environment: String,
    /// The policy file.
    pub policy: PathBuf,
    /// Fail the fetch instead of hiding a protected tag that does not verify.
    pub strict: bool,
    /// Show tags no rule protects (hidden by default).
    pub allow_unprotected: bool,
}

fn setting(dir: Option<&Path>, var: &str, key: &str, path: bool) -> Result<Option<String>, String> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(Some(v.to_string_lossy().into_owned()));
    }
    gitconfig::get(dir, key, path).map_err(|e| e.to_string())
}

impl Settings {
    /// Read the settings; `dir` is where to run `git config` (the user's repository, if any).
    pub fn load(dir: Option<&Path>) -> Result<Settings, String> {
        let environment = setting(dir, "GIT_SIGNED_ENVIRONMENT", "signed.environment", false)?.ok_or(
            "no environment: set `git config signed.environment <name>` (or GIT_SIGNED_ENVIRONMENT) \
             to the environment this clone deploys, e.g. staging",
        )?;
        if environment.is_empty() || environment.contains(char::is_whitespace) {
            return Err(format!("signed.environment {environment:?} must be a single word"));
        }
        let policy = setting(dir, "GIT_SIGNED_POLICY", "signed.policy", true)?
            .ok_or("no policy: set `git config signed.policy /path/to/policy.toml` (or GIT_SIGNED_POLICY)")?;
        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        let flag = |key: &str| gitconfig::get_bool(dir, key).map(|v| v.unwrap_or(false)).map_err(|e| e.to_string());
        Ok(Settings {
            environment,
            policy: gitconfig::resolve(&cwd, &policy),
            strict: flag("signed.strict")?,
            allow_unprotected: flag("signed.allowUnprotectedTags")?,
        })
    }
}
