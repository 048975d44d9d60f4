//! `git signed audit`: who needs attention — access expired or expiring, access lapsed by
//! inactivity (no accepted signature for longer than the policy's `inactivity`), sponsors who
//! are not admins, keys expired or expiring.

use std::time::{Duration, SystemTime};

use git_signed_policy::openpgp::policy::StandardPolicy;
use git_signed_policy::signature::format_time;
use git_signed_policy::{Access, Policy};

use crate::context::{self, Format};
use crate::exit::{self, Error};

/// How far ahead expiries are reported.
const SOON: Duration = Duration::from_secs(30 * 86_400);

/// `git signed audit`
#[derive(clap::Args)]
#[command(after_help = exit::help(
    "Example:
  git signed audit                 # in a clone with the deploy tags
  git signed audit --format json   # for a scheduled pipeline",
    "nothing needs attention",
    "something does (listed)",
))]
pub struct Args {
    /// Policy file (default: the policy pinned by git config signed.root, else signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// One person as audited.
pub struct PersonReport {
    /// The name in `[people.<name>]`.
    pub name: String,
    /// Their access level.
    pub access: Access,
    /// Who granted it.
    pub sponsor: Option<String>,
    /// When it ends (`expires`).
    pub expires: Option<String>,
    /// When it was granted or renewed (`granted`).
    pub granted: Option<String>,
    /// The policy commit that last granted their access (added them, made them an admin or
    /// renewed them), when the policy is kept in the repository: a fact of its history.
    pub granted_in: Option<GrantedIn>,
    /// Their latest accepted signature (RFC 3339).
    pub last_signature: Option<String>,
    /// What needs attention, in words.
    pub findings: Vec<String>,
}

/// Where the policy history granted a person's access.
pub struct GrantedIn {
    /// The commit (the founding commit for those in the policy from the start).
    pub commit: gix::ObjectId,
    /// Its committer time (RFC 3339), as the commit claims it.
    pub time: String,
    /// The admins who signed that change (none for the founding commit, trusted by the pin).
    pub signed_by: Vec<String>,
}

/// For each person, the last commit of the pinned policy history that granted their access.
fn grants() -> Result<std::collections::HashMap<String, GrantedIn>, Error> {
    use git_signed_policy::chain::{self, Step};
    let mut grants = std::collections::HashMap::new();
    let (repo, root, tip) = context::policy_history(None)?;
    let log = chain::log(&repo.repo, root, tip, SystemTime::now())?;
    let time = |t: i64| format_time(SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0).unsigned_abs()));
    let founding = chain::policy_of(&repo.repo, root)?;
    for entry in &log.entries {
        let (names, signed_by): (Vec<String>, Vec<String>) = match &entry.step {
            Step::Founded => (founding.people.keys().cloned().collect(), Vec::new()),
            Step::InForce { granted, signed_by, .. } => (granted.clone(), signed_by.clone()),
            _ => continue,
        };
        for name in names {
            let signed_by = signed_by.clone();
            grants.insert(name, GrantedIn { commit: entry.commit, time: time(entry.time), signed_by });
        }
    }
    Ok(grants)
}

/// What `audit` found.
pub struct Audited {
    /// The policy's `inactivity` (as written, e.g. `6w`).
    pub inactivity: Option<String>,
    /// Every person in the policy.
    pub people: Vec<PersonReport>,
    /// Keys that need attention, in words.
    pub keys: Vec<String>,
}

impl Audited {
    /// How many findings there are in all.
    pub fn findings(&self) -> usize {
        self.people.iter().map(|p| p.findings.len()).sum::<usize>() + self.keys.len()
    }
}

fn day_start(d: jiff::civil::Date) -> Option<SystemTime> {
    d.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| SystemTime::from(z.timestamp()))
}

/// Run `git signed audit`.
pub fn run(args: Args) -> Result<Audited, Error> {
    let git_dir = context::git_dir()?;
    let policy = context::policy(args.policy.as_deref())?;
    let repo = git_signed_policy::Repo::open(&git_dir, &[])?;
    let now = SystemTime::now();
    let activity = context::history(context::cache(&repo).as_mut(), &repo, &policy, now)?;
    let mut grants = match (&args.policy, context::pinned_root()?) {
        (None, Some(_)) => grants()?,
        _ => Default::default(),
    };
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
            granted_in: grants.remove(&person.name),
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
    Ok(Audited { inactivity: policy.inactivity.map(git_signed_policy::duration::format), people, keys })
}
