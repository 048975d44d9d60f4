//! The one question every part of git-signed asks: *does this tag satisfy the policy in this
//! environment, and why (not)?* The hook, the remote helper and the CLI all call
//! [`verify_tag`], so they give the same verdict for the same tag, policy and environment.

use std::collections::BTreeSet;
use std::time::SystemTime;

use gix::ObjectId;
use gix::objs::{Find, FindHeader};
use serde::Serialize;

use crate::layer::{self, Chain, Layer};
use crate::policy::{DEFAULT_MAX_AGE, Policy, Principal, plural};
use crate::signature::{self, Timing, format_time};

/// What to verify, where and when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The tag name, without `refs/tags/`.
    pub tag: &'a str,
    /// The object the ref points at.
    pub id: ObjectId,
    /// The environment whose rules apply (`push` at the mirror).
    pub environment: &'a str,
    /// The current time.
    pub now: SystemTime,
    /// At push: the tag objects already accepted under this ref (the old value's chain).
    /// Every other layer is new and must be valid now and recent.
    pub at_push: Option<&'a [ObjectId]>,
}

/// One layer as reported.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// 1 = innermost (the first signer).
    pub number: usize,
    /// The tag object's id.
    pub id: String,
    /// Whether this layer is new in the push being checked.
    pub new: bool,
    /// Who signed it, if the key is in the policy.
    pub signer: Option<Principal>,
    /// Fingerprint of the signing (sub)key.
    pub key: Option<String>,
    /// Signature creation time (RFC 3339).
    pub signed_at: Option<String>,
    /// The tagger line's name and email.
    pub tagger: Option<String>,
    /// Whether the signature counts.
    pub valid: bool,
    /// Why it does not.
    pub problem: Option<String>,
}

/// One rule as evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// 1-based rule number in the policy.
    pub rule: usize,
    /// The rule's line in the policy file.
    pub line: usize,
    /// What the rule asks for.
    pub description: String,
    /// Whether it holds.
    pub holds: bool,
    /// Why (not), in words.
    pub reason: String,
}

/// The answer for one tag: every layer, signer and rule, and the reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Tag name (without `refs/tags/`).
    pub tag: String,
    /// The ref's object id.
    pub object: String,
    /// The environment judged for.
    pub environment: String,
    /// Whether some rule's glob matches the name.
    pub protected: bool,
    /// Whether the tag satisfies the policy in this environment.
    pub accepted: bool,
    /// The commit at the bottom, when the walk reached it.
    pub commit: Option<String>,
    /// Layers, innermost first.
    pub layers: Vec<LayerReport>,
    /// Rules that apply here.
    pub rules: Vec<RuleReport>,
    /// Distinct people with a valid signature.
    pub people: Vec<String>,
    /// Machines with a valid signature.
    pub machines: Vec<String>,
    /// What is wrong with the chain itself (malformed, wrong name, too deep, …), if anything.
    pub structure: Option<String>,
    /// Everything that is wrong, one sentence each.
    pub problems: Vec<String>,
    /// The tag objects of the chain, innermost first (for the hook's "wraps the old value" check).
    #[serde(skip)]
    pub chain: Vec<ObjectId>,
}

impl Verdict {
    /// One line a person can act on: `deploy/42: needs 2 people, has 1 (alice); …`.
    pub fn summary(&self) -> String {
        if self.accepted {
            let mut who: Vec<String> = self.people.clone();
            who.extend(self.machines.iter().map(|m| format!("machine {m}")));
            format!("{}: ok, signed by {}", self.tag, who.join(", "))
        } else {
            format!("{}: {}", self.tag, self.problems.join("; "))
        }
    }
}

