//! `git-signed` (so `git signed …` works): the people's and pipelines' command line.
//!
//! Exit codes, for every subcommand:
//! - 0: everything asked about is fine (every tag verified, the policy is valid, …);
//! - 1: the answer is "no" (a tag does not satisfy the policy, the policy has errors, …);
//! - 2: the question could not be answered (usage error, no repository, unreadable policy
//!   for `verify`, internal error).

mod audit;
mod context;
mod git;
mod policy_cmd;
mod verify;
mod workflow;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Signed, reviewed deploy tags: propose, approve, promote, verify, audit.
#[derive(Parser)]
#[command(
    name = "git-signed",
    version,
    about,
    long_about = "Signed, reviewed deploy tags: propose, approve, promote, verify, audit.

A deploy tag (deploy/42) reaches the mirror only when two different people, the committer
and the reviewer, have signed it with plain `git tag -s`; the mirror's hook
(git-signed-pre-receive) rejects any other. CI, staging and production fetch through
signed:: URLs (git-remote-signed) and never see a tag that fails their environment's rules.
The policy file names the people, their keys and the rules: git signed policy check.",
    after_help = "Examples (a day in the life of deploy/42):
  git signed propose deploy/42                      # the committer signs and proposes
  git signed approve deploy/42                      # the reviewer signs and pushes the tag
  git signed promote deploy/42 --from deploy/41     # the staging pipeline, after testing
  git signed verify deploy/42 -e production --transition-from deploy/41   # production
  git signed audit                                  # an admin, weekly

Exit status, for every command:
  0  everything asked about is fine (the tags verify, the policy is valid, the tag was pushed)
  1  the answer is no (a tag does not satisfy the policy, the policy has errors, a refusal)
  2  the question could not be answered (usage error, no repository, unreadable policy,
     internal error)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Committer: sign a deploy tag and push it as a proposal for review
    Propose(workflow::ProposeArgs),
    /// Reviewer: add your signature to a proposal and push the deploy tag
    Approve(workflow::ApproveArgs),
    /// Staging pipeline: add the machine's signature recording the tested transition
    Promote(workflow::PromoteArgs),
    /// Verify deploy tags against the policy for an environment
    Verify(verify::Args),
    /// Report people and keys that need attention (expired, lapsed, expiring)
    Audit(audit::Args),
    /// Work with the policy file
    #[command(
        subcommand,
        after_help = "Example:
  git signed policy check --policy deploy-policy.toml"
    )]
    Policy(policy_cmd::PolicyCommand),
}

/// What a subcommand concluded; mapped to the exit code in `main`.
pub enum Outcome {
    /// Everything asked about is fine.
    Yes,
    /// The answer is no.
    No,
}

fn main() -> ExitCode {
    git_signed_tool::die_quietly_on_closed_pipe();
    git_signed_tool::generate_if_asked(|| Cli::command().bin_name("git signed"));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Propose(args) => workflow::propose(args),
        Command::Approve(args) => workflow::approve(args),
        Command::Promote(args) => workflow::promote(args),
        Command::Verify(args) => verify::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Policy(cmd) => policy_cmd::run(cmd),
    };
    match result {
        Ok(Outcome::Yes) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(e) if e.is::<context::Refused>() => {
            eprintln!("git-signed: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("git-signed: {e}");
            ExitCode::from(2)
        }
    }
}
