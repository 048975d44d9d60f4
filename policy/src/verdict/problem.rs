//! Everything that can make a tag fail, one typed kind each, with `Display` for people. The
//! text is written only when a problem is shown; callers match on the kinds.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gix::ObjectId;

use super::short;
use crate::layer::WalkError;
use crate::policy::{Presence, UnknownEnvironment, plural};
use crate::signature::{self, format_time};

/// Why one layer's signature does not count.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayerProblem {
    /// The signature itself, its key or the signer's access (see [`signature::Problem`]).
    #[error(transparent)]
    Signature(#[from] signature::Problem),
    /// The person's access lapsed under the policy's `inactivity` rule.
    #[error(
        "{person}'s access lapsed: no accepted signature {}, more than {} before this one; \
         an admin must renew it (granted = <today> in the policy)",
        since.map_or_else(|| "ever".to_owned(), |p| format!("since {}", format_time(p))),
        crate::duration::format(*limit)
    )]
    Lapsed {
        /// Whose access lapsed.
        person: String,
        /// Their previous accepted signature (or `granted` date), if any.
        since: Option<SystemTime>,
        /// The policy's `inactivity`.
        limit: Duration,
    },
}

/// What a rule lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Too few distinct people.
    People {
        /// How many the rule needs.
        needed: usize,
        /// Who signed validly.
        have: Vec<String>,
    },
    /// A machine that must have signed.
    Machine(String),
    /// A person whose signature counts, but not for this rule: their security key did not
    /// prove what the rule's `presence` requires.
    Presence {
        /// Who signed.
        person: String,
        /// What their security key proved at best.
        proven: Presence,
        /// What the rule requires.
        required: Presence,
    },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::People { needed, have } if have.is_empty() => {
                write!(f, "needs {needed} {}, has none", plural(*needed, "person", "people"))
            }
            Missing::People { needed, have } => write!(
                f,
                "needs {needed} {}, has {} ({})",
                plural(*needed, "person", "people"),
                have.len(),
                have.join(", ")
            ),
            Missing::Machine(m) => write!(f, "needs machine {m}'s signature"),
            Missing::Presence { person, proven, required } => {
                let made = match proven {
                    Presence::Unproven => "without a touch on a security key",
                    Presence::Touch => "with a touch but without a PIN",
                    Presence::Pin => "with a touch and a PIN",
                };
                write!(f, "{person}'s signature was made {made}; this rule requires `{}`", required.as_str())
            }
        }
    }
}

/// Why the recorded transition does not match what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionProblem {
    /// No valid machine layer records any transition.
    #[error("no machine layer records a tested transition (git signed promote)")]
    NotRecorded,
    /// The recorded transitions start elsewhere.
    #[error("tested transition was {}, not from {expected}", recorded.join(", "))]
    Other {
        /// What was expected (`deploy/41`, or `the first deploy`).
        expected: String,
        /// What the machine layers record, shortened for people.
        recorded: Vec<String>,
    },
}

/// Everything that can make a tag fail, one kind each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// No rule's glob matches the tag name.
    #[error("no rule in the policy protects this tag name")]
    NotProtected,
    /// There is no such tag to verify.
    #[error(
        "no tag refs/tags/{0} in this repository (git fetch --tags; through signed:: a tag stays hidden \
         until this environment accepts it)"
    )]
    NoSuchTag(String),
    /// The environment is not declared in the policy (T26).
    #[error(transparent)]
    UnknownEnvironment(UnknownEnvironment),
    /// The chain of tag objects itself is unacceptable (malformed, wrong name, too deep, …).
    #[error(transparent)]
    Walk(WalkError),
    /// One layer's signature does not count.
    #[error("layer {number} ({}) {problem}", short(id))]
    Layer {
        /// 1 = innermost.
        number: usize,
        /// The layer's tag object.
        id: ObjectId,
        /// Why it does not count.
        problem: LayerProblem,
    },
    /// A rule that applies here does not hold.
    #[error("{description}: {}", missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Rule {
        /// `rule 1 (deploy/*: 2 people)`, shared with the policy's rule.
        description: Arc<str>,
        /// What it lacks.
        missing: Vec<Missing>,
    },
    /// At push: the new value does not wrap the old one (T6: moved, replaced, layer removed).
    #[error(
        "the new tag does not wrap the old one ({}); a protected tag only gains signatures: \
         sign on top with `git tag -s -f -m … {tag} {tag}`",
        short(old)
    )]
    DoesNotWrap {
        /// The tag name.
        tag: String,
        /// The value it must wrap.
        old: ObjectId,
    },
    /// The expected transition is not recorded by a valid machine layer.
    #[error(transparent)]
    Transition(TransitionProblem),
    /// The serving mirror advertised another commit than the chain reaches.
    #[error("the mirror advertised commit {} for it, but the tag points at {}", short(advertised), short(actual))]
    CommitMismatch {
        /// What the mirror said (`^{}`).
        advertised: ObjectId,
        /// What the chain reaches.
        actual: ObjectId,
    },
}
