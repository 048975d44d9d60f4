//! The one question every part of git-signed asks: *does this tag satisfy the policy in this
//! environment, and why (not)?* The hook, the remote helper and the CLI all call
//! [`verify_tag`], so they give the same verdict for the same tag, policy and environment
//! (T27): the push-time "only grows" check, the recorded-transition check, the commit a
//! mirror advertised and the `inactivity` history are parts of the [`Request`], never edits an
//! adapter makes to a verdict afterwards.
//!
//! `request.rs` holds what is asked, `problem.rs` the typed reasons, `report.rs` the layers
//! and rules as data, `activity.rs` the signing history; renderings for people and pipelines
//! live with the adapters, which only read a verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use gix::ObjectId;
use gix::objs::{Find, FindHeader};

use crate::facts::{Facts, SignatureFact};
use crate::layer::{self, Chain, Layer};
use crate::policy::{DEFAULT_MAX_AGE, Policy, Presence, Principal};
use crate::signature::{self, Timing};

mod activity;
mod problem;
mod report;
mod request;

pub use activity::Activity;
pub use problem::{LayerProblem, Missing, Problem, TransitionProblem};
pub use report::{LayerReport, RuleReport, Transition};
pub use request::{Expected, Purpose, Request};

/// The answer for one tag: every layer, signer and rule, and the reasons. Only the core makes
/// one; callers read it.
#[derive(Debug, Clone)]
pub struct Verdict {
    tag: String,
    object: Option<ObjectId>,
    environment: String,
    protected: bool,
    commit: Option<ObjectId>,
    layers: Vec<LayerReport>,
    rules: Vec<RuleReport>,
    people: Vec<String>,
    machines: Vec<String>,
    problems: Vec<Problem>,
    chain: Vec<ObjectId>,
    learned: Vec<(ObjectId, SignatureFact)>,
    until: Option<SystemTime>,
}

impl Verdict {
    fn empty(tag: &str, object: Option<ObjectId>, environment: &str, protected: bool) -> Verdict {
        Verdict {
            tag: tag.to_owned(),
            object,
            environment: environment.to_owned(),
            protected,
            commit: None,
            layers: Vec::new(),
            rules: Vec::new(),
            people: Vec::new(),
            machines: Vec::new(),
            problems: Vec::new(),
            chain: Vec::new(),
            learned: Vec::new(),
            until: None,
        }
    }

    /// The verdict for a tag that does not exist.
    pub fn no_such_tag(policy: &Policy, tag: &str, environment: &str) -> Verdict {
        let mut v = Verdict::empty(tag, None, environment, policy.protects(tag));
        v.problems.push(Problem::NoSuchTag(tag.to_owned()));
        v
    }

    /// Whether the tag satisfies the policy in the environment: no problem, and the walk
    /// reached a commit.
    pub fn accepted(&self) -> bool {
        self.problems.is_empty() && self.commit.is_some()
    }

    /// The tag name (without `refs/tags/`).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The ref's object (`None` when there is no such tag).
    pub fn object(&self) -> Option<ObjectId> {
        self.object
    }

    /// The environment judged for.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Whether some rule's glob matches the name.
    pub fn protected(&self) -> bool {
        self.protected
    }

    /// The commit at the bottom, when the walk reached it.
    pub fn commit(&self) -> Option<ObjectId> {
        self.commit
    }

    /// Every layer, innermost first.
    pub fn layers(&self) -> &[LayerReport] {
        &self.layers
    }

    /// The rules that apply here.
    pub fn rules(&self) -> &[RuleReport] {
        &self.rules
    }

    /// Distinct people with a valid signature, by name.
    pub fn people(&self) -> &[String] {
        &self.people
    }

    /// Machines with a valid signature, by name.
    pub fn machines(&self) -> &[String] {
        &self.machines
    }

    /// Everything that is wrong, most fundamental first.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The chain's tag objects, innermost first.
    pub fn chain(&self) -> &[ObjectId] {
        &self.chain
    }

    /// Signature facts this verification established that the request's facts did not hold,
    /// by layer: what an adapter adds to its cache. A tag found in the request's walks
    /// learns nothing here: the verdict that examined it reported its facts.
    pub fn learned(&self) -> &[(ObjectId, SignatureFact)] {
        &self.learned
    }

