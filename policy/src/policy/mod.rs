//! The policy file (design.md §4): who may sign, with which keys, and which rules protect
//! which tag names in which environments.
//!
//! Parsing is strict on purpose: unknown keys, unknown access levels, a rule that asks for
//! nothing and a person without keys are errors, never defaults, because a typo must not
//! silently weaken a rule (T17, T22). Every error names the file, line and column.
//!
//! The model and the questions asked of it live here; [`parse`](Policy::parse) reads the TOML
//! (`parse.rs`), `rule.rs` compiles a rule's globs, `keys.rs` loads and indexes the
//! certificates, `environment.rs` owns the declared environments.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::facts::SigningKey;
use jiff::Timestamp;

mod environment;
mod keys;
mod parse;
mod rule;

pub use environment::UnknownEnvironment;
use keys::Keyring;
pub use keys::{Known, KnownCert, KnownSshKey};
pub use rule::{Presence, Pushers, Rule};

/// The environment the mirror's hook checks as.
pub const PUSH_ENVIRONMENT: &str = "push";

/// Default bound on the age of a new layer's signature at push time (design.md §5).
pub const DEFAULT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// An error in a policy file, pointing at the place to fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct PolicyError {
    /// The policy file (or key file) the error is in.
    pub file: PathBuf,
    /// 1-based line of the offending value (0 when the whole file is at fault).
    pub line: usize,
    /// 1-based column of the offending value.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// A signer known to the policy: a person or a machine, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// A person from `[people.<name>]`.
    Person(String),
    /// A CI system from `[machines.<name>]`.
    Machine(String),
}

impl Principal {
    /// The principal's name as written in the policy.
    pub fn name(&self) -> &str {
        match self {
            Principal::Person(name) | Principal::Machine(name) => name,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Person(name) => f.write_str(name),
            Principal::Machine(name) => write!(f, "machine {name}"),
        }
    }
}

/// What a person may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// May sign deploy tags.
    Deploy,
    /// May sign deploy tags and change the policy.
    Admin,
}

/// A person who may sign deploy tags.
#[derive(Debug)]
pub struct Person {
    /// The name under `[people]`.
    pub name: String,
    /// Deploy or admin.
    pub access: Access,
    /// Who granted the access.
    pub sponsor: Option<String>,
    /// Signatures made at or after this instant don't count (start of the day after `expires`).
    pub expires: Option<jiff::civil::Date>,
    /// When the access was (last) granted or renewed; resets the inactivity clock.
    pub granted: Option<jiff::civil::Date>,
    /// The person's keys: primary fingerprints of OpenPGP certificates, SSH key fingerprints.
    pub keys: Vec<SigningKey>,
    /// Only FIDO security keys may sign for them (`hardware = true`).
    pub hardware: bool,
    /// The line of the policy file the person's table starts on, for messages.
    pub line: usize,
}

/// A CI system that signs; never counts as a person.
#[derive(Debug)]
pub struct Machine {
    /// The name under `[machines]`.
    pub name: String,
    /// The machine's keys: primary fingerprints of OpenPGP certificates, SSH key fingerprints.
    pub keys: Vec<SigningKey>,
    /// Only FIDO security keys may sign for it (`hardware = true`).
    pub hardware: bool,
}

/// A loaded, validated policy with its certificates parsed once.
#[derive(Debug)]
pub struct Policy {
    /// The file it was read from.
    pub path: PathBuf,
    /// People by name.
    pub people: BTreeMap<String, Person>,
    /// Machines by name.
    pub machines: BTreeMap<String, Machine>,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// The declared environments (`environments = [...]`), in file order; `push` is always
    /// declared, whether listed or not.
    pub environments: Vec<String>,
    /// Optional inactivity limit: a person's signatures stop counting after this long without one.
    pub inactivity: Option<std::time::Duration>,
    /// `admins = N`: distinct admins who must sign a change of the policy kept in the
    /// repository (`refs/signed/policy`); required there, unused for a policy file.
    pub admins: Option<usize>,
    /// A digest of everything the policy was read from (policy text and key files), so
    /// adapters can cache verdicts that cannot have changed.
    pub fingerprint: String,
    keyring: Keyring,
}

impl Policy {
    /// Whether any rule's glob matches `tag`: such a tag is protected.
    pub fn protects(&self, tag: &str) -> bool {
        self.rules.iter().any(|r| r.matches_tag(tag))
    }

    /// The rules that must hold for `tag` in `environment`.
    pub fn rules_for<'a>(&'a self, tag: &'a str, environment: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches_tag(tag) && r.applies_in(environment))
    }

    /// Whether a name differing from `tag` at most in case is protected.
    pub fn protects_ignoring_case(&self, tag: &str) -> bool {
        self.rules.iter().any(|r| r.matches_folded(tag))
    }

    /// Whether some protected name could lie below the directory `dir` (`dir/…`), ignoring case.
    pub fn may_protect_below(&self, dir: &str) -> bool {
        self.rules.iter().any(|r| r.may_match_below(dir))
    }

    /// The instant from which `person`'s signatures no longer count, if their access expires.
    pub fn access_end(person: &Person) -> Option<Timestamp> {
        let day_after = person.expires?.tomorrow().ok()?;
        day_after.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
    }
}

pub(crate) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
