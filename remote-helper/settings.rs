//! What the helper is told: environment, policy, strictness, and where git will store what is
//! listed. Every setting is a path or a single token (Concourse's `git_config` mangles anything
//! longer); the environment variables win over git config. No environment or no policy means
//! no fetch at all: fail closed.

use std::path::PathBuf;

use git_signed_tool::config::{self, Config};

/// The `signed.*` keys the helper reads.
const KEYS: [&str; 4] = ["signed.environment", "signed.policy", "signed.strict", "signed.allowUnprotectedTags"];

/// The helper's configuration, from the environment or git config.
#[derive(Debug)]
pub struct Settings {
    /// The environment whose rules apply.
    pub environment: String,
    /// The policy file.
    pub policy: PathBuf,
    /// Fail the fetch instead of hiding a protected tag that does not verify.
    pub strict: bool,
    /// Show tags no rule protects (hidden by default).
    pub allow_unprotected: bool,
    /// `remote.<name>.fetch`: where git will store what is listed.
    pub refspecs: Vec<String>,
}

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// git config cannot be read, or a boolean is not one.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// No `signed.environment` (nor `GIT_SIGNED_ENVIRONMENT`).
    #[error(
        "no environment: set `git config signed.environment <name>` (or GIT_SIGNED_ENVIRONMENT) to the \
         environment this clone deploys, e.g. staging"
    )]
    NoEnvironment,
    /// An environment name with spaces in it.
    #[error("signed.environment {0:?} must be a single word")]
    Environment(String),
    /// No `signed.policy` (nor `GIT_SIGNED_POLICY`).
    #[error("no policy: set `git config signed.policy /path/to/policy.toml` (or GIT_SIGNED_POLICY)")]
    NoPolicy,
    /// The current directory, which a relative policy path is relative to, is gone.
    #[error("cannot resolve the policy path: {0}")]
    Cwd(#[source] std::io::Error),
}

impl Settings {
    /// Read the settings; `dir` is the user's repository, if any, `remote` the remote's name
    /// unless the fetch is anonymous.
    pub fn load(dir: Option<&std::path::Path>, remote: Option<&str>) -> Result<Settings, Error> {
        let fetch_key = remote.map(|name| format!("remote.{name}.fetch"));
        let keys: Vec<&str> = KEYS.iter().copied().chain(fetch_key.as_deref()).collect();
        let config = Config::read(dir, &keys)?;
        let refspecs = match (remote, &fetch_key) {
            (Some(name), Some(key)) => {
                let configured: Vec<String> = config.all(key).map(ToOwned::to_owned).collect();
                // `git clone` writes the refspec only after fetching; until then it is git's default.
                if configured.is_empty() { vec![format!("+refs/heads/*:refs/remotes/{name}/*")] } else { configured }
            }
            _ => Vec::new(),
        };
        let pick = |var: &str, key: &str| {
            std::env::var(var).ok().filter(|v| !v.is_empty()).or_else(|| config.get(key).map(ToOwned::to_owned))
        };
        let environment = pick("GIT_SIGNED_ENVIRONMENT", "signed.environment").ok_or(Error::NoEnvironment)?;
        if environment.is_empty() || environment.contains(char::is_whitespace) {
            return Err(Error::Environment(environment));
        }
        let policy = pick("GIT_SIGNED_POLICY", "signed.policy").ok_or(Error::NoPolicy)?;
        let cwd = std::env::current_dir().map_err(Error::Cwd)?;
        Ok(Settings {
            environment,
            policy: config::resolve(&cwd, &policy),
            strict: config.boolean("signed.strict")?.unwrap_or(false),
            allow_unprotected: config.boolean("signed.allowUnprotectedTags")?.unwrap_or(false),
            refspecs,
        })
    }
}