    /// When this verdict can change by time alone, if that lies ahead (outside a push, whose
    /// freshness checks are for that moment only): a signature expires or comes due, or a key's
    /// algorithm stops being accepted. Whatever is kept from it (a signing history, a cached
    /// verdict) must be judged again from then on. Its `inactivity` answer rests on the history
    /// it was given, which carries its own.
    pub fn holds_until(&self) -> Option<SystemTime> {
        self.until
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
        if self.accepted() {
            format!("{}: ok, signed by {}", self.tag, self.signers().join(", "))
        } else {
            let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
            format!("{}: {}", self.tag, problems.join("; "))
        }
    }
}

/// Verify the tag in `request` against `policy`, reading objects from `odb`.
/// Tags examined before ([`Request::walks`]) are read again here: only [`crate::Repo::verify`]
/// knows which objects they were examined in.
pub fn verify_tag<O>(policy: &Policy, odb: &O, hash: gix::hash::Kind, request: Request<'_>) -> Verdict
where
    O: Find + FindHeader,
{
    verify_keeping(policy, odb, hash, request.with_walks(None), &|_| false).0
}

/// [`verify_tag`] with the request's walks (the caller has checked they were made from `odb`),
/// and what it found before any environment's rules when `keep` takes it (for [`Walks`]).
pub(crate) fn verify_keeping<O>(
    policy: &Policy,
    odb: &O,
    hash: gix::hash::Kind,
    request: Request<'_>,
    keep: &dyn Fn(&Examined) -> bool,
) -> (Verdict, Option<Examined>)
where
    O: Find + FindHeader,
{
    let Request { tag, id, environment, .. } = request;
    let mut verdict = Verdict::empty(tag, Some(id), environment, policy.protects(tag));
    if let Err(unknown) = policy.check_environment(environment) {
        verdict.problems.push(Problem::UnknownEnvironment(unknown));
        return (verdict, None);
    }
    if !verdict.protected {
        verdict.problems.push(Problem::NotProtected);
        return (verdict, None);
    }
    let mut examined = match request.walks.and_then(|w| w.find(policy, &request)) {
        Some(found) => found.clone(),
        None => examine(policy, odb, hash, &request),
    };
    // What is kept learns nothing again: this verdict reports its facts.
    let learned = std::mem::take(&mut examined.learned);
    let kept = keep(&examined).then(|| examined.clone());
    examined.learned = learned;
    judge(policy, &request, examined, &mut verdict);
    (verdict, kept)
}

/// What verifying a tag finds before any environment's rules: the walk, and each layer's
/// signature checked at the request's time. Outside a push it is the same for every
/// environment.
#[derive(Debug, Clone)]
pub(crate) struct Examined {
    commit: Option<ObjectId>,
    walk: Option<layer::WalkError>,
    chain: Vec<ObjectId>,
    layers: Vec<LayerReport>,
    learned: Vec<(ObjectId, SignatureFact)>,
    until: Option<SystemTime>,
    /// Bytes it may hold at most: what it reports comes from the objects walked (an error's
    /// text is clipped).
    weight: usize,
}

impl Examined {
    pub(crate) fn weight(&self) -> usize {
        self.weight
    }
}

/// Tags examined while making one set of verdicts (a signing history), kept to judge them
/// again for an environment without reading or checking anything twice. A request carries
/// them ([`Request::with_walks`]); they are used only for the tag name and object they were
/// made for, under a policy with the same fingerprint, at the same time, outside a push, by
/// [`crate::Repo::verify`] on the same repository (and object directories).
/// Made by [`crate::Repo::history_keeping`].
#[derive(Debug)]
pub struct Walks {
    fingerprint: String,
    now: SystemTime,
    objects: (std::path::PathBuf, Vec<std::path::PathBuf>),
    kept: gix::hashtable::HashMap<ObjectId, (String, Examined)>,
}

impl Walks {
    pub(crate) fn new(
        policy: &Policy,
        now: SystemTime,
        objects: (std::path::PathBuf, Vec<std::path::PathBuf>),
    ) -> Walks {
        Walks { fingerprint: policy.fingerprint.clone(), now, objects, kept: Default::default() }
    }

    /// Whether these were examined in the repository at `git_dir` with `extra` object
    /// directories.
    pub(crate) fn made_in(&self, git_dir: &std::path::Path, extra: &[std::path::PathBuf]) -> bool {
        self.objects.0 == git_dir && self.objects.1 == extra
    }

    /// Keep what `tag` (object `id`) was found to be; the first kept for an object stays.
    pub(crate) fn keep(&mut self, tag: &str, id: ObjectId, examined: Examined) {
        self.kept.entry(id).or_insert_with(|| (tag.to_owned(), examined));
    }

    /// How many tags are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn find(&self, policy: &Policy, request: &Request<'_>) -> Option<&Examined> {
        let same = self.fingerprint == policy.fingerprint && self.now == request.now && request.push.is_none();
        let (tag, examined) = self.kept.get(&request.id).filter(|_| same)?;
        (tag == request.tag).then_some(examined)
    }
}

