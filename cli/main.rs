//! `git-signed` (so `git signed …` works): the people's and pipelines' command line.
//!
//! Exit codes, for every subcommand:
//! - 0: everything asked about is fine (every tag verified, the policy is valid, …);
//! - 1: the answer is "no" (a tag does not satisfy the policy, the policy has errors, …);
//! - 2: the question could not be answered (usage error, no repository, unreadable policy
//!   for `verify`, internal error).

mod context;
mod policy_cmd;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Signed, reviewed deploy tags: verify them, check the policy.
#[derive(Parser)]
#[command(name = "git-signed", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify deploy tags against the policy for an environment
    Verify(verify::Args),
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
        Command::Verify(args) => verify::run(args),
        Command::Policy(cmd) => policy_cmd::run(cmd),
    };
    match result {
        Ok(Outcome::Yes) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(e) => {
            eprintln!("git-signed: {e}");
            ExitCode::from(2)
        }
    }
}
