//! The policy file (design.md §4): who may sign, with which keys, and which rules protect
//! which tag names in which environments.
//!
//! Parsing is strict on purpose: unknown keys, unknown access levels, a rule that asks for
//! nothing and a person without keys are errors, never defaults, because a typo must not
//! silently weaken a rule (T17, T22). Every error names the file, line and column.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use jiff::Timestamp;
use openpgp::cert::{Cert, CertParser};
use openpgp::parse::Parse;
use openpgp::{Fingerprint, KeyHandle, KeyID};
use sequoia_openpgp as openpgp;
use serde::Deserialize;
use toml::Spanned;

use crate::duration;

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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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
    /// Primary fingerprints of the person's certificates.
    pub keys: Vec<Fingerprint>,
}

/// A CI system that signs; never counts as a person.
#[derive(Debug)]
pub struct Machine {
    /// The name under `[machines]`.
    pub name: String,
    /// Primary fingerprints of the machine's certificates.
    pub keys: Vec<Fingerprint>,
}

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
}

impl Rule {
    /// Whether the rule's globs match `tag` (the name after `refs/tags/`).
    pub fn matches_tag(&self, tag: &str) -> bool {
        self.matchers.iter().any(|m| m.is_match(tag))
    }

    /// Whether the rule's globs match `tag` when case is ignored.
    fn matches_folded(&self, tag: &str) -> bool {
        self.folded.iter().any(|m| m.is_match(tag))
    }

    /// Whether some name below the directory `dir` (`dir/…`) could match, ignoring case.
    fn may_match_below(&self, dir: &str) -> bool {
        let dir: Vec<&str> = dir.split('/').collect();
        self.segments.iter().any(|glob| extends(glob, &dir))
    }

    /// Whether the rule applies in `environment`.
    pub fn applies_in(&self, environment: &str) -> bool {
        self.environments.as_ref().is_none_or(|envs| envs.iter().any(|e| e == environment))
    }

    /// A short description such as `rule 1 (deploy/*: 2 people)`.
    pub fn describe(&self) -> String {
        let mut needs = Vec::new();
        if self.people > 0 {
            needs.push(format!("{} {}", self.people, plural(self.people, "person", "people")));
        }
        for m in &self.machines {
            needs.push(format!("machine {m}"));
        }
        let scope = match &self.environments {
            Some(envs) => format!(" in {}", envs.join(", ")),
            None => String::new(),
        };
        format!("rule {} ({}{scope}: {})", self.number, self.tags.join(", "), needs.join(" + "))
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

pub(crate) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
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
    /// A digest of everything the policy was read from (policy text and key files), so
    /// adapters can cache verdicts that cannot have changed.
    pub fingerprint: String,
    certs: Vec<KnownCert>,
    by_fingerprint: HashMap<Fingerprint, usize>,
    by_keyid: HashMap<KeyID, Vec<usize>>,
}

/// A certificate listed in the policy and the signer it belongs to.
#[derive(Debug)]
pub struct KnownCert {
    /// Whose key this is.
    pub principal: Principal,
    /// The parsed certificate.
    pub cert: Cert,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    environments: Option<Spanned<Vec<Spanned<String>>>>,
    inactivity: Option<Spanned<String>>,
    #[serde(default)]
    people: BTreeMap<String, Spanned<RawPerson>>,
    #[serde(default)]
    machines: BTreeMap<String, Spanned<RawMachine>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    keys: Spanned<Vec<Spanned<String>>>,
    access: Spanned<String>,
    sponsor: Option<Spanned<String>>,
    expires: Option<Spanned<toml::value::Datetime>>,
    granted: Option<Spanned<toml::value::Datetime>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    keys: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    tags: Spanned<Vec<Spanned<String>>>,
    environments: Option<Spanned<Vec<Spanned<String>>>>,
    people: Option<Spanned<i64>>,
    #[serde(default)]
    machines: Vec<Spanned<String>>,
    max_age: Option<Spanned<String>>,
}

/// Turns byte offsets into line/column errors for one file.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        PolicyError { file: self.file.to_owned(), line, column, message: message.into() }
    }

    fn span<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> PolicyError {
        self.at(value.span().start, message)
    }
}

