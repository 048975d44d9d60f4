//! Reading a policy file: strict serde types with spans, so every error names the file, line
//! and column, and the checks that need the whole file (sponsors, duplicate keys, no rules).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::keys::{self, Keyring};
use super::{Access, Machine, Person, Policy, PolicyError, Principal, environment, rule};
use crate::duration;
use crate::facts::SigningKey;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    admins: Option<Spanned<i64>>,
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
    hardware: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    keys: Spanned<Vec<Spanned<String>>>,
    hardware: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) tags: Spanned<Vec<Spanned<String>>>,
    pub(super) environments: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) people: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) machines: Vec<Spanned<String>>,
    pub(super) max_age: Option<Spanned<String>>,
    pub(super) presence: Option<Spanned<String>>,
    pub(super) push_certificate: Option<Spanned<bool>>,
    pub(super) pushers: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Turns byte offsets into line/column errors for one file.
pub(super) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    pub(super) fn at(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        PolicyError { file: self.file.to_owned(), line, column, message: message.into() }
    }

    pub(super) fn span<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> PolicyError {
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
        let base = path.parent().unwrap_or(Path::new("."));
        Policy::parse_with(path, text, &|key: &str| std::fs::read(base.join(key)))
    }

    /// Validate policy `text`, named `path` in messages, reading each key file it lists with
    /// `read_key` (given the path as written: a file beside it, or a blob in a policy commit).
    pub fn parse_with(path: &Path, text: &str, read_key: &keys::ReadKey<'_>) -> Result<Policy, PolicyError> {
        let loc = Locator { file: path, text };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            loc.at(offset, e.message().trim_end().to_owned())
        })?;
        if *raw.version.get_ref() != 1 {
            return Err(loc.span(&raw.version, "unsupported policy version; this git-signed reads `version = 1`"));
        }
        let environments = environment::declared(&loc, raw.environments.as_ref())?;
        let mut signers = Signers {
            loc: &loc,
            read_key,
            keyring: Keyring::default(),
            digest: gix::hash::hasher(gix::hash::Kind::Sha1),
        };
        signers.digest.update(env!("CARGO_PKG_VERSION").as_bytes());
        signers.digest.update(&crate::RULES.to_be_bytes());
        signers.digest.update(crate::OPENPGP.as_bytes());
        signers.digest.update(&(text.len() as u64).to_be_bytes());
        signers.digest.update(text.as_bytes());
        let people = raw
            .people
            .iter()
            .map(|(name, p)| Ok((name.clone(), signers.person(name, p)?)))
            .collect::<Result<_, _>>()?;
        check_sponsors(&loc, &raw.people, &people)?;
        let machines = raw
            .machines
            .iter()
            .map(|(name, m)| Ok((name.clone(), signers.machine(name, m, &people)?)))
            .collect::<Result<_, _>>()?;
        let rules = raw
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| rule::parse(&loc, i + 1, r, (&people, &machines), &environments))
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(loc.at(0, "the policy has no [[rule]], so it protects nothing; add a rule such as tags = [\"deploy/*\"], people = 2"));
        }
        let inactivity =
            raw.inactivity.as_ref().map(|d| duration::parse(d.get_ref()).map_err(|e| loc.span(d, e))).transpose()?;
        if let Some(d) = &raw.inactivity
            && let Some(person) = people.values().find(|p| p.keys.iter().any(|k| matches!(k, SigningKey::Ssh(_))))
        {
            return Err(loc.span(
                d,
                format!(
                    "inactivity needs to know when each person signed, and SSH signatures carry no time; {} (line {}) has an SSH key. Remove inactivity, or list only OpenPGP keys for people",
                    person.name, person.line
                ),
            ));
        }
        let admins = raw.admins.as_ref().map(|a| admins(&loc, a, &people)).transpose()?;
        let fingerprint =
            signers.digest.try_finalize().map(|id| id.to_string()).map_err(|e| loc.at(0, e.to_string()))?;
        Ok(Policy {
            path: path.to_owned(),
            people,
            machines,
            rules,
            environments,
            inactivity,
            admins,
            fingerprint,
            keyring: signers.keyring,
        })
    }
}

/// Reads people and machines: their key files go into the keyring and the policy's digest.
struct Signers<'a> {
    loc: &'a Locator<'a>,
    /// Reads a key file by the path the policy gives.
    read_key: &'a keys::ReadKey<'a>,
    keyring: Keyring,
    digest: gix::hash::Hasher,
}

