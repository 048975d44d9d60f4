//! What the helper is told: environment, policy, strictness. Every setting is a path or a
//! single token (Concourse's `git_config` mangles anything longer). No environment or no
//! policy means no fetch at all: fail closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    /// `remote.<name>.fetch`: where git will store what is listed.
    pub refspecs: Vec<String>,
}

/// Every `signed.*` setting, and the fetch refspecs of `remote` (the names git will write
/// listed refs under; `remote` is a newline, matching no key, for an anonymous fetch), in one
/// `git config` call. Keys are lower-cased; for settings the
/// last value wins.
fn read_config(dir: Option<&Path>, remote: &str) -> Result<Vec<(String, String)>, String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.env("GIT_DIR", dir);
    }
    let escaped: String =
        remote.chars().flat_map(|c| if r"\.[]()*+?{}|^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect();
    let out = cmd
        .args(["config", "-z", "--type=path", "--get-regexp"])
        .arg(format!(r"^(signed\.|remote\.{escaped}\.fetch$)"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run git config: {e}"))?;
    match out.status.code() {
        Some(0) | Some(1) => {}
        _ => return Err(format!("git config failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split('\0').filter_map(|entry| entry.split_once('\n').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect())
}

fn parse_bool(key: &str, value: Option<&String>) -> Result<bool, String> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "no" | "off" | "0" | "") => Ok(false),
        Some("true" | "yes" | "on" | "1") => Ok(true),
        Some(other) => Err(format!("{key} = {other:?} is not a boolean; use true or false")),
    }
}

impl Settings {
    /// Read the settings; `dir` is the user's repository, if any, `remote` the remote's name
    /// unless the fetch is anonymous.
    pub fn load(dir: Option<&Path>, remote: Option<&str>) -> Result<Settings, String> {
        let entries = read_config(dir, remote.unwrap_or("\n"))?;
        let refspecs = match remote {
            Some(name) => {
                let key = format!("remote.{name}.fetch");
                let configured: Vec<String> =
                    entries.iter().filter(|(k, _)| *k == key).map(|(_, v)| v.clone()).collect();
                // `git clone` writes the refspec only after fetching; until then it is git's default.
                if configured.is_empty() { vec![format!("+refs/heads/*:refs/remotes/{name}/*")] } else { configured }
            }
            None => Vec::new(),
        };
        let config: HashMap<String, String> = entries
            .into_iter()
            .filter(|(k, _)| k.starts_with("signed."))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let pick = |var: &str, key: &str| {
            std::env::var(var).ok().filter(|v| !v.is_empty()).or_else(|| config.get(key).cloned())
        };
        let environment = pick("GIT_SIGNED_ENVIRONMENT", "signed.environment").ok_or(
            "no environment: set `git config signed.environment <name>` (or GIT_SIGNED_ENVIRONMENT) \
             to the environment this clone deploys, e.g. staging",
        )?;
        if environment.is_empty() || environment.contains(char::is_whitespace) {
            return Err(format!("signed.environment {environment:?} must be a single word"));
        }
        let policy = pick("GIT_SIGNED_POLICY", "signed.policy")
            .ok_or("no policy: set `git config signed.policy /path/to/policy.toml` (or GIT_SIGNED_POLICY)")?;
        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        Ok(Settings {
            environment,
            policy: gitconfig::resolve(&cwd, &policy),
            strict: parse_bool("signed.strict", config.get("signed.strict"))?,
            allow_unprotected: parse_bool("signed.allowUnprotectedTags", config.get("signed.allowunprotectedtags"))?,
            refspecs,
        })
    }
}
