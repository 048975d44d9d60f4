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
    /// Past accepted signatures, for the policy's `inactivity` rule (not applied without it).
    pub activity: Option<&'a Activity>,
}

impl<'a> Request<'a> {
    /// Verify `tag` (object `id`) for `environment` at time `now`.
    pub fn new(tag: &'a str, id: ObjectId, environment: &'a str, now: SystemTime) -> Request<'a> {
        Request { tag, id, environment, now, at_push: None, activity: None }
    }

    /// Judge as a push whose old value's chain is `known`.
    pub fn at_push(mut self, known: &'a [ObjectId]) -> Request<'a> {
        self.at_push = Some(known);
        self
    }

    /// Apply the `inactivity` rule using `activity`.
    pub fn with_activity(mut self, activity: Option<&'a Activity>) -> Request<'a> {
        self.activity = activity;
        self
    }
}

/// When each person signed accepted deploy tags: the history the `inactivity` rule needs.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    times: std::collections::HashMap<String, Vec<SystemTime>>,
}

impl Activity {
    /// Collect the valid person signatures of the accepted verdicts.
    pub fn from_verdicts<'v>(verdicts: impl IntoIterator<Item = &'v Verdict>) -> Activity {
        let mut a = Activity::default();
        for v in verdicts.into_iter().filter(|v| v.accepted) {
            for l in v.layers.iter().filter(|l| l.valid) {
                if let (Some(Principal::Person(name)), Some(t)) = (&l.signer, l.signed_time) {
                    a.times.entry(name.clone()).or_default().push(t);
                }
            }
        }
        for times in a.times.values_mut() {
            times.sort();
            times.dedup();
        }
        a
    }

    /// The person's latest accepted signature.
    pub fn latest(&self, person: &str) -> Option<SystemTime> {
        self.times.get(person).and_then(|t| t.last().copied())
    }

    /// The person's latest accepted signature strictly before `t`.
    pub fn before(&self, person: &str, t: SystemTime) -> Option<SystemTime> {
        self.times.get(person).and_then(|times| times.iter().rev().find(|x| **x < t).copied())
    }
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
    /// The same, as a time.
    #[serde(skip)]
    pub signed_time: Option<SystemTime>,
    /// The tagger line's name and email.
    pub tagger: Option<String>,
    /// Whether the signature counts.
    pub valid: bool,
    /// Why it does not.
    pub problem: Option<String>,
    /// The transition a promotion layer records (`Transition-From:` trailer), if any.
    pub transition: Option<Transition>,
}

/// What a promotion layer records: which deployed tag the tested transition started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The tag the environment was at.
    pub from: String,
    /// That tag's object id when it was tested.
    pub from_id: String,
    /// The environment that applied and tested it (`Environment:` trailer).
    pub environment: Option<String>,
}

impl Transition {
    /// Read `Transition-From: <tag> <object id>` and `Environment: <name>` trailers.
    pub fn from_message(message: &str) -> Option<Transition> {
        let mut from = None;
        let mut environment = None;
        for line in message.lines() {
            if let Some(v) = line.strip_prefix("Transition-From:") {
                let mut parts = v.split_whitespace();
                if let (Some(tag), Some(id), None) = (parts.next(), parts.next(), parts.next()) {
                    from = Some((tag.to_owned(), id.to_owned()));
                }
            } else if let Some(v) = line.strip_prefix("Environment:") {
                environment = Some(v.trim().to_owned());
            }
        }
        from.map(|(from, from_id)| Transition { from, from_id, environment })
    }
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
    /// Whether a valid machine layer records the transition from `from`, whose local tag has
    /// the chain `from_chain` (the recorded object must be one of its layers: later layers
    /// added to `from` don't break the match). Returns the reason when it does not.
    pub fn check_transition(&self, from: &str, from_chain: &[ObjectId]) -> Result<(), String> {
        let recorded: Vec<&Transition> = self
            .layers
            .iter()
            .filter(|l| l.valid && matches!(l.signer, Some(Principal::Machine(_))))
            .filter_map(|l| l.transition.as_ref())
            .collect();
        if recorded
            .iter()
            .any(|t| t.from == from && ObjectId::from_hex(t.from_id.as_bytes()).is_ok_and(|r| from_chain.contains(&r)))
        {
            return Ok(());
        }
        if recorded.is_empty() {
            return Err(format!("{}: no machine layer records a tested transition (git signed promote)", self.tag));
        }
        // `from_id` is whatever the tag message says: shorten by characters, never by bytes.
        let seen: Vec<String> =
            recorded.iter().map(|t| format!("{} {}", t.from, t.from_id.chars().take(12).collect::<String>())).collect();
        Err(format!("{}: tested transition was from {}, not from {from}", self.tag, seen.join(", ")))
    }

