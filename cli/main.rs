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

use clap::{Parser, Subcommand};

/// Signed, reviewed deploy tags: propose, approve, promote, verify, audit.
#[derive(Parser)]
#[command(name = "git-signed", version, about, long_about = None)]
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
    #[command(subcommand)]
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
