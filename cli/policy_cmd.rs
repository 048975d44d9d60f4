//! `git signed policy check`: validate a policy and its keys, and show what it protects, with
//! every duration read back in words (`inactivity = "6m"` is six minutes, not six months).

use std::time::Duration;

use git_signed_policy::policy::DEFAULT_MAX_AGE;
use git_signed_policy::{Access, PUSH_ENVIRONMENT, Policy};

use crate::Outcome;
use crate::context::{self, Error, Format};

/// `git signed policy …`
#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and its keys, and print what it protects
    #[command(after_help = "Examples:
  git signed policy check --policy deploy-policy.toml
  git signed policy check --format json     # policy from git config signed.policy

Exit status: 0 the policy is valid, 1 it has an error (printed as file:line:column), 2 usage error.")]
    Check {
        /// Policy file (default: git config signed.policy)
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(serde::Serialize)]
struct Summary {
    valid: bool,
    path: String,
    error: Option<ErrorReport>,
    environments: Vec<String>,
    protects: Vec<String>,
    inactivity: Option<String>,
    people: Vec<PersonSummary>,
    machines: Vec<NamedKeys>,
    rules: Vec<RuleSummary>,
    warnings: Vec<String>,
}

#[derive(serde::Serialize)]
struct ErrorReport {
    line: usize,
    column: usize,
    message: String,
}

#[derive(serde::Serialize)]
struct PersonSummary {
    name: String,
    access: git_signed_policy::Access,
    sponsor: Option<String>,
    expires: Option<String>,
    keys: Vec<String>,
}

#[derive(serde::Serialize)]
struct NamedKeys {
    name: String,
    keys: Vec<String>,
}

#[derive(serde::Serialize)]
struct RuleSummary {
    rule: usize,
    line: usize,
    tags: Vec<String>,
    environments: Option<Vec<String>>,
    people: usize,
    machines: Vec<String>,
    max_age: Option<String>,
}

/// Run `git signed policy …`.
pub fn run(cmd: PolicyCommand) -> Result<Outcome, Error> {
    let PolicyCommand::Check { policy, format } = cmd;
    let loaded = match policy {
        Some(p) => Policy::load(&p),
        None => match context::policy(None) {
            Ok(p) => Ok(p),
            Err(e) => match e.downcast::<git_signed_policy::PolicyError>() {
                Ok(pe) => Err(*pe),
                Err(other) => return Err(other),
            },
        },
    };
    let summary = match &loaded {
        Ok(p) => summarize(p),
        Err(e) => Summary {
            valid: false,
            path: e.file.display().to_string(),
            error: Some(ErrorReport { line: e.line, column: e.column, message: e.message.clone() }),
            environments: Vec::new(),
            protects: Vec::new(),
            inactivity: None,
            people: Vec::new(),
            machines: Vec::new(),
            rules: Vec::new(),
            warnings: Vec::new(),
        },
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Format::Text => match &loaded {
            Err(e) => eprintln!("git-signed: policy error: {e}"),
            Ok(p) => print_text(p),
        },
    }
    Ok(if summary.valid { Outcome::Yes } else { Outcome::No })
}

fn summarize(p: &Policy) -> Summary {
    Summary {
        valid: true,
        path: p.path.display().to_string(),
        error: None,
        environments: environments(p),
        protects: protected_globs(p),
        inactivity: p.inactivity.map(git_signed_policy::duration::format),
        people: p
            .people
            .values()
            .map(|person| PersonSummary {
                name: person.name.clone(),
                access: person.access,
                sponsor: person.sponsor.clone(),
                expires: person.expires.map(|d| d.to_string()),
                keys: person.keys.iter().map(|k| k.to_hex()).collect(),
            })
            .collect(),
        machines: p
            .machines
            .values()
            .map(|m| NamedKeys { name: m.name.clone(), keys: m.keys.iter().map(|k| k.to_hex()).collect() })
            .collect(),
        rules: p
            .rules
            .iter()
            .map(|r| RuleSummary {
                rule: r.number,
                line: r.line,
                tags: r.tags.clone(),
                environments: r.environments.clone(),
                people: r.people,
                machines: r.machines.clone(),
                max_age: r.max_age.map(git_signed_policy::duration::format),
            })
            .collect(),
        warnings: warnings(p),
    }
}

