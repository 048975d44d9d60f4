//! What a verdict reports about each layer and each rule, as data: ids, principals,
//! fingerprints and times; text is made only when shown.

use std::sync::Arc;
use std::time::SystemTime;

use crate::facts::SigningKey;
use crate::ssh::Touch;
use gix::ObjectId;

use super::{Expected, LayerProblem, Missing};
use crate::layer::Tagger;
use crate::policy::Principal;

/// One layer as reported.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// 1 = innermost (the first signer).
    pub number: usize,
    /// The tag object's id.
    pub id: ObjectId,
    /// Whether this layer is new in the push being checked.
    pub new: bool,
    /// Who signed it, if the key is in the policy.
    pub signer: Option<Principal>,
    /// The signature's format (`openpgp`, `ssh`, `x509`), when the layer is signed.
    pub format: Option<&'static str>,
    /// The signing key, when the policy holds it.
    pub key: Option<SigningKey>,
    /// The signing key's type (`sk-ssh-ed25519@openssh.com`, `EdDSA`, …).
    pub key_type: Option<String>,
    /// What a FIDO security key claimed when it made the signature.
    pub touch: Option<Touch>,
    /// The signature's creation time.
    pub signed_at: Option<SystemTime>,
    /// The tagger line.
    pub tagger: Option<Tagger>,
    /// Why the signature does not count, if it doesn't.
    pub problem: Option<LayerProblem>,
    /// The transition a promotion layer records (`Transition-From:` trailer), if any.
    pub transition: Option<Transition>,
}

impl LayerReport {
    /// Whether the signature counts.
    pub fn valid(&self) -> bool {
        self.problem.is_none()
    }
}

/// What a promotion layer records: which deployed tag the tested transition started from, or
/// that it was the environment's first deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The tag the environment was at (`None` for a first deploy).
    pub from: Option<String>,
    /// That tag's object id when it was tested, as written in the trailer.
    pub from_id: Option<String>,
    /// Whether this was the environment's first deploy (`Transition: initial`).
    pub initial: bool,
    /// The environment that applied and tested it (`Environment:` trailer).
    pub environment: Option<String>,
}

impl Transition {
    /// Read `Transition-From: <tag> <object id>` or `Transition: initial`, and `Environment:
    /// <name>` trailers.
    pub fn from_message(message: &str) -> Option<Transition> {
        let mut found = Transition { from: None, from_id: None, initial: false, environment: None };
        for line in message.lines() {
            if let Some(v) = line.strip_prefix("Transition-From:") {
                let mut parts = v.split_whitespace();
                if let (Some(tag), Some(id), None) = (parts.next(), parts.next(), parts.next()) {
                    found.from = Some(tag.to_owned());
                    found.from_id = Some(id.to_owned());
                }
            } else if let Some(v) = line.strip_prefix("Transition:") {
                found.initial |= v.trim() == "initial";
            } else if let Some(v) = line.strip_prefix("Environment:") {
                found.environment = Some(v.trim().to_owned());
            }
        }
        (found.from.is_some() || found.initial).then_some(found)
    }

    pub(super) fn matches(&self, expected: Expected<'_>) -> bool {
        match expected {
            Expected::Initial => self.initial,
            Expected::From { tag, chain } => {
                self.from.as_deref() == Some(tag)
                    && self
                        .from_id
                        .as_deref()
                        .and_then(|id| ObjectId::from_hex(id.as_bytes()).ok())
                        .is_some_and(|id| chain.contains(&id))
            }
        }
    }

    pub(super) fn describe(&self) -> String {
        match (&self.from, &self.from_id) {
            // `from_id` is whatever the tag message says: shorten by characters, never by bytes.
            (Some(from), Some(id)) => format!("from {from} {}", id.chars().take(12).collect::<String>()),
            _ => "the first deploy".to_owned(),
        }
    }
}

/// One rule as evaluated.
#[derive(Debug, Clone)]
pub struct RuleReport {
    /// 1-based rule number in the policy.
    pub rule: usize,
    /// The rule's line in the policy file.
    pub line: usize,
    /// What the rule asks for (`rule 1 (deploy/*: 2 people)`), shared with the policy.
    pub description: Arc<str>,
    /// What it lacks; nothing when it holds.
    pub missing: Vec<Missing>,
}

impl RuleReport {
    /// Whether the rule holds.
    pub fn holds(&self) -> bool {
        self.missing.is_empty()
    }

    /// Why (not), in words.
    pub fn reason(&self) -> String {
        if self.holds() {
            return "satisfied".to_owned();
        }
        self.missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::ObjectId;

    fn promotion(trailers: &str) -> Transition {
        Transition::from_message(&format!("Promote deploy/2\n\n{trailers}")).expect("a transition")
    }

    #[test]
    fn transition_must_name_a_layer_of_the_previous_tag() {
        let id = ObjectId::from_hex(b"1111111111111111111111111111111111111111").expect("hex");
        let t = promotion(&format!("Transition-From: deploy/1 {id}\nEnvironment: staging\n"));
        assert!(t.matches(Expected::From { tag: "deploy/1", chain: &[id] }));
        assert!(!t.matches(Expected::From { tag: "deploy/0", chain: &[id] }));
        assert!(!t.matches(Expected::From { tag: "deploy/1", chain: &[] }));
        assert!(!t.matches(Expected::Initial));
        assert_eq!(t.environment.as_deref(), Some("staging"));
    }

    #[test]
    fn an_initial_deploy_is_recorded_as_such_and_matches_nothing_else() {
        let t = promotion("Transition: initial\nEnvironment: staging\n");
        assert!(t.matches(Expected::Initial));
        assert!(!t.matches(Expected::From { tag: "deploy/0", chain: &[] }));
        assert_eq!(t.describe(), "the first deploy");
        assert!(Transition::from_message("Deploy\n\nTransition: maybe\n").is_none());
    }

    #[test]
    fn transition_with_a_non_ascii_id_is_described_not_a_panic() {
        let t = promotion("Transition-From: deploy/1 ééééééééééééééé\n");
        assert_eq!(t.describe(), "from deploy/1 éééééééééééé");
    }
}