impl Signers<'_> {
    fn person(&mut self, name: &str, spanned: &Spanned<RawPerson>) -> Result<Person, PolicyError> {
        let (loc, p) = (self.loc, spanned.get_ref());
        let access = match p.access.get_ref().as_str() {
            "deploy" => Access::Deploy,
            "admin" => Access::Admin,
            other => {
                return Err(loc
                    .span(&p.access, format!("person {name}: unknown access {other:?}; use \"deploy\" or \"admin\"")));
            }
        };
        let expires = p.expires.as_ref().map(|d| toml_date(loc, d)).transpose()?;
        let granted = p.granted.as_ref().map(|d| toml_date(loc, d)).transpose()?;
        let hardware = p.hardware.as_ref().is_some_and(|h| *h.get_ref());
        let keys = self.keys(&Principal::Person(name.to_owned()), &p.keys, hardware)?;
        Ok(Person {
            name: name.to_owned(),
            access,
            sponsor: p.sponsor.as_ref().map(|s| s.get_ref().clone()),
            expires,
            granted,
            keys,
            hardware,
            line: loc.at(spanned.span().start, "").line,
        })
    }

    fn machine(
        &mut self,
        name: &str,
        spanned: &Spanned<RawMachine>,
        people: &BTreeMap<String, Person>,
    ) -> Result<Machine, PolicyError> {
        if people.contains_key(name) {
            return Err(self
                .loc
                .span(spanned, format!("{name} is both a person and a machine; give the machine another name")));
        }
        let m = spanned.get_ref();
        let hardware = m.hardware.as_ref().is_some_and(|h| *h.get_ref());
        let keys = self.keys(&Principal::Machine(name.to_owned()), &m.keys, hardware)?;
        Ok(Machine { name: name.to_owned(), keys, hardware })
    }

    /// Load `owner`'s key files; returns their keys' names (primary fingerprints for OpenPGP).
    /// With `hardware`, every key must be a FIDO security key.
    fn keys(
        &mut self,
        owner: &Principal,
        files: &Spanned<Vec<Spanned<String>>>,
        hardware: bool,
    ) -> Result<Vec<SigningKey>, PolicyError> {
        let keys = keys::load(self.loc, self.read_key, owner, files, &mut self.digest)?;
        if hardware && let Some(soft) = keys.iter().find(|k| !k.is_hardware()) {
            let kind = match soft {
                keys::ListedKey::OpenPgp(_) => "an OpenPGP key".to_owned(),
                keys::ListedKey::Ssh(k) => format!("an {} key", crate::ssh::key_type(k.key_data())),
            };
            return Err(self.loc.span(
                files,
                format!(
                    "{owner} has hardware = true, but key {} is {kind}; only FIDO security keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com) prove a touch. Remove it, or make one with ssh-keygen -t ed25519-sk",
                    soft.id()
                ),
            ));
        }
        let names = keys.iter().map(keys::ListedKey::id).collect();
        self.keyring.add(owner, keys).map_err(|message| self.loc.at(0, message))?;
        Ok(names)
    }
}

/// Every sponsor must be a person of the same policy.
fn check_sponsors(
    loc: &Locator<'_>,
    raw: &BTreeMap<String, Spanned<RawPerson>>,
    people: &BTreeMap<String, Person>,
) -> Result<(), PolicyError> {
    for (name, person) in raw {
        if let Some(sponsor) = &person.get_ref().sponsor
            && !people.contains_key(sponsor.get_ref())
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
    Ok(())
}

/// `admins = N`: how many distinct admins must sign a change of the policy kept in the
/// repository; at least one, and no more than the policy has (or no change could ever pass).
fn admins(loc: &Locator<'_>, value: &Spanned<i64>, people: &BTreeMap<String, Person>) -> Result<usize, PolicyError> {
    let have = people.values().filter(|p| p.access == Access::Admin).count();
    match usize::try_from(*value.get_ref()) {
        Ok(0) | Err(_) => Err(loc.span(value, "admins must be at least 1: a policy no admin signs for could be changed by anyone")),
        Ok(n) if n > have => Err(loc.span(
            value,
            format!(
                "admins = {n}, but the policy has {have} {} with access = \"admin\"; no change could ever be signed (add admins, or lower the number)",
                super::plural(have, "person", "people")
            ),
        )),
        Ok(n) => Ok(n),
    }
}

fn toml_date(loc: &Locator<'_>, value: &Spanned<toml::value::Datetime>) -> Result<jiff::civil::Date, PolicyError> {
    let dt = value.get_ref();
    match (dt.date, dt.time) {
        (Some(d), None) => jiff::civil::Date::new(d.year as i16, d.month as i8, d.day as i8)
            .map_err(|e| loc.span(value, format!("invalid date: {e}"))),
        _ => Err(loc.span(value, "expected a date such as 2027-05-01 (no time of day)")),
    }
}
