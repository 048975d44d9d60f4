//! `git signed policy check`: validate a policy and its keys, and show what it protects, with
//! every duration read back in words (`inactivity = "6m"` is six minutes, not six months).
//! `git signed policy log` and `show`: the policy kept in the repository (`refs/signed/policy`),
//! read from the pinned `signed.root`: who changed what, when, signed by whom; and the policy
//! in force at a commit.

use std::time::Duration;

use git_signed_policy::chain;
use git_signed_policy::{Access, Policy};
use gix::ObjectId;

use crate::context::{self, Format};
use crate::exit::{self, Error};
use crate::{Report, policy_flow};

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
    /// Found the policy kept in the repository: its first commit, signed by you
    #[command(after_help = exit::help(
        "Examples:
  git signed policy init policy.toml     # policy.toml with `admins = N`, and the key files it names
  ./install.sh --repo /srv/git/app.git --root <the commit it prints>
  git push origin refs/signed/policy",
        "the founding commit is made (kept as refs/signed/policy here, to push once the mirror is pinned)",
        "refused: refs/signed/policy exists here, or the policy has no `admins`",
    ))]
    Init {
        /// The policy file; the key files it names are read relative to it
        #[arg(default_value = "policy.toml")]
        file: std::path::PathBuf,
        /// The mirror the next steps name
        #[arg(long, default_value = "origin")]
        remote: String,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Propose a change of the policy kept in the repository, signed by you
    #[command(after_help = exit::help(
        "Examples:
  git signed policy propose policy.toml -m \"add dave, sponsored by bob\"
  git signed policy approve              # another admin",
        "the change is pushed: in force (enough admins signed) or waiting on refs/signed/proposed/policy",
        "refused (nothing changed, a change is waiting, not valid), or the mirror rejected the push",
    ))]
    Propose {
        /// The edited policy file; the key files it names are read relative to it
        #[arg(default_value = "policy.toml")]
        file: std::path::PathBuf,
        /// The mirror
        #[arg(long, default_value = "origin")]
        remote: String,
        /// The commit message
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Approve the waiting change of the policy kept in the repository, signed by you
    #[command(after_help = exit::help(
        "Examples:
  git signed policy approve
  git signed policy approve --yes        # for scripts",
        "approved: in force once enough admins signed, else still waiting",
        "refused (nothing waiting, you signed it already, not valid, not confirmed), or the mirror rejected the push",
    ))]
    Approve {
        /// The mirror
        #[arg(long, default_value = "origin")]
        remote: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the policy history kept in the repository: each commit, who signed it, what changed
    #[command(after_help = exit::help(
        "Examples:
  git fetch origin +refs/signed/policy:refs/signed/policy
  git signed policy log                 # refs/signed/policy, from git config signed.root
  git signed policy log main --format json",
        "every commit of the history is valid (a last change may still wait for admins)",
        "a commit is not valid: nothing from it on is in force (it is named)",
    ))]
    Log {
        /// The last commit of the history (default: refs/signed/policy)
        rev: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the policy in force at a commit of the policy history
    #[command(after_help = exit::help(
        "Examples:
  git signed policy show                # in force on refs/signed/policy
  git signed policy show --at 3f2c1a9 --format json",
        "the policy in force is shown",
        "the history up to that commit is not valid; the policy in force before it is shown",
    ))]
    Show {
        /// A commit of the policy history (default: refs/signed/policy)
        #[arg(long)]
        at: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

impl PolicyCommand {
    /// The output format asked for.
    pub fn format(&self) -> Format {
        match self {
            PolicyCommand::Check { format, .. }
            | PolicyCommand::Init { format, .. }
            | PolicyCommand::Propose { format, .. }
            | PolicyCommand::Approve { format, .. }
            | PolicyCommand::Log { format, .. }
            | PolicyCommand::Show { format, .. } => *format,
        }
    }

    /// The command's name as people type it after `git signed`.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyCommand::Check { .. } => POLICY_CHECK,
            PolicyCommand::Init { .. } => "policy init",
            PolicyCommand::Propose { .. } => "policy propose",
            PolicyCommand::Approve { .. } => "policy approve",
            PolicyCommand::Log { .. } => "policy log",
            PolicyCommand::Show { .. } => "policy show",
        }
    }
}

/// The name of `git signed policy check`, whose question is whether the policy is valid.
pub const POLICY_CHECK: &str = "policy check";

/// A policy history, read from its pinned root.
pub struct History {
    /// The pinned root.
    pub root: ObjectId,
    /// The last commit read.
    pub tip: ObjectId,
    /// Each valid commit, the policy in force, and why it stops short, if it does.
    pub log: chain::Log,
}

impl History {
    /// The first invalid commit, if any: a last change still waiting is not one.
    pub fn refused(&self) -> Option<&chain::ChainError> {
        self.log.stopped.as_ref().filter(|e| !matches!(e, chain::ChainError::Unapproved { .. }))
    }
}

/// Run `git signed policy …`.
pub fn run(cmd: PolicyCommand) -> Result<Report, Error> {
    match cmd {
        PolicyCommand::Check { policy, .. } => context::policy(policy.as_deref()).map(Report::PolicyChecked),
        PolicyCommand::Init { file, remote, .. } => policy_flow::init(&file, &remote).map(Report::PolicyChanged),
        PolicyCommand::Propose { file, remote, message, .. } => {
            policy_flow::propose(&file, &remote, message.as_deref()).map(Report::PolicyChanged)
        }
        PolicyCommand::Approve { remote, yes, .. } => policy_flow::approve(&remote, yes).map(Report::PolicyChanged),
        PolicyCommand::Log { rev, .. } => history(rev.as_deref()).map(Report::PolicyLog),
        PolicyCommand::Show { at, .. } => history(at.as_deref()).map(Report::PolicyShown),
    }
}

fn history(rev: Option<&str>) -> Result<History, Error> {
    let (repo, root, tip) = context::policy_history(rev)?;
    let log = chain::log(&repo.repo, root, tip, std::time::SystemTime::now())?;
    Ok(History { root, tip, log })
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
