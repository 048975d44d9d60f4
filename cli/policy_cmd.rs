//! `git signed policy check`: validate a policy and its keys, and show what it protects.

use git_signed_policy::Policy;

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
        warnings: p.unusable_keys(std::time::SystemTime::now()),
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
    for person in p.people.values() {
        let access = match person.access {
            git_signed_policy::Access::Deploy => "deploy",
            git_signed_policy::Access::Admin => "admin",
        };
        let expires = person.expires.map(|d| format!(", expires {d}")).unwrap_or_default();
        let sponsor = person.sponsor.as_deref().map(|s| format!(", sponsored by {s}")).unwrap_or_default();
        println!("  person {}: {access} access{sponsor}{expires}, {} key(s)", person.name, person.keys.len());
    }
    for m in p.machines.values() {
        println!("  machine {}: {} key(s)", m.name, m.keys.len());
    }
    for r in &p.rules {
        println!("  {} [line {}]", r.describe(), r.line);
    }
    for w in p.unusable_keys(std::time::SystemTime::now()) {
        println!("  warning: {w}");
    }
}