impl Policy {
    /// Read and validate the policy at `path`, loading every key file it names.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("cannot read the policy: {e}; set `git config signed.policy` or pass --policy"),
        })?;
        Policy::parse(path, &text)
    }

    /// Validate policy `text` as if read from `path` (key paths are relative to its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let loc = Locator { file: path, text };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            loc.at(offset, e.message().trim_end().to_owned())
        })?;
        if *raw.version.get_ref() != 1 {
            return Err(loc.span(&raw.version, "unsupported policy version; this git-signed reads `version = 1`"));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut digest = gix::hash::hasher(gix::hash::Kind::Sha1);
        digest.update(env!("CARGO_PKG_VERSION").as_bytes());
        digest.update(&(text.len() as u64).to_be_bytes());
        digest.update(text.as_bytes());
        let mut policy = Policy {
            path: path.to_owned(),
            people: BTreeMap::new(),
            machines: BTreeMap::new(),
            rules: Vec::new(),
            environments: declared_environments(&loc, raw.environments.as_ref())?,
            inactivity: raw
                .inactivity
                .as_ref()
                .map(|d| duration::parse(d.get_ref()).map_err(|e| loc.span(d, e)))
                .transpose()?,
            fingerprint: String::new(),
            certs: Vec::new(),
            by_fingerprint: HashMap::new(),
            by_keyid: HashMap::new(),
        };

        for (name, person) in &raw.people {
            let p = person.get_ref();
            let access = match p.access.get_ref().as_str() {
                "deploy" => Access::Deploy,
                "admin" => Access::Admin,
                other => {
                    return Err(loc.span(
                        &p.access,
                        format!("person {name}: unknown access {other:?}; use \"deploy\" or \"admin\""),
                    ));
                }
            };
            let expires = p.expires.as_ref().map(|d| toml_date(&loc, d)).transpose()?;
            let granted = p.granted.as_ref().map(|d| toml_date(&loc, d)).transpose()?;
            let principal = Principal::Person(name.clone());
            let certs = load_keys(&loc, base, &principal, &p.keys, &mut digest)?;
            let keys = certs.iter().map(Cert::fingerprint).collect();
            policy.add_certs(&loc, &principal, certs)?;
            policy.people.insert(
                name.clone(),
                Person {
                    name: name.clone(),
                    access,
                    sponsor: p.sponsor.as_ref().map(|s| s.get_ref().clone()),
                    expires,
                    granted,
                    keys,
                },
            );
        }
        for (name, person) in &raw.people {
            if let Some(sponsor) = &person.get_ref().sponsor
                && !policy.people.contains_key(sponsor.get_ref())
            {
                return Err(loc.span(
                    sponsor,
                    format!(
                        "person {name}: sponsor {:?} is not a person in this policy; add them under [people]",
                        sponsor.get_ref()
                    ),
                ));
            }
        }
        for (name, machine) in &raw.machines {
            if policy.people.contains_key(name) {
                return Err(
                    loc.span(machine, format!("{name} is both a person and a machine; give the machine another name"))
                );
            }
            let principal = Principal::Machine(name.clone());
            let certs = load_keys(&loc, base, &principal, &machine.get_ref().keys, &mut digest)?;
            let keys = certs.iter().map(Cert::fingerprint).collect();
            policy.add_certs(&loc, &principal, certs)?;
            policy.machines.insert(name.clone(), Machine { name: name.clone(), keys });
        }

        for (i, rule) in raw.rules.iter().enumerate() {
            let parsed = parse_rule(&loc, i + 1, rule, &policy.machines, &policy.environments)?;
            policy.rules.push(parsed);
        }
        policy.fingerprint = digest.try_finalize().map(|id| id.to_string()).map_err(|e| loc.at(0, e.to_string()))?;
        if policy.rules.is_empty() {
            return Err(loc.at(0, "the policy has no [[rule]], so it protects nothing; add a rule such as tags = [\"deploy/*\"], people = 2"));
        }

        Ok(policy)
    }

    fn add_certs(&mut self, loc: &Locator<'_>, principal: &Principal, certs: Vec<Cert>) -> Result<(), PolicyError> {
        for cert in certs {
            let idx = self.certs.len();
            for key in cert.keys() {
                let fpr = key.key().fingerprint();
                if let Some(&other) = self.by_fingerprint.get(&fpr) {
                    let owner = &self.certs[other].principal;
                    if owner == principal {
                        continue;
                    }
                    return Err(loc.at(
                        0,
                        format!("key {fpr} belongs to both {owner} and {principal}; a key must belong to one signer"),
                    ));
                }
                self.by_fingerprint.insert(fpr, idx);
                self.by_keyid.entry(key.key().keyid()).or_default().push(idx);
            }
            self.certs.push(KnownCert { principal: principal.clone(), cert });
        }
        Ok(())
    }

    /// The certificates that may have issued a signature naming `issuers`, each with its owner.
    pub fn certs_for(&self, issuers: &[KeyHandle]) -> Vec<&KnownCert> {
        let mut found: Vec<usize> = Vec::new();
        for issuer in issuers {
            let hits: &[usize] = match issuer {
                KeyHandle::Fingerprint(fpr) => self.by_fingerprint.get(fpr).map_or(&[], std::slice::from_ref),
                KeyHandle::KeyID(id) => self.by_keyid.get(id).map_or(&[], Vec::as_slice),
            };
            for hit in hits {
                if !found.contains(hit) {
                    found.push(*hit);
                }
            }
        }
        found.into_iter().filter_map(|i| self.certs.get(i)).collect()
    }

    /// Every certificate in the policy with its owner.
    pub fn certs(&self) -> &[KnownCert] {
        &self.certs
    }

    /// Keys that cannot make a valid signature today (expired, revoked, no signing-capable key
    /// under the standard policy), one sentence each. Not errors: their old signatures may
    /// still count; `git signed policy check` and `audit` show them.
    pub fn unusable_keys(&self, now: std::time::SystemTime) -> Vec<String> {
        let standard = sequoia_openpgp::policy::StandardPolicy::new();
        self.certs
            .iter()
            .filter_map(|k| {
                let fpr = k.cert.fingerprint();
                let why = match k.cert.with_policy(&standard, now) {
                    Err(e) => e.to_string(),
                    Ok(vc) if vc.alive().is_err() => "it has expired".to_owned(),
                    Ok(vc) if vc.keys().for_signing().alive().revoked(false).next().is_none() => {
                        "it has no valid signing-capable key".to_owned()
                    }
                    Ok(_) => return None,
                };
                Some(format!("{}'s key {fpr} cannot sign now: {why}", k.principal))
            })
            .collect()
    }

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

    /// `Ok` when `environment` is `push` or declared in `environments = [...]`. An undeclared
    /// name is an error, never "only the rules without `environments`": a typo such as
    /// `Production` must not drop production's rules (T26).
    pub fn check_environment(&self, environment: &str) -> Result<(), UnknownEnvironment> {
        if environment == PUSH_ENVIRONMENT || self.environments.iter().any(|e| e == environment) {
            return Ok(());
        }
        let suggestion =
            self.environments.iter().find(|e| e.eq_ignore_ascii_case(environment) || close(e, environment)).cloned();
        Err(UnknownEnvironment {
            name: environment.to_owned(),
            declared: self.environments.clone(),
            suggestion,
            policy: self.path.clone(),
        })
    }

    /// The instant from which `person`'s signatures no longer count, if their access expires.
    pub fn access_end(person: &Person) -> Option<Timestamp> {
        let day_after = person.expires?.tomorrow().ok()?;
        day_after.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
    }
}

