//! What git set with `option <name> <value>` during a session: kept as plain values, turned
//! into the inner `git fetch`/`git push` flags by the layers that run them.

use crate::protocol::OptionStatus;

/// Every option git set.
#[derive(Debug, Clone)]
pub struct Options {
    /// For fetch batches.
    pub fetch: FetchOptions,
    /// For push batches.
    pub push: PushOptions,
    /// git asked for `:object-format` in the `list` reply.
    pub object_format: bool,
    /// git will skip its connectivity walk when told the fetched pack is connected.
    pub check_connectivity: bool,
}

/// Fetch-related options.
#[derive(Debug, Default, Clone)]
pub struct FetchOptions {
    pub depth: Option<u64>,
    pub deepen_relative: bool,
    pub deepen_since: Option<String>,
    pub deepen_not: Vec<String>,
    pub update_shallow: bool,
    pub refetch: bool,
    pub progress: bool,
    pub verbosity: u32,
    pub family: Option<String>,
    pub followtags: bool,
    /// git is cloning into an empty repository.
    pub cloning: bool,
}

/// Push-related options.
#[derive(Debug, Default, Clone)]
pub struct PushOptions {
    pub cas: Vec<String>,
    pub force_if_includes: bool,
    pub atomic: bool,
    pub push_options: Vec<String>,
    pub dry_run: bool,
    /// `--signed=<this>` (`yes`, `if-asked`) for a signed push.
    pub signed: Option<&'static str>,
    pub verbosity: u32,
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fetch: FetchOptions { verbosity: 1, ..FetchOptions::default() },
            push: PushOptions { verbosity: 1, ..PushOptions::default() },
            object_format: false,
            check_connectivity: false,
        }
    }
}

/// git's protocol booleans are exactly `true` and `false`.
fn flag(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The reply for a value that parsed (`Some`) or did not.
fn status(applied: Option<()>) -> OptionStatus {
    if applied.is_some() { OptionStatus::Ok } else { OptionStatus::Invalid }
}

impl Options {
    /// Apply `option <name> <value>`.
    pub fn set(&mut self, name: &str, value: &str) -> OptionStatus {
        let applied = match name {
            "verbosity" => value.parse().ok().map(|v| {
                self.fetch.verbosity = v;
                self.push.verbosity = v;
            }),
            "progress" => flag(value).map(|b| {
                self.fetch.progress = b;
                self.push.progress = b;
            }),
            "check-connectivity" => flag(value).map(|b| self.check_connectivity = b),
            "object-format" => {
                self.object_format = true;
                Some(())
            }
            // Partial clones are not passed on yet: the clone is complete instead.
            _ => {
                return self
                    .fetch
                    .set(name, value)
                    .or_else(|| self.push.set(name, value))
                    .unwrap_or(OptionStatus::Unsupported);
            }
        };
        status(applied)
    }
}

impl FetchOptions {
    /// Whether the whole history is asked for: no depth, no refetch, no shallow update.
    pub fn whole_history(&self) -> bool {
        self.depth.is_none()
            && self.deepen_since.is_none()
            && self.deepen_not.is_empty()
            && !self.refetch
            && !self.update_shallow
    }

    /// Whether this is a plain clone over a native transport: it goes through `git
    /// fetch-pack`, which — like `git clone` itself — proves a self-contained pack connected
    /// while indexing it, instead of `git fetch`'s separate walk over every new object.
    /// `fetch-pack` cannot speak http(s), and shallow or incremental fetches need the porcelain.
    pub fn plain_clone(&self, url: &str) -> bool {
        self.cloning && self.whole_history() && matches!(crate::git::transport(url), "file" | "ssh" | "git")
    }

    /// Apply a fetch option; `None` when `name` is not one.
    fn set(&mut self, name: &str, value: &str) -> Option<OptionStatus> {
        let applied = match name {
            "depth" => value.parse().ok().map(|d: u64| self.depth = if d == 0 { None } else { Some(d) }),
            "deepen-relative" => flag(value).map(|b| self.deepen_relative = b),
            "deepen-since" => {
                self.deepen_since = Some(value.to_owned());
                Some(())
            }
            "deepen-not" => {
                self.deepen_not.push(value.to_owned());
                Some(())
            }
            "update-shallow" => flag(value).map(|b| self.update_shallow = b),
            "refetch" => flag(value).map(|b| self.refetch = b),
            "followtags" => flag(value).map(|b| self.followtags = b),
            "family" => {
                self.family = Some(value.to_owned());
                Some(())
            }
            "cloning" => flag(value).map(|b| self.cloning = b),
            _ => return None,
        };
        Some(status(applied))
    }
}

impl PushOptions {
    /// Apply a push option; `None` when `name` is not one.
    fn set(&mut self, name: &str, value: &str) -> Option<OptionStatus> {
        let applied = match name {
            "cas" => {
                self.cas.push(value.to_owned());
                Some(())
            }
            "force-if-includes" => flag(value).map(|b| self.force_if_includes = b),
            "atomic" => flag(value).map(|b| self.atomic = b),
            "push-option" => {
                self.push_options.push(value.to_owned());
                Some(())
            }
            "dry-run" => flag(value).map(|b| self.dry_run = b),
            "pushcert" => {
                self.signed = match value {
                    "true" => Some("yes"),
                    "if-asked" => Some("if-asked"),
                    _ => None,
                };
                Some(())
            }
            _ => return None,
        };
        Some(status(applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_option_as_git_expects() {
        let mut o = Options::default();
        assert_eq!(o.set("depth", "3"), OptionStatus::Ok);
        assert_eq!(o.fetch.depth, Some(3));
        assert_eq!(o.set("depth", "x"), OptionStatus::Invalid);
        assert_eq!(o.set("atomic", "yes"), OptionStatus::Invalid, "git sends true or false");
        assert_eq!(o.set("push-option", "a b"), OptionStatus::Ok);
        assert_eq!(o.push.push_options, ["a b"]);
        assert_eq!(o.set("filter", "blob:none"), OptionStatus::Unsupported);
        assert_eq!(o.set("verbosity", "0"), OptionStatus::Ok);
        assert_eq!((o.fetch.verbosity, o.push.verbosity), (0, 0));
    }
}
