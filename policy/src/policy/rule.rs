//! One `[[rule]]`: its tag-name globs compiled three ways (as written, ignoring case, and
//! split at `/` to tell which directories may hold protected names), where it applies and
//! what it requires.

use std::collections::BTreeMap;
use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use toml::Spanned;

use super::environment::list_or_none;
use super::parse::{Locator, RawRule};
use super::{Machine, PUSH_ENVIRONMENT, Person, PolicyError, plural};
use crate::duration;

/// One `[[rule]]`.
#[derive(Debug)]
pub struct Rule {
    /// 1-based position among the rules, for messages.
    pub number: usize,
    /// Line of the rule in the policy file.
    pub line: usize,
    /// The tag-name globs as written.
    pub tags: Vec<String>,
    matchers: Vec<GlobMatcher>,
    /// The same globs, ignoring case: names that differ from a protected one only in case
    /// collide with it on case-insensitive file systems (loose refs on macOS and Windows).
    folded: Vec<GlobMatcher>,
    /// Each glob split at `/`, ignoring case, to tell which directories may hold protected names.
    segments: Vec<Vec<Segment>>,
    /// Environments the rule applies to; `None` means everywhere, `push` included.
    pub environments: Option<Vec<String>>,
    /// Distinct people required.
    pub people: usize,
    /// Machines that must have signed.
    pub machines: Vec<String>,
    /// At push, a new layer's signature may be at most this old.
    pub max_age: Option<std::time::Duration>,
    /// What a person's security key must have seen for their signature to count here.
    pub presence: Option<Presence>,
    /// Who may push a tag this rule protects, proven by a `git push --signed` certificate
    /// (`push_certificate = true`, `pushers = [...]`); `None`: whoever the server lets push.
    pub pushers: Option<Pushers>,
    /// `rule 1 (deploy/*: 2 people)`, written once when the policy is read.
    description: Arc<str>,
}

impl Rule {
    /// Whether the rule's globs match `tag` (the name after `refs/tags/`).
    pub fn matches_tag(&self, tag: &str) -> bool {
        self.matchers.iter().any(|m| m.is_match(tag))
    }

    /// Whether the rule's globs match `tag` when case is ignored.
    pub(super) fn matches_folded(&self, tag: &str) -> bool {
        self.folded.iter().any(|m| m.is_match(tag))
    }

    /// Whether some name below the directory `dir` (`dir/…`) could match, ignoring case.
    pub(super) fn may_match_below(&self, dir: &str) -> bool {
        let dir: Vec<&str> = dir.split('/').collect();
        self.segments.iter().any(|glob| extends(glob, &dir))
    }

    /// Whether the rule applies in `environment`.
    pub fn applies_in(&self, environment: &str) -> bool {
        self.environments.as_ref().is_none_or(|envs| envs.iter().any(|e| e == environment))
    }

    /// A short description such as `rule 1 (deploy/*: 2 people)`.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The description, shared (verdicts quote it for every tag they judge).
    pub fn description(&self) -> Arc<str> {
        Arc::clone(&self.description)
    }

    fn describe_now(&self) -> String {
        let mut needs = Vec::new();
        if self.people > 0 {
            let with = self.presence.map(|p| format!(" with {}", p.as_str())).unwrap_or_default();
            needs.push(format!("{} {}{with}", self.people, plural(self.people, "person", "people")));
        }
        for m in &self.machines {
            needs.push(format!("machine {m}"));
        }
        match &self.pushers {
            None => {}
            Some(Pushers::Anyone) => needs.push("a signed push".to_owned()),
            Some(Pushers::Only(names)) => needs.push(format!("a signed push by {}", names.join(" or "))),
        }
        let scope = match &self.environments {
            Some(envs) => format!(" in {}", envs.join(", ")),
            None => String::new(),
        };
        format!("rule {} ({}{scope}: {})", self.number, self.tags.join(", "), needs.join(" + "))
    }
}

/// What a FIDO security key claims it saw when a person signed, weakest first: nothing (or a
/// key that is no security key), a touch (user presence, flag 0x01), or a touch and a PIN or
/// biometric (user presence and user verification, flags 0x01 and 0x04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Presence {
    /// No security key vouches for the person.
    Unproven,
    /// A touch.
    Touch,
    /// A touch and a PIN.
    Pin,
}

impl Presence {
    /// What a signature's [`Touch`](crate::ssh::Touch) evidence proves.
    pub fn of(touch: Option<crate::ssh::Touch>) -> Presence {
        match touch {
            Some(t) if t.presence() && t.verification() => Presence::Pin,
            Some(t) if t.presence() => Presence::Touch,
            _ => Presence::Unproven,
        }
    }