    /// The valid signers: people by name, then `machine <name>`.
    pub fn signers(&self) -> Vec<String> {
        self.people.iter().cloned().chain(self.machines.iter().map(|m| format!("machine {m}"))).collect()
    }

    /// What is wrong with the chain or any layer's signature, leaving the rules aside: a
    /// half-signed proposal must have none of these.
    pub fn signature_problems(&self) -> Vec<String> {
        self.structure
            .iter()
            .cloned()
            .chain(self.layers.iter().filter_map(|l| l.problem.as_ref().map(|p| format!("layer {} {p}", l.number))))
            .collect()
    }

    /// One line a person can act on: `deploy/42: needs 2 people, has 1 (alice); …`.
    pub fn summary(&self) -> String {
        if self.accepted {
            format!("{}: ok, signed by {}", self.tag, self.signers().join(", "))
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
    let Request { tag, id, environment, now, at_push, activity } = request;
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
        let mut report = check_layer(policy, i + 1, layer, new, timing);
        if let (Some(limit), Some(activity)) = (policy.inactivity, activity) {
            apply_inactivity(policy, limit, activity, &mut report);
        }
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
        signed_time: check.created,
        tagger: layer.tagger.as_ref().map(|t| format!("{} <{}>", t.name, t.email)),
        valid: check.is_valid(),
        problem: check.problem.as_ref().map(ToString::to_string),
        transition: Transition::from_message(&layer.message.to_string()),
    }
}

/// A person's signature stops counting when their previous accepted signature (or the
/// `granted` date an admin renews) is more than `limit` older than it.
fn apply_inactivity(policy: &Policy, limit: std::time::Duration, activity: &Activity, report: &mut LayerReport) {
    let (Some(Principal::Person(name)), Some(t), true) = (&report.signer, report.signed_time, report.valid) else {
        return;
    };
    let granted = policy
        .people
        .get(name)
        .and_then(|p| p.granted)
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| SystemTime::from(z.timestamp()));
    let previous = activity.before(name, t).into_iter().chain(granted).filter(|p| *p <= t).max();
    let lapsed = previous.is_none_or(|p| t.duration_since(p).is_ok_and(|gap| gap > limit));
    if lapsed {
        let since = previous.map_or_else(|| "ever".to_owned(), |p| format!("since {}", format_time(p)));
        report.valid = false;
        report.problem = Some(format!(
            "{name}'s access lapsed: no accepted signature {since}, more than {} before this one; \
             an admin must renew it (granted = <today> in the policy)",
            crate::duration::format(limit)
        ));
    }
}

/// The first 12 hex digits of an object id, for messages.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promoted(message_from_id: &str) -> Verdict {
        Verdict {
            tag: "deploy/2".into(),
            object: String::new(),
            environment: "production".into(),
            protected: true,
            accepted: true,
            commit: None,
            layers: vec![LayerReport {
                number: 1,
                id: String::new(),
                new: false,
                signer: Some(Principal::Machine("staging-ci".into())),
                key: None,
                signed_at: None,
                signed_time: None,
                tagger: None,
                valid: true,
                problem: None,
                transition: Transition::from_message(&format!("x\n\nTransition-From: deploy/1 {message_from_id}\n")),
            }],
            rules: Vec::new(),
            people: Vec::new(),
            machines: vec!["staging-ci".into()],
            structure: None,
            problems: Vec::new(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn transition_must_name_a_layer_of_the_previous_tag() {
        let id = ObjectId::from_hex(b"1111111111111111111111111111111111111111").expect("hex");
        let v = promoted(&id.to_string());
        assert!(v.check_transition("deploy/1", &[id]).is_ok());
        assert!(v.check_transition("deploy/0", &[id]).is_err());
        assert!(v.check_transition("deploy/1", &[]).is_err());
    }

    #[test]
    fn transition_with_a_non_ascii_id_is_reported_not_a_panic() {
        let v = promoted("ééééééééééééééé");
        let why = v.check_transition("deploy/0", &[]).expect_err("no match");
        assert!(why.contains("deploy/1 éééééééééééé,") || why.contains("deploy/1 éééééééééééé"), "{why}");
    }
}