/// Verify the tag in `request` against `policy`, reading objects from `odb`.
pub fn verify_tag<O>(policy: &Policy, odb: &O, hash: gix::hash::Kind, request: Request<'_>) -> Verdict
where
    O: Find + FindHeader,
{
    let Request { tag, id, environment, now, at_push } = request;
    let rules: Vec<_> = policy.rules_for(tag, environment).collect();
    let mut verdict = Verdict {
        tag: tag.to_owned(),
        object: id.to_string(),
        environment: environment.to_owned(),
        protected: policy.protects(tag),
        accepted: false,
        commit: None,
        layers: Vec::new(),
        rules: Vec::new(),
        people: Vec::new(),
        machines: Vec::new(),
        structure: None,
        problems: Vec::new(),
        chain: Vec::new(),
    };
    if !verdict.protected {
        let why = "no rule in the policy protects this tag name".to_owned();
        verdict.problems.push(why.clone());
        verdict.structure = Some(why);
        return verdict;
    }

    let (layers, walk_error) = match layer::walk(odb, hash, tag, id) {
        Ok(Chain { layers, commit }) => {
            verdict.commit = Some(commit.to_string());
            (layers, None)
        }
        Err((layers, e)) => (layers, Some(e)),
    };
    verdict.chain = layers.iter().map(|l| l.id).collect();

    let max_age = rules.iter().filter_map(|r| r.max_age).min().unwrap_or(DEFAULT_MAX_AGE);
    let mut people = BTreeSet::new();
    let mut machines = BTreeSet::new();
    for (i, layer) in layers.iter().enumerate() {
        let new = at_push.is_some_and(|known| !known.contains(&layer.id));
        let timing = Timing { now, fresh_within: new.then_some(max_age) };
        let report = check_layer(policy, i + 1, layer, new, timing);
        match (&report.signer, report.valid) {
            (Some(Principal::Person(name)), true) => {
                people.insert(name.clone());
            }
            (Some(Principal::Machine(name)), true) => {
                machines.insert(name.clone());
            }
            _ => {}
        }
        if let Some(problem) = &report.problem {
            verdict.problems.push(format!("layer {} ({}) {problem}", report.number, short(&layer.id)));
        }
        verdict.layers.push(report);
    }
    if let Some(e) = walk_error {
        verdict.problems.insert(0, e.to_string());
        verdict.structure = Some(e.to_string());
    }

    for rule in &rules {
        let mut missing = Vec::new();
        if people.len() < rule.people {
            let have = if people.is_empty() {
                "none".to_owned()
            } else {
                format!("{} ({})", people.len(), people.iter().cloned().collect::<Vec<_>>().join(", "))
            };
            missing.push(format!("needs {} {}, has {have}", rule.people, plural(rule.people, "person", "people")));
        }
        for m in &rule.machines {
            if !machines.contains(m) {
                missing.push(format!("needs machine {m}'s signature"));
            }
        }
        let holds = missing.is_empty();
        let reason = if holds { "satisfied".to_owned() } else { missing.join(", ") };
        if !holds {
            verdict.problems.push(format!("{}: {reason}", rule.describe()));
        }
        verdict.rules.push(RuleReport {
            rule: rule.number,
            line: rule.line,
            description: rule.describe(),
            holds,
            reason,
        });
    }

    verdict.people = people.into_iter().collect();
    verdict.machines = machines.into_iter().collect();
    verdict.accepted = verdict.problems.is_empty() && verdict.commit.is_some();
    verdict
}

fn check_layer(policy: &Policy, number: usize, layer: &Layer, new: bool, timing: Timing) -> LayerReport {
    let check = signature::check(policy, layer.signature.as_ref(), &layer.payload, timing);
    LayerReport {
        number,
        id: layer.id.to_string(),
        new,
        signer: check.signer.clone(),
        key: check.key.as_ref().map(|k| k.to_hex()),
        signed_at: check.created.map(format_time),
        tagger: layer.tagger.as_ref().map(|t| format!("{} <{}>", t.name, t.email)),
        valid: check.is_valid(),
        problem: check.problem.as_ref().map(ToString::to_string),
    }
}

/// The first 12 hex digits of an object id, for messages.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}