/// Walk the tag and check every layer's signature.
fn examine<O>(policy: &Policy, odb: &O, hash: gix::hash::Kind, request: &Request<'_>) -> Examined
where
    O: Find + FindHeader,
{
    let (layers, commit, walk) = match layer::walk(odb, hash, request.tag, request.id) {
        Ok(Chain { layers, commit }) => (layers, Some(commit), None),
        Err((layers, e)) => (layers, None, Some(e)),
    };
    // Only a push has new layers, which must be recent.
    let max_age = policy.rules_for(request.tag, request.environment).filter_map(|r| r.max_age).min();
    let known = match request.push {
        Some(Some(old)) => layer::ids(odb, hash, request.tag, old),
        _ => Vec::new(),
    };
    let weight = std::mem::size_of::<Examined>()
        + walk.as_ref().map_or(0, |_| 1024)
        + layers.iter().map(|l| std::mem::size_of::<(ObjectId, LayerReport)>() + l.size()).sum::<usize>();
    let mut examined = Examined {
        commit,
        walk,
        chain: layers.iter().map(|l| l.id).collect(),
        layers: Vec::new(),
        learned: Vec::new(),
        until: None,
        weight,
    };
    for (i, layer) in layers.iter().enumerate() {
        let new = request.push.is_some() && !known.contains(&layer.id);
        let claimed = layer.tagger.as_ref().and_then(|t| {
            let secs = u64::try_from(t.time).ok()?;
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
        });
        let fresh_within = new.then_some(max_age.unwrap_or(DEFAULT_MAX_AGE));
        let timing = Timing { now: request.now, fresh_within, claimed };
        let (report, until) = check_layer(policy, request.facts, (i + 1, layer, new), timing, &mut examined.learned);
        examined.until = examined.until.into_iter().chain(until).min();
        examined.layers.push(report);
    }
    examined
}

/// Judge what was found for the request's environment: the push's old value, the advertised
/// commit, the signing history, the valid signers, the rules and the transition.
fn judge(policy: &Policy, request: &Request<'_>, examined: Examined, verdict: &mut Verdict) {
    let Examined { commit, walk, chain, layers, learned, until, .. } = examined;
    verdict.commit = commit;
    verdict.problems.extend(walk.map(Problem::Walk));
    verdict.chain = chain;
    verdict.learned = learned;
    verdict.until = until;
    if let Some(old) = request.push.flatten()
        && request.purpose == Purpose::Deploy
        && !verdict.chain.contains(&old)
    {
        verdict.problems.insert(0, Problem::DoesNotWrap { tag: request.tag.to_owned(), old });
    }
    if let (Some(advertised), Some(actual)) = (request.advertised, verdict.commit)
        && advertised != actual
    {
        verdict.problems.push(Problem::CommitMismatch { advertised, actual });
    }
    judge_signers(policy, request, layers, verdict);
    if request.purpose == Purpose::Deploy {
        judge_rules(policy, request, verdict);
        if let Some(expected) = request.transition {
            judge_transition(expected, verdict);
        }
    }
}

/// Apply the signing history to every layer; collect the valid signers and the layers'
/// problems.
fn judge_signers(policy: &Policy, request: &Request<'_>, layers: Vec<LayerReport>, verdict: &mut Verdict) {
    let mut people = BTreeSet::new();
    let mut machines = BTreeSet::new();
    for mut report in layers {
        if let (Some(limit), Some(activity)) = (policy.inactivity, request.activity) {
            apply_inactivity(policy, limit, activity, &mut report);
        }
        match (&report.signer, report.valid()) {
            (Some(Principal::Person(name)), true) => {
                people.insert(name.clone());
            }
            (Some(Principal::Machine(name)), true) => {
                machines.insert(name.clone());
            }
            _ => {}
        }
        if let Some(problem) = &report.problem {
            verdict.problems.push(Problem::Layer { number: report.number, id: report.id, problem: problem.clone() });
        }
        verdict.layers.push(report);
    }
    verdict.people = people.into_iter().collect();
    verdict.machines = machines.into_iter().collect();
}

/// Evaluate every rule that applies to the tag in the environment.
fn judge_rules(policy: &Policy, request: &Request<'_>, verdict: &mut Verdict) {
    // What each person's security key proved at best, over their valid layers.
    let mut proven: BTreeMap<&str, Presence> = BTreeMap::new();
    for l in verdict.layers.iter().filter(|l| l.valid()) {
        if let Some(Principal::Person(name)) = &l.signer {
            let level = proven.entry(name).or_insert(Presence::Unproven);
            *level = (*level).max(Presence::of(l.touch));
        }
    }
    for rule in policy.rules_for(request.tag, request.environment) {
        let mut missing = Vec::new();
        let required = rule.presence.unwrap_or(Presence::Unproven);
        let (counted, short): (Vec<&String>, Vec<&String>) =
            verdict.people.iter().partition(|p| proven.get(p.as_str()).is_some_and(|l| *l >= required));
        if counted.len() < rule.people {
            let have = counted.into_iter().cloned().collect();
            missing.push(Missing::People { needed: rule.people, have });
            missing.extend(short.into_iter().map(|person| Missing::Presence {
                person: person.clone(),
                proven: proven.get(person.as_str()).copied().unwrap_or(Presence::Unproven),
                required,
            }));
        }
        missing.extend(rule.machines.iter().filter(|m| !verdict.machines.contains(m)).cloned().map(Missing::Machine));
        let description = rule.description();
        if !missing.is_empty() {
            verdict.problems.push(Problem::Rule { description: description.clone(), missing: missing.clone() });
        }
        verdict.rules.push(RuleReport { rule: rule.number, line: rule.line, description, missing });
    }
}

/// Some valid machine layer must record the expected transition.
fn judge_transition(expected: Expected<'_>, verdict: &mut Verdict) {
    let recorded: Vec<&Transition> = verdict
        .layers
        .iter()
        .filter(|l| l.valid() && matches!(l.signer, Some(Principal::Machine(_))))
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

/// Check the signature of `layer` (number, layer, whether new at push) at `timing`, from a
/// remembered fact while its certificate is unchanged, or from scratch (the fact then goes
/// into `learned`); and until when the answer holds.
fn check_layer(
    policy: &Policy,
    facts: Option<&Facts>,
    (number, layer, new): (usize, &Layer, bool),
    timing: Timing,
    learned: &mut Vec<(ObjectId, SignatureFact)>,
) -> (LayerReport, Option<SystemTime>) {
    let remembered = facts.and_then(|f| f.get(&layer.id)).filter(|f| policy.known_for_fact(f).is_some());
    let (check, key_type) = match remembered {
        Some(fact) => (signature::judge(policy, fact, timing), signature::key_type(policy, fact)),
        None => match signature::crypto(policy, layer.signature(), layer.payload()) {
            Ok(fact) => {
                let check = signature::judge(policy, &fact, timing);
                let key_type = signature::key_type(policy, &fact);
                learned.push((layer.id, fact));
                (check, key_type)
            }
            Err(check) => (*check, None),
        },
    };
    let report = LayerReport {
        number,
        id: layer.id,
        new,
        signer: check.signer,
        format: layer.signature().map(|(format, _)| signature_format(format)),
        key: check.key,
        key_type,
        touch: check.touch,
        signed_at: check.created,
        tagger: layer.tagger.clone(),
        problem: check.problem.map(LayerProblem::Signature),
        transition: Transition::from_message(&String::from_utf8_lossy(layer.message())),
    };
    (report, check.until)
}

/// A person's signature stops counting when their previous accepted signature (or the
/// `granted` date an admin renews) is more than `limit` older than it.
fn apply_inactivity(policy: &Policy, limit: Duration, activity: &Activity, report: &mut LayerReport) {
    let (Some(Principal::Person(name)), Some(t), true) = (&report.signer, report.signed_at, report.valid()) else {
        return;
    };
    // A history kept for another limit cannot answer for this one: only `granted` counts then.
    let previous = match activity.lapsed(name, t) {
        None if activity.limit() == limit => return,
        Some(previous) if activity.limit() == limit => previous,
        _ => None,
    };
    let granted = policy
        .people
        .get(name)
        .and_then(|p| p.granted)
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| SystemTime::from(z.timestamp()));
    let previous = previous.into_iter().chain(granted).filter(|p| *p <= t).max();
    if previous.is_none_or(|p| t.duration_since(p).is_ok_and(|gap| gap > limit)) {
        report.problem = Some(LayerProblem::Lapsed { person: name.clone(), since: previous, limit });
    }
}

/// The signature format's name in reports: `openpgp`, `ssh`, `x509`.
fn signature_format(format: gix::objs::signature::Format) -> &'static str {
    use gix::objs::signature::Format;
    match format {
        Format::OpenPgp => "openpgp",
        Format::Ssh => "ssh",
        Format::X509 => "x509",
    }
}

/// The first 12 hex digits of an object id, for messages.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}