/// An environment the policy does not declare (T26).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "environment {name:?} is not declared in the policy {} (declared: push, {}){}; \
     set signed.environment / --environment to a declared name, or declare it in `environments = [...]`",
    policy.display(),
    list_or_none(declared),
    suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
)]
pub struct UnknownEnvironment {
    /// The name asked for.
    pub name: String,
    /// What the policy declares (besides `push`).
    pub declared: Vec<String>,
    /// A declared name that differs only in case or by a typo.
    pub suggestion: Option<String>,
    /// The policy that was asked.
    pub policy: PathBuf,
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "nothing else".to_owned() } else { names.join(", ") }
}

/// Whether two names are one typo apart (one letter changed, added, dropped or two swapped).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let start = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let end = short.len() - short.iter().rev().zip(long.iter().rev()).take_while(|(x, y)| x == y).count();
        end <= start + 1 || (end == start + 2 && short[start] == long[start + 1] && short[start + 1] == long[start])
    } else {
        short[start..] == long[start + 1..]
    }
}

fn declared_environments(
    loc: &Locator<'_>,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Result<Vec<String>, PolicyError> {
    let mut declared: Vec<String> = Vec::new();
    for env in raw.map(Spanned::get_ref).into_iter().flatten() {
        let name = env.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(loc.span(env, format!(
                "environment {name:?} must be one word of letters, digits, `-`, `_` or `.` (it is a git config value)"
            )));
        }
        if declared.contains(name) {
            return Err(loc.span(env, format!("environment {name:?} is declared twice")));
        }
        if name != PUSH_ENVIRONMENT {
            declared.push(name.clone());
        }
    }
    Ok(declared)
}

