//! The one question every part of git-signed asks: *does this tag satisfy the policy in this
//! environment, and why (not)?* The hook, the remote helper and the CLI all call
//! [`verify_tag`], so they give the same verdict for the same tag, policy and environment
//! (T27): the push-time "only grows" check, the recorded-transition check, the commit a
//! mirror advertised and the `inactivity` history are parts of the [`Request`], never edits an
//! adapter makes to a verdict afterwards.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use gix::ObjectId;
use gix::objs::{Find, FindHeader};
use serde::{Serialize, Serializer};

use crate::layer::{self, Chain, Layer, WalkError};
use crate::policy::{DEFAULT_MAX_AGE, Policy, Principal, UnknownEnvironment, plural};
use crate::signature::{self, Timing, format_time};

/// What a verdict is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A deploy tag under `refs/tags/`: every matching rule must hold.
    Deploy,
    /// A half-signed proposal under `refs/signed/proposed/`: every layer must be validly
    /// signed by someone the policy knows; the rules are not applied yet.
    Proposal,
}

/// The transition a verifier expects a machine layer to record (`git signed promote`).
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// Tested as the transition from tag `tag`, whose local chain of tag objects is `chain`.
    From {
        /// The previous deploy tag's name.
        tag: &'a str,
        /// Its tag objects: the recorded object must be one of them (layers added later to
        /// the previous tag don't break the match).
        chain: &'a [ObjectId],
    },
    /// Tested as the environment's first deploy (`git signed promote --initial`).
    Initial,
}

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
    /// A deploy tag or a proposal.
    pub purpose: Purpose,
    /// At push: `Some(old value)` (`None` inside for a new ref). The layers of the old value
    /// are known; every other layer is new and must be valid now and recent, and the new value
    /// must wrap the old one.
    pub push: Option<Option<ObjectId>>,
    /// Past accepted signatures, for the policy's `inactivity` rule (not applied without it).
    pub activity: Option<&'a Activity>,
    /// A transition a valid machine layer must record.
    pub transition: Option<Expected<'a>>,
    /// The commit the serving mirror advertised for the tag (`^{}`): it must be the real one.
    pub advertised: Option<ObjectId>,
}

impl<'a> Request<'a> {
    /// Verify deploy tag `tag` (object `id`) for `environment` at time `now`.
    pub fn new(tag: &'a str, id: ObjectId, environment: &'a str, now: SystemTime) -> Request<'a> {
        Request {
            tag,
            id,
            environment,
            now,
            purpose: Purpose::Deploy,
            push: None,
            activity: None,
            transition: None,
            advertised: None,
        }
    }

    /// Judge as a push that replaces `old` (`None` when the ref is created).
    pub fn at_push(mut self, old: Option<ObjectId>) -> Request<'a> {
        self.push = Some(old.filter(|id| !id.is_null()));
        self
    }

    /// Judge as a proposal, not a deploy tag.
    pub fn proposal(mut self) -> Request<'a> {
        self.purpose = Purpose::Proposal;
        self
    }

    /// Apply the `inactivity` rule using `activity`.
    pub fn with_activity(mut self, activity: Option<&'a Activity>) -> Request<'a> {
        self.activity = activity;
        self
    }

    /// Also require a valid machine layer recording `transition`.
    pub fn expect_transition(mut self, transition: Expected<'a>) -> Request<'a> {
        self.transition = Some(transition);
        self
    }

    /// The commit a mirror advertised for the tag, which must be the one the chain reaches.
    pub fn advertised(mut self, commit: Option<ObjectId>) -> Request<'a> {
        self.advertised = commit;
        self
    }
}

/// When each person signed tags the mirror accepts: the history the `inactivity` rule needs.
/// Always built from `push` verdicts, wherever it is built, so the hook, the helper and the CLI
/// agree on who was active.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    times: std::collections::HashMap<String, Vec<SystemTime>>,
}

impl Activity {
    /// The history of the protected `tags` (name, object) readable from `odb`: the valid
    /// person signatures of those that satisfy the `push` rules.
    pub fn from_tags<'t, O>(
        policy: &Policy,
        odb: &O,
        hash: gix::hash::Kind,
        tags: impl IntoIterator<Item = (&'t str, ObjectId)>,
        now: SystemTime,
    ) -> Activity
    where
        O: Find + FindHeader,
    {
        let mut a = Activity::default();
        for (name, id) in tags.into_iter().filter(|(name, _)| policy.protects(name)) {
            let v = verify_tag(policy, odb, hash, Request::new(name, id, crate::PUSH_ENVIRONMENT, now));
            if !v.accepted {
                continue;
            }
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

fn hex<S: Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn hex_opt<S: Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn text_opt<T: std::fmt::Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn texts<T: std::fmt::Display, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(ToString::to_string))
}

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
    #[error("no tag refs/tags/{0} in this repository (git fetch --tags?)")]
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
        /// `rule 1 (deploy/*: 2 people)`.
        description: String,
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

/// One layer as reported.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// 1 = innermost (the first signer).
    pub number: usize,
    /// The tag object's id.
    #[serde(serialize_with = "hex")]
    pub id: ObjectId,
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
    #[serde(serialize_with = "text_opt")]
    pub problem: Option<LayerProblem>,
    /// The transition a promotion layer records (`Transition-From:` trailer), if any.
    pub transition: Option<Transition>,
}

