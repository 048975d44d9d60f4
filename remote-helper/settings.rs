//! What the helper is told: environment, policy (pinned in the repository, or a file),
//! strictness, and where git will store what is listed. Every setting is a path or a single
//! token (Concourse's `git_config` mangles anything longer); the environment variables win over
//! git config. No environment or no policy means no fetch at all: fail closed.

use std::path::PathBuf;

use git_signed_tool::config::{self, Config};

/// The `signed.*` keys the helper reads.
const KEYS: [&str; 5] =
    ["signed.environment", "signed.root", "signed.policy", "signed.strict", "signed.allowUnprotectedTags"];

/// The helper's configuration, from the environment or git config.
#[derive(Debug)]
pub struct Settings {
    /// The environment whose rules apply.
    pub environment: String,
    /// Where the policy comes from.
    pub policy: Source,
    /// Fail the fetch instead of hiding a protected tag that does not verify.
    pub strict: bool,
    /// Show tags no rule protects (hidden by default).
    pub allow_unprotected: bool,
    /// `remote.<name>.fetch`: where git will store what is listed.
    pub refspecs: Vec<String>,
}

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The mirror's `refs/signed/policy`, trusted from this pinned commit (`signed.root`).
    Root(gix::ObjectId),
    /// A file (`signed.policy`).
    File(PathBuf),
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
    /// No `signed.root` or `signed.policy` (nor their environment variables).
    #[error(
        "no policy: pin the policy in the repository with `git config signed.root <commit>` (or \
         GIT_SIGNED_ROOT), or name a file with `git config signed.policy /path/to/policy.toml` (or GIT_SIGNED_POLICY)"
    )]
    NoPolicy,
    /// `signed.root` is not a commit id.
    #[error("signed.root {0:?} is not a full commit id (git rev-parse <commit> prints one)")]
    Root(String),
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
        // An environment variable wins over git config; of the two at one level, the pin.
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let root = |hex: String| {
            gix::ObjectId::from_hex(hex.trim().as_bytes()).map(Source::Root).map_err(|_| Error::Root(hex))
        };
        let file = |path: String| std::env::current_dir().map(|cwd| Source::File(config::resolve(&cwd, &path)));
        let policy = match (var("GIT_SIGNED_ROOT"), var("GIT_SIGNED_POLICY")) {
            (Some(hex), _) => root(hex)?,
            (None, Some(path)) => file(path).map_err(Error::Cwd)?,
            (None, None) => match (config.get("signed.root"), config.get("signed.policy")) {
                (Some(hex), _) => root(hex.to_owned())?,
                (None, Some(path)) => file(path.to_owned()).map_err(Error::Cwd)?,
                (None, None) => return Err(Error::NoPolicy),
            },
        };
        Ok(Settings {
            environment,
            policy,
            strict: config.boolean("signed.strict")?.unwrap_or(false),
            allow_unprotected: config.boolean("signed.allowUnprotectedTags")?.unwrap_or(false),
            refspecs,
        })
    }
}