fn toml_date(loc: &Locator<'_>, value: &Spanned<toml::value::Datetime>) -> Result<jiff::civil::Date, PolicyError> {
    let dt = value.get_ref();
    match (dt.date, dt.time) {
        (Some(d), None) => jiff::civil::Date::new(d.year as i16, d.month as i8, d.day as i8)
            .map_err(|e| loc.span(value, format!("invalid date: {e}"))),
        _ => Err(loc.span(value, "expected a date such as 2027-05-01 (no time of day)")),
    }
}

fn load_keys(
    loc: &Locator<'_>,
    base: &Path,
    owner: &Principal,
    keys: &Spanned<Vec<Spanned<String>>>,
    digest: &mut gix::hash::Hasher,
) -> Result<Vec<Cert>, PolicyError> {
    if keys.get_ref().is_empty() {
        return Err(loc.span(
            keys,
            format!(
                "{owner} has no keys, so nothing they sign could ever be checked; list at least one certificate file"
            ),
        ));
    }
    let mut certs = Vec::new();
    for key in keys.get_ref() {
        let path = base.join(key.get_ref());
        let bytes = std::fs::read(&path)
            .map_err(|e| loc.span(key, format!("{owner}: cannot read key file {}: {e}", path.display())))?;
        digest.update(&(bytes.len() as u64).to_be_bytes());
        digest.update(&bytes);
        let mut found = 0;
        for cert in CertParser::from_bytes(&bytes)
            .map_err(|e| loc.span(key, format!("{owner}: {} is not an OpenPGP certificate: {e}", path.display())))?
        {
            let cert = cert
                .map_err(|e| loc.span(key, format!("{owner}: {} holds a broken certificate: {e}", path.display())))?;
            if cert.is_tsk() {
                return Err(loc.span(key, format!(
                    "{owner}: {} contains secret key material; export only the public certificate (gpg --export --armor)",
                    path.display()
                )));
            }
            certs.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(loc.span(key, format!("{owner}: {} contains no OpenPGP certificate", path.display())));
        }
    }
    Ok(certs)
}

fn parse_rule(
    loc: &Locator<'_>,
    number: usize,
    spanned: &Spanned<RawRule>,
    machines: &BTreeMap<String, Machine>,
    declared: &[String],
) -> Result<Rule, PolicyError> {
    let raw = spanned.get_ref();
    let line = loc.span(spanned, "").line;
    if raw.tags.get_ref().is_empty() {
        return Err(loc.span(&raw.tags, format!("rule {number} protects nothing: `tags` is empty")));
    }
    let mut matchers = Vec::new();
    let mut folded = Vec::new();
    let mut segments = Vec::new();
    for glob in raw.tags.get_ref() {
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
        matchers.push(compile(pattern, false)?);
        folded.push(compile(pattern, true)?);
        let pieces = pattern.split('/').map(|piece| match piece {
            "**" => Ok(Segment::Any),
            _ => compile(piece, true).map(Segment::One),
        });
        segments.push(pieces.collect::<Result<Vec<_>, _>>()?);
    }
    let environments = match &raw.environments {
        None => None,
        Some(envs) if envs.get_ref().is_empty() => {
            return Err(loc.span(envs, format!(
                "rule {number}: `environments` is empty, so the rule applies nowhere; remove the key to apply it everywhere"
            )));
        }
        Some(envs) => {
            for env in envs.get_ref() {
                let name = env.get_ref();
                if name != PUSH_ENVIRONMENT && !declared.contains(name) {
                    return Err(loc.span(env, format!(
                        "rule {number}: environment {name:?} is not declared; add it to `environments = [...]` at the top \
                         of the policy (declared: {}), or fix the name",
                        list_or_none(declared)
                    )));
                }
            }
            Some(envs.get_ref().iter().map(|e| e.get_ref().clone()).collect())
        }
    };
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
    Ok(Rule {
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
    })
}
