//! Reading git configuration, the one way every git-signed binary does it: a single
//! `git config` call returns the keys a binary names, and the values are read with gix's value
//! types. It never decides anything: which environment variable wins, what a missing key means
//! and the messages about it belong to each binary.
//!
//! Why git reads the configuration and gix does not: `git -c signed.policy=…`, which the tests
//! and Concourse's `git_config` use, reaches a hook or the remote helper only through
//! `GIT_CONFIG_PARAMETERS`, and gix (0.90) does not read that variable. Reading the files with
//! gix and that variable by hand would be a second implementation of git's rules (the order of
//! scopes, `include`/`includeIf`, the system file's location, which gix finds by running git,
//! `--type=path`'s `~/` and `%(prefix)/`), so git does all of that, once per process.
//! Booleans are interpreted by `gix::config::Boolean`, which follows `git config --type=bool`
//! (`true`/`yes`/`on`, `false`/`no`/`off`/empty, any number).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A setting that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// git cannot be started.
    #[error("cannot run git config: {0}")]
    Run(#[source] std::io::Error),
    /// git refused (a malformed file, a key without a value where a path is expected, …).
    #[error("git config failed: {0}")]
    Failed(String),
    /// A key in git's output without its value.
    #[error("git config printed {0:?} without a value")]
    Output(String),
    /// A boolean setting that is not one.
    #[error("{key} = {value:?} is not a boolean; use true or false")]
    NotBoolean { key: String, value: String },
}

/// The settings read from git config, as `git config --type=path` prints them.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// (canonical key, value), in git's order: for a single-valued key the last one wins.
    entries: Vec<(String, String)>,
}

impl Config {
    /// The values of `keys` (full names, like `signed.policy` or `remote.origin.fetch`), in the
    /// repository at `git_dir`, or the one git finds from the current directory. Only these
    /// keys are read: a malformed value elsewhere is not this binary's concern.
    pub fn read(git_dir: Option<&Path>, keys: &[&str]) -> Result<Config, Error> {
        if keys.is_empty() {
            return Ok(Config::default());
        }
        let mut cmd = Command::new("git");
        if let Some(dir) = git_dir {
            cmd.env("GIT_DIR", dir);
        }
        let exact: Vec<String> = keys.iter().map(|key| format!("{}$", escape(&canonical(key)))).collect();
        let out = cmd
            .args(["config", "-z", "--type=path", "--get-regexp"])
            .arg(format!("^({})", exact.join("|")))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(Error::Run)?;
        match out.status.code() {
            // 1: no key matched.
            Some(0 | 1) => Config::parse(&String::from_utf8_lossy(&out.stdout)),
            _ => Err(Error::Failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())),
        }
    }

    /// Read `git config -z` output: `<key>\n<value>\0` per entry.
    fn parse(text: &str) -> Result<Config, Error> {
        let entry = |e: &str| match e.split_once('\n') {
            Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
            None => Err(Error::Output(e.to_owned())),
        };
        let entries: Vec<(String, String)> =
            text.split('\0').filter(|e| !e.is_empty()).map(entry).collect::<Result<_, _>>()?;
        Ok(Config { entries })
    }

    /// Every value of `key` (any case in its section and name), in git's order.
    pub fn all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> {
        let key = canonical(key);
        self.entries.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`: the last one git printed.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).last()
    }

    /// `key` as a path: relative values are taken relative to `base`.
    pub fn path(&self, key: &str, base: &Path) -> Option<PathBuf> {
        self.get(key).map(|value| resolve(base, value))
    }

    /// `key` as a boolean, as `git config --type=bool` reads it.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let not_boolean = |_| Error::NotBoolean { key: key.to_owned(), value: value.to_owned() };
        gix::config::Boolean::try_from(value).map(|b| Some(b.is_true())).map_err(not_boolean)
    }
}

/// Resolve a configured path: absolute as is, relative ones against `base`.
pub fn resolve(base: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

/// The key as git prints it: section and name in lower case, a subsection as it is.
fn canonical(key: &str) -> String {
    match (key.split_once('.'), key.rsplit_once('.')) {
        (Some((section, _)), Some((rest, name))) if rest.len() > section.len() => {
            format!("{}{}.{}", section.to_ascii_lowercase(), &rest[section.len()..], name.to_ascii_lowercase())
        }
        _ => key.to_ascii_lowercase(),
    }
}

/// `text` as a literal in git's extended regular expressions.
fn escape(text: &str) -> String {
    text.chars().flat_map(|c| if r"\.[]()*+?{}|^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_in_any_case_but_the_subsection() {
        assert_eq!(canonical("signed.allowUnprotectedTags"), "signed.allowunprotectedtags");
        assert_eq!(canonical("Remote.Deploy.Fetch"), "remote.Deploy.fetch");
        assert_eq!(canonical("remote.a.b.fetch"), "remote.a.b.fetch");
        assert_eq!(escape("remote.a+b.fetch"), r"remote\.a\+b\.fetch");
    }

    #[test]
    fn reads_values_as_git_prints_them() {
        let config =
            Config::parse("signed.strict\nYes\0signed.policy\n/a\0signed.policy\nb\0signed.x\n2\0").expect("valid");
        assert_eq!(config.boolean("signed.Strict").ok(), Some(Some(true)));
        assert_eq!(config.boolean("signed.x").ok(), Some(Some(true)), "git reads any non-zero number as true");
        assert_eq!(config.boolean("signed.unset").ok(), Some(None));
        assert_eq!(config.path("signed.policy", Path::new("/base")), Some(PathBuf::from("/base/b")), "last wins");
        assert_eq!(config.all("signed.policy").collect::<Vec<_>>(), ["/a", "b"]);
        assert!(Config::parse("signed.policy\0").is_err());
        let maybe = Config::parse("signed.strict\nmaybe\0").expect("valid");
        let err = maybe.boolean("signed.strict").expect_err("not a boolean");
        assert_eq!(err.to_string(), "signed.strict = \"maybe\" is not a boolean; use true or false");
    }
}
