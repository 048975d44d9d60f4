//! `git signed policy check`: validate a policy and its keys, and show what it protects, with
//! every duration read back in words (`inactivity = "6m"` is six minutes, not six months).

use std::time::Duration;

use git_signed_policy::{Access, Policy};

use crate::context::{self, Format};
use crate::exit::{self, Error};

/// `git signed policy …`
#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and its keys, and print what it protects
    #[command(after_help = exit::help(
        "Examples:
  git signed policy check --policy deploy-policy.toml
  git signed policy check --format json     # policy from git config signed.policy",
        "the policy is valid",
        "it has an error (printed as file:line:column)",
    ))]
    Check {
        /// Policy file (default: the policy pinned by git config signed.root, else signed.policy)
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

impl PolicyCommand {
    /// The output format asked for.
    pub fn format(&self) -> Format {
        let PolicyCommand::Check { format, .. } = self;
        *format
    }
}

/// Run `git signed policy …`: the policy, when it is valid.
pub fn run(cmd: PolicyCommand) -> Result<Policy, Error> {
    let PolicyCommand::Check { policy, .. } = cmd;
    context::policy(policy.as_deref())
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
pub fn warnings(p: &Policy) -> Vec<String> {
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
pub fn environments(p: &Policy) -> Vec<String> {
    let mut all = vec![git_signed_policy::PUSH_ENVIRONMENT.to_owned()];
    all.extend(p.environments.iter().cloned());
    all
}