/// What a promotion layer records: which deployed tag the tested transition started from, or
/// that it was the environment's first deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

    fn matches(&self, expected: Expected<'_>) -> bool {
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

    fn describe(&self) -> String {
        match (&self.from, &self.from_id) {
            // `from_id` is whatever the tag message says: shorten by characters, never by bytes.
            (Some(from), Some(id)) => format!("from {from} {}", id.chars().take(12).collect::<String>()),
            _ => "the first deploy".to_owned(),
        }
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
    /// The ref's object id (`None` when there is no such tag).
    #[serde(serialize_with = "hex_opt")]
    pub object: Option<ObjectId>,
    /// The environment judged for.
    pub environment: String,
    /// Whether some rule's glob matches the name.
    pub protected: bool,
    /// Whether the tag satisfies the policy in this environment: no problem, and the walk
    /// reached a commit. Set by the core only.
    pub accepted: bool,
    /// The commit at the bottom, when the walk reached it.
    #[serde(serialize_with = "hex_opt")]
    pub commit: Option<ObjectId>,
    /// Layers, innermost first.
    pub layers: Vec<LayerReport>,
    /// Rules that apply here.
    pub rules: Vec<RuleReport>,
    /// Distinct people with a valid signature.
    pub people: Vec<String>,
    /// Machines with a valid signature.
    pub machines: Vec<String>,
    /// Everything that is wrong, most fundamental first.
    #[serde(serialize_with = "texts")]
    pub problems: Vec<Problem>,
    /// The tag objects of the chain, innermost first.
    #[serde(skip)]
    pub chain: Vec<ObjectId>,
}

impl Verdict {
    fn empty(tag: &str, object: Option<ObjectId>, environment: &str, protected: bool) -> Verdict {
        Verdict {
            tag: tag.to_owned(),
            object,
            environment: environment.to_owned(),
            protected,
            accepted: false,
            commit: None,
            layers: Vec::new(),
            rules: Vec::new(),
            people: Vec::new(),
            machines: Vec::new(),
            problems: Vec::new(),
            chain: Vec::new(),
        }
    }

    /// The verdict for a tag that does not exist.
    pub fn no_such_tag(policy: &Policy, tag: &str, environment: &str) -> Verdict {
        let mut v = Verdict::empty(tag, None, environment, policy.protects(tag));
        v.problems.push(Problem::NoSuchTag(tag.to_owned()));
        v
    }

    /// The valid signers: people by name, then `machine <name>`.
    pub fn signers(&self) -> Vec<String> {
        self.people.iter().cloned().chain(self.machines.iter().map(|m| format!("machine {m}"))).collect()
    }

    /// Whether some rule lacks people (the two-person flow was skipped).
    pub fn lacks_people(&self) -> bool {
        self.problems
            .iter()
            .any(|p| matches!(p, Problem::Rule { missing, .. } if missing.iter().any(|m| matches!(m, Missing::People { .. }))))
    }

    /// One line a person can act on: `deploy/42: needs 2 people, has 1 (alice); …`.
    pub fn summary(&self) -> String {
        if self.accepted {
            format!("{}: ok, signed by {}", self.tag, self.signers().join(", "))
        } else {
            let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
            format!("{}: {}", self.tag, problems.join("; "))
        }
    }
}

/// Verify the tag in `request` against `policy`, reading objects from `odb`.
pub fn verify_tag<O>(policy: &Policy, odb: &O, hash: gix::hash::Kind, request: Request<'_>) -> Verdict
where
    O: Find + FindHeader,
{
    let Request { tag, id, environment, .. } = request;
    let mut verdict = Verdict::empty(tag, Some(id), environment, policy.protects(tag));
    if let Err(unknown) = policy.check_environment(environment) {
        verdict.problems.push(Problem::UnknownEnvironment(unknown));
        return verdict;
    }
    if !verdict.protected {
        verdict.problems.push(Problem::NotProtected);
        return verdict;
    }
    let layers = match layer::walk(odb, hash, tag, id) {
        Ok(Chain { layers, commit }) => {
            verdict.commit = Some(commit);
            layers
        }
        Err((layers, e)) => {
            verdict.problems.push(Problem::Walk(e));
            layers
        }
    };
    verdict.chain = layers.iter().map(|l| l.id).collect();
    if let Some(old) = request.push.flatten()
        && request.purpose == Purpose::Deploy
        && !verdict.chain.contains(&old)
    {
        verdict.problems.insert(0, Problem::DoesNotWrap { tag: tag.to_owned(), old });
    }
    if let (Some(advertised), Some(actual)) = (request.advertised, verdict.commit)
        && advertised != actual
    {
        verdict.problems.push(Problem::CommitMismatch { advertised, actual });
    }
    judge_layers(policy, odb, hash, &request, &layers, &mut verdict);
    if request.purpose == Purpose::Deploy {
        judge_rules(policy, &request, &mut verdict);
        if let Some(expected) = request.transition {
            judge_transition(expected, &mut verdict);
        }
    }
    verdict.accepted = verdict.problems.is_empty() && verdict.commit.is_some();
    verdict
}

/// Check every layer's signature; collect the valid signers.
fn judge_layers<O>(
    policy: &Policy,
    odb: &O,
    hash: gix::hash::Kind,
    request: &Request<'_>,
    layers: &[Layer],
    verdict: &mut Verdict,
) where
    O: Find + FindHeader,
{
    let max_age = policy.rules_for(request.tag, request.environment).filter_map(|r| r.max_age).min();
    let known = match request.push {
        Some(Some(old)) => layer::ids(odb, hash, request.tag, old),
        _ => Vec::new(),
    };
    let mut people = BTreeSet::new();
    let mut machines = BTreeSet::new();
    for (i, layer) in layers.iter().enumerate() {
        let new = request.push.is_some() && !known.contains(&layer.id);
        let timing = Timing { now: request.now, fresh_within: new.then_some(max_age.unwrap_or(DEFAULT_MAX_AGE)) };
        let mut report = check_layer(policy, i + 1, layer, new, timing);
        if let (Some(limit), Some(activity)) = (policy.inactivity, request.activity) {
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
            verdict.problems.push(Problem::Layer { number: report.number, id: layer.id, problem: problem.clone() });
        }
        verdict.layers.push(report);
    }
    verdict.people = people.into_iter().collect();
    verdict.machines = machines.into_iter().collect();
}

/// Evaluate every rule that applies to the tag in the environment.
fn judge_rules(policy: &Policy, request: &Request<'_>, verdict: &mut Verdict) {
    for rule in policy.rules_for(request.tag, request.environment) {
        let mut missing = Vec::new();
        if verdict.people.len() < rule.people {
            missing.push(Missing::People { needed: rule.people, have: verdict.people.clone() });
        }
        missing.extend(rule.machines.iter().filter(|m| !verdict.machines.contains(m)).cloned().map(Missing::Machine));
        let description = rule.describe();
        let reason = if missing.is_empty() {
            "satisfied".to_owned()
        } else {
            missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        };
        verdict.rules.push(RuleReport {
            rule: rule.number,
            line: rule.line,
            description: description.clone(),
            holds: missing.is_empty(),
            reason,
        });
        if !missing.is_empty() {
            verdict.problems.push(Problem::Rule { description, missing });
        }
    }
}

/// Some valid machine layer must record the expected transition.
fn judge_transition(expected: Expected<'_>, verdict: &mut Verdict) {
    let recorded: Vec<&Transition> = verdict
        .layers
        .iter()
        .filter(|l| l.valid && matches!(l.signer, Some(Principal::Machine(_))))
        .filter_map(|l| l.transition.as_ref())
        .collect();
    if recorded.iter().any(|t| t.matches(expected)) {
        return;
    }
    let problem = if recorded.is_empty() {
        TransitionProblem::NotRecorded
    } else {
        let expected = match expected {
            Expected::From { tag, .. } => tag.to_owned(),
            Expected::Initial => "the first deploy (--initial)".to_owned(),
        };
        TransitionProblem::Other { expected, recorded: recorded.iter().map(|t| t.describe()).collect() }
    };
    verdict.problems.push(Problem::Transition(problem));
}

fn check_layer(policy: &Policy, number: usize, layer: &Layer, new: bool, timing: Timing) -> LayerReport {
    let check = signature::check(policy, layer.signature(), layer.payload(), timing);
    LayerReport {
        number,
        id: layer.id,
        new,
        signer: check.signer.clone(),
        key: check.key.as_ref().map(|k| k.to_hex()),
        signed_at: check.created.map(format_time),
        signed_time: check.created,
        tagger: layer.tagger.as_ref().map(|t| format!("{} <{}>", t.name, t.email)),
        valid: check.is_valid(),
        problem: check.problem.map(LayerProblem::Signature),
        transition: Transition::from_message(&String::from_utf8_lossy(layer.message())),
    }
}

/// A person's signature stops counting when their previous accepted signature (or the
/// `granted` date an admin renews) is more than `limit` older than it.
fn apply_inactivity(policy: &Policy, limit: Duration, activity: &Activity, report: &mut LayerReport) {
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
    if previous.is_none_or(|p| t.duration_since(p).is_ok_and(|gap| gap > limit)) {
        report.valid = false;
        report.problem = Some(LayerProblem::Lapsed { person: name.clone(), since: previous, limit });
    }
}

/// The first 12 hex digits of an object id, for messages.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