    /// The policy's word for it: `touch`, `pin` (`unproven` is no requirement).
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Unproven => "unproven",
            Presence::Touch => "touch",
            Presence::Pin => "pin",
        }
    }
}

/// Who may push a tag a rule protects: the signer of the push's certificate (`git push
/// --signed`), which the mirror's hook checks against the policy's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushers {
    /// Any person or machine in the policy (`push_certificate = true`).
    Anyone,
    /// Only these people or machines (`pushers = [...]`).
    Only(Vec<String>),
}

impl Pushers {
    /// Whether a certificate signed by `name` (a person or machine of the policy) will do.
    pub fn admit(&self, name: &str) -> bool {
        match self {
            Pushers::Anyone => true,
            Pushers::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One `/`-separated piece of a tag-name glob.
#[derive(Debug)]
enum Segment {
    /// `**`: any number of segments.
    Any,
    /// A glob within one segment.
    One(GlobMatcher),
}

/// Whether a name of at least one more segment below `dir` can match `glob`.
fn extends(glob: &[Segment], dir: &[&str]) -> bool {
    match (glob.split_first(), dir.split_first()) {
        (None, _) => false,
        (Some((Segment::Any, _)), _) => true,
        (Some(_), None) => true,
        (Some((Segment::One(m), rest)), Some((name, below))) => m.is_match(name) && extends(rest, below),
    }
}

/// Read rule `number` (1-based) of the policy; `machines` and `declared` environments are
/// what the rule may name.
pub(super) fn parse(
    loc: &Locator<'_>,
    number: usize,
    spanned: &Spanned<RawRule>,
    signers: (&BTreeMap<String, Person>, &BTreeMap<String, Machine>),
    declared: &[String],
) -> Result<Rule, PolicyError> {
    let machines = signers.1;
    let raw = spanned.get_ref();
    let line = loc.span(spanned, "").line;
    let Globs { matchers, folded, segments } = globs(loc, number, &raw.tags)?;
    let environments = raw.environments.as_ref().map(|envs| environments(loc, number, envs, declared)).transpose()?;
    let people = match &raw.people {
        None => 0,
        Some(n) if *n.get_ref() <= 0 => {
            return Err(loc.span(n, format!(
                "rule {number}: people = {} would let anyone through; use 1 or more, or remove the key when machines are required",
                n.get_ref()
            )));
        }
        Some(n) => usize::try_from(*n.get_ref()).map_err(|_| loc.span(n, "too many people"))?,
    };
    for m in &raw.machines {
        if !machines.contains_key(m.get_ref()) {
            return Err(loc.span(
                m,
                format!("rule {number}: unknown machine {:?}; add it under [machines] or fix the name", m.get_ref()),
            ));
        }
    }
    if people == 0 && raw.machines.is_empty() {
        return Err(loc.span(spanned, format!("rule {number} requires no signatures; set `people` and/or `machines`")));
    }
    let max_age = raw
        .max_age
        .as_ref()
        .map(|d| duration::parse(d.get_ref()).map_err(|e| loc.span(d, format!("rule {number}: max_age: {e}"))))
        .transpose()?;
    let presence = match &raw.presence {
        None => None,
        Some(p) => match p.get_ref().as_str() {
            "touch" => Some(Presence::Touch),
            "pin" => Some(Presence::Pin),
            other => {
                return Err(loc.span(
                    p,
                    format!("rule {number}: unknown presence {other:?}; use \"touch\" (a security key was touched) or \"pin\" (touched and PIN-verified)"),
                ));
            }
        },
    };
    if let (Some(p), 0) = (&raw.presence, people) {
        return Err(loc.span(
            p,
            format!(
                "rule {number}: presence applies to people's signatures, and this rule requires no people; set `people`"
            ),
        ));
    }
    let pushers = pushers(loc, number, raw, signers, environments.as_deref())?;
    let mut rule = Rule {
        number,
        line,
        tags: raw.tags.get_ref().iter().map(|t| t.get_ref().clone()).collect(),
        matchers,
        folded,
        segments,
        environments,
        people,
        machines: raw.machines.iter().map(|m| m.get_ref().clone()).collect(),
        max_age,
        presence,
        pushers,
        description: Arc::from(""),
    };
    rule.description = Arc::from(rule.describe_now());
    Ok(rule)
}

/// The rule's `push_certificate` and `pushers`: names of people or machines, on a rule the
/// mirror checks (it applies in `push`).
fn pushers(
    loc: &Locator<'_>,
    number: usize,
    raw: &RawRule,
    (people, machines): (&BTreeMap<String, Person>, &BTreeMap<String, Machine>),
    environments: Option<&[String]>,
) -> Result<Option<Pushers>, PolicyError> {
    let pushers = match (&raw.push_certificate, &raw.pushers) {
        (None, None) => return Ok(None),
        (Some(flag), _) if !flag.get_ref() => {
            return Err(loc.span(
                flag,
                format!(
                    "rule {number}: push_certificate = false asks nothing; remove it (and `pushers`), or set it to true"
                ),
            ));
        }
        (_, None) => Pushers::Anyone,
        (_, Some(names)) if names.get_ref().is_empty() => {
            return Err(loc.span(names, format!(
                "rule {number}: `pushers` is empty, so no push could ever pass; name people or machines, or use push_certificate = true for anyone in the policy"
            )));
        }
        (_, Some(names)) => {
            for n in names.get_ref() {
                if !people.contains_key(n.get_ref()) && !machines.contains_key(n.get_ref()) {
                    return Err(loc.span(n, format!(
                        "rule {number}: pushers: {:?} is neither a person nor a machine of this policy; add them or fix the name",
                        n.get_ref()
                    )));
                }
            }
            Pushers::Only(names.get_ref().iter().map(|n| n.get_ref().clone()).collect())
        }
    };
    if let Some(envs) = environments.filter(|envs| !envs.iter().any(|e| e == PUSH_ENVIRONMENT)) {
        let at = raw
            .pushers
            .as_ref()
            .map_or_else(|| raw.push_certificate.as_ref().map_or(0, |f| f.span().start), |p| p.span().start);
        return Err(loc.at(at, format!(
            "rule {number}: a signed push is checked by the mirror's hook (environment \"push\"), and this rule applies only in {}; add \"push\" to its environments or move the requirement to a rule that applies there",
            envs.join(", ")
        )));
    }
    Ok(Some(pushers))
}

/// A rule's globs, compiled the three ways [`Rule`] asks them.
struct Globs {
    matchers: Vec<GlobMatcher>,
    folded: Vec<GlobMatcher>,
    segments: Vec<Vec<Segment>>,
}

fn globs(loc: &Locator<'_>, number: usize, tags: &Spanned<Vec<Spanned<String>>>) -> Result<Globs, PolicyError> {
    if tags.get_ref().is_empty() {
        return Err(loc.span(tags, format!("rule {number} protects nothing: `tags` is empty")));
    }
    let mut globs = Globs { matchers: Vec::new(), folded: Vec::new(), segments: Vec::new() };
    for glob in tags.get_ref() {
        let pattern = glob.get_ref();
        if pattern.is_empty() || pattern.starts_with("refs/") || pattern.starts_with('/') {
            return Err(loc.span(glob, format!(
                "rule {number}: {pattern:?} is not a tag-name glob; write the part after refs/tags/, e.g. \"deploy/*\""
            )));
        }
        let compile = |pattern: &str, ignore_case: bool| {
            GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .case_insensitive(ignore_case)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| loc.span(glob, format!("rule {number}: bad glob {pattern:?}: {e}")))
        };
        globs.matchers.push(compile(pattern, false)?);
        globs.folded.push(compile(pattern, true)?);
        let pieces = pattern.split('/').map(|piece| match piece {
            "**" => Ok(Segment::Any),
            _ => compile(piece, true).map(Segment::One),
        });
        globs.segments.push(pieces.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(globs)
}

/// The rule's `environments`: never empty, each `push` or declared.
fn environments(
    loc: &Locator<'_>,
    number: usize,
    envs: &Spanned<Vec<Spanned<String>>>,
    declared: &[String],
) -> Result<Vec<String>, PolicyError> {
    if envs.get_ref().is_empty() {
        return Err(loc.span(envs, format!(
            "rule {number}: `environments` is empty, so the rule applies nowhere; remove the key to apply it everywhere"
        )));
    }
    for env in envs.get_ref() {
        let name = env.get_ref();
        if name != PUSH_ENVIRONMENT && !declared.contains(name) {
            return Err(loc.span(
                env,
                format!(
                    "rule {number}: environment {name:?} is not declared; add it to `environments = [...]` at the top \
                 of the policy (declared: {}), or fix the name",
                    list_or_none(declared)
                ),
            ));
        }
    }
    Ok(envs.get_ref().iter().map(|e| e.get_ref().clone()).collect())
}
