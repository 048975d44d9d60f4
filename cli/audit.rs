//! `git signed audit`: who needs attention — access expired or expiring, access lapsed by
//! inactivity (no accepted signature for longer than the policy's `inactivity`), sponsors who
//! are not admins, keys expired or expiring.

use std::time::{Duration, SystemTime};

use git_signed_policy::openpgp::policy::StandardPolicy;
use git_signed_policy::signature::format_time;
use git_signed_policy::{Access, Policy};

use crate::Outcome;
use crate::context::{self, Error, Format};

/// How far ahead expiries are reported.
const SOON: Duration = Duration::from_secs(30 * 86_400);

/// `git signed audit`
#[derive(clap::Args)]
#[command(after_help = "Example:
  git signed audit                 # in a clone with the deploy tags
  git signed audit --format json   # for a scheduled pipeline

Exit status: 0 nothing needs attention, 1 something does (listed), 2 usage or internal error.")]
pub struct Args {
    /// Policy file (default: git config signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(serde::Serialize)]
struct PersonReport {
    name: String,
    access: Access,
    sponsor: Option<String>,
    expires: Option<String>,
    granted: Option<String>,
    last_signature: Option<String>,
    findings: Vec<String>,
}

#[derive(serde::Serialize)]
struct Report {
    inactivity: Option<String>,
    people: Vec<PersonReport>,
    keys: Vec<String>,
    findings: usize,
}

fn day_start(d: jiff::civil::Date) -> Option<SystemTime> {
    d.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| SystemTime::from(z.timestamp()))
}

/// Run `git signed audit`.
pub fn run(args: Args) -> Result<Outcome, Error> {
    let policy = context::policy(args.policy.as_deref())?;
    let repo = context::repository()?;
    let now = SystemTime::now();
    let activity = repo.history(&policy, now)?;
    let mut people = Vec::new();
    for person in policy.people.values() {
        let mut findings = Vec::new();
        if let Some(end) = Policy::access_end(person).map(SystemTime::from) {
            let expires = person.expires.map(|d| d.to_string()).unwrap_or_default();
            if end <= now {
                findings.push(format!("access expired on {expires}"));
            } else if end.duration_since(now).is_ok_and(|left| left <= SOON) {
                findings.push(format!("access expires on {expires}, within 30 days"));
            }
        }
        let last = activity.latest(&person.name);
        if let Some(limit) = policy.inactivity {
            let granted = person.granted.and_then(day_start);
            match last.into_iter().chain(granted).max() {
                Some(since) if now.duration_since(since).is_ok_and(|gap| gap > limit) => findings.push(format!(
                    "access lapsed by inactivity: nothing since {} (limit {}); an admin renews it with granted = <today>",
                    format_time(since),
                    crate::policy_cmd::in_words(limit)
                )),
                Some(_) => {}
                None => findings.push("never signed and has no granted date; set granted = <date> in the policy".into()),
            }
        }
        if let Some(sponsor) = &person.sponsor
            && policy.people.get(sponsor).is_none_or(|s| s.access != Access::Admin)
        {
            findings.push(format!("sponsor {sponsor} is not an admin"));
        }
        people.push(PersonReport {
            name: person.name.clone(),
            access: person.access,
            sponsor: person.sponsor.clone(),
            expires: person.expires.map(|d| d.to_string()),
            granted: person.granted.map(|d| d.to_string()),
            last_signature: last.map(format_time),
            findings,
        });
    }
    let mut keys = policy.unusable_keys(now);
    let standard = StandardPolicy::new();
    for known in policy.certs() {
        if let Ok(vc) = known.cert.with_policy(&standard, now)
            && vc.alive().is_ok()
            && let Some(exp) = vc.primary_key().key_expiration_time()
            && exp.duration_since(now).is_ok_and(|left| left <= SOON)
        {
            let fpr = known.cert.fingerprint();
            keys.push(format!("{}'s key {fpr} expires on {}, within 30 days", known.principal, format_time(exp)));
        }
    }
    let findings = people.iter().map(|p| p.findings.len()).sum::<usize>() + keys.len();
    let report =
        Report { inactivity: policy.inactivity.map(git_signed_policy::duration::format), people, keys, findings };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            for p in &report.people {
                let last = p.last_signature.as_deref().unwrap_or("never");
                let status = if p.findings.is_empty() { "ok".to_owned() } else { p.findings.join("; ") };
                println!("{} ({}, last signed {last}): {status}", p.name, crate::policy_cmd::access_name(p.access));
            }
            for k in &report.keys {
                println!("{k}");
            }
            if report.findings == 0 {
                println!("nothing needs attention");
            }
        }
    }
    Ok(if report.findings == 0 { Outcome::Yes } else { Outcome::No })
}