/// The tag globs the policy protects, each once, in file order.
pub fn protected_globs(p: &Policy) -> Vec<String> {
    let mut globs: Vec<String> = Vec::new();
    for glob in p.rules.iter().flat_map(|r| &r.tags) {
        if !globs.contains(glob) {
            globs.push(glob.clone());
        }
    }
    globs
}

/// Keys that cannot sign now, and durations short enough to be a unit mix-up (`m` is minutes).
fn warnings(p: &Policy) -> Vec<String> {
    const DAY: Duration = Duration::from_secs(86_400);
    let mut warnings = p.unusable_keys(std::time::SystemTime::now());
    let short = |what: String, d: Duration| {
        format!(
            "{what} = \"{}\" is {}, under a day; units are s, m (minutes), h, d and w, so six months is \"26w\"",
            git_signed_policy::duration::format(d),
            in_words(d)
        )
    };
    if let Some(d) = p.inactivity.filter(|d| *d < DAY) {
        warnings.push(short("inactivity".into(), d));
    }
    for r in &p.rules {
        if let Some(d) = r.max_age.filter(|d| *d < DAY) {
            warnings.push(short(format!("rule {} [line {}]: max_age", r.number, r.line), d));
        }
    }
    warnings
}

/// A duration in the largest unit that divides it exactly: "6 weeks", "90 minutes"; a single
/// week reads as "7 days", as people write it.
pub fn in_words(d: Duration) -> String {
    let s = d.as_secs();
    let units = [("week", 7 * 86_400), ("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)];
    let (unit, size) = units
        .into_iter()
        .find(|(unit, size)| s >= *size && s.is_multiple_of(*size) && !(*unit == "week" && s == *size))
        .unwrap_or(("second", 1));
    let n = s / size;
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// How people read an access level (as in the policy file).
pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Deploy => "deploy",
        Access::Admin => "admin",
    }
}

/// Every environment a fetch or `--environment` may name: `push` and the declared ones.
fn environments(p: &Policy) -> Vec<String> {
    let mut all = vec![git_signed_policy::PUSH_ENVIRONMENT.to_owned()];
    all.extend(p.environments.iter().cloned());
    all
}

fn print_text(p: &Policy) {
    println!("{}: valid", p.path.display());
    println!("  environments: {}", environments(p).join(", "));
    println!("  protects {}", protected_globs(p).join(", "));
    if let Some(d) = p.inactivity {
        println!("  inactivity: access lapses after {} without an accepted signature", in_words(d));
    }
    for person in p.people.values() {
        let expires = person.expires.map(|d| format!(", expires {d}")).unwrap_or_default();
        let sponsor = person.sponsor.as_deref().map(|s| format!(", sponsored by {s}")).unwrap_or_default();
        println!(
            "  person {}: {} access{sponsor}{expires}, {} key(s)",
            person.name,
            access_name(person.access),
            person.keys.len()
        );
    }
    for m in p.machines.values() {
        println!("  machine {}: {} key(s)", m.name, m.keys.len());
    }
    for r in &p.rules {
        let max_age = match (r.applies_in(PUSH_ENVIRONMENT), r.max_age) {
            (true, Some(d)) => format!(", max_age at push {}", in_words(d)),
            (true, None) => format!(", max_age at push {} (default)", in_words(DEFAULT_MAX_AGE)),
            (false, Some(d)) => {
                format!(", max_age {} (only checked at push, where this rule does not apply)", in_words(d))
            }
            (false, None) => String::new(),
        };
        println!("  {} [line {}]{max_age}", r.describe(), r.line);
    }
    for w in warnings(p) {
        println!("  warning: {w}");
    }
}
