//! Reading git configuration the way git does (`git config`), for the adapters: settings such
//! as `signed.policy` may come from the repository, `--global`, `-c` or `GIT_CONFIG_*`, and only
//! git itself knows all of those rules.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `git config --get <key>` in `dir`; `None` when unset. Errors when git cannot be run.
pub fn get(dir: Option<&Path>, key: &str, path_type: bool) -> std::io::Result<Option<String>> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.arg("config");
    if path_type {
        cmd.arg("--type=path");
    }
    let out = cmd.args(["--get", key]).stdin(Stdio::null()).stderr(Stdio::piped()).output()?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_owned())),
        Some(1) => Ok(None),
        _ => Err(std::io::Error::other(format!(
            "git config --get {key} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// A boolean setting (`true`/`yes`/`on`/`1` and their opposites, as git reads them).
pub fn get_bool(dir: Option<&Path>, key: &str) -> std::io::Result<Option<bool>> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.args(["config", "--type=bool", "--get", key]).stdin(Stdio::null()).output()?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim() == "true")),
        Some(1) => Ok(None),
        _ => Err(std::io::Error::other(format!(
            "{key} is not a boolean: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// Resolve a configured path: absolute as is, relative ones against `base`.
pub fn resolve(base: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}
