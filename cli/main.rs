//! `git-signed` (so `git signed …` works): the people's and pipelines' command line.
//!
//! `main` parses the arguments, runs one command, and hands its answer or its failure to
//! [`text`] (for people) or [`render`] (JSON for pipelines); [`exit`] decides the exit code.
//! The commands compute and never print their answer themselves.

mod audit;
mod context;
mod exit;
mod git;
mod policy_cmd;
mod policy_flow;
mod render;
mod text;
mod verify;
mod workflow;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use git_signed_policy::Policy;

use context::Format;
use exit::{Error, Kind, Outcome};

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
    after_help = exit::help(
        "Examples (a day in the life of deploy/42):
  git signed propose deploy/42                      # the committer signs and proposes
  git signed approve deploy/42                      # the reviewer signs and pushes the tag
  git signed promote deploy/42 --from deploy/41     # the staging pipeline, after testing
  git signed verify deploy/42 -e production --transition-from deploy/41   # production
  git signed audit                                  # an admin, weekly

Every command takes --format json: one JSON document on stdout, on success and on failure,
with a version, the exit code, and a result or an error (docs/git-signed.schema.json).",
        "yes: the tags verify, the policy is valid, the tag was signed and pushed",
        "no: a tag fails the policy, the policy has an error, audit found something, the\n     \
         command refused, or the mirror rejected the push",
    )
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

impl Command {
    /// The command's name as people type it after `git signed`.
    fn name(&self) -> &'static str {
        match self {
            Command::Propose(_) => "propose",
            Command::Approve(_) => "approve",
            Command::Promote(_) => "promote",
            Command::Verify(_) => "verify",
            Command::Audit(_) => "audit",
            Command::Policy(c) => c.name(),
        }
    }

    fn format(&self) -> Format {
        match self {
            Command::Propose(a) => a.common.format,
            Command::Approve(a) => a.common.format,
            Command::Promote(a) => a.common.format,
            Command::Verify(a) => a.format,
            Command::Audit(a) => a.format,
            Command::Policy(c) => c.format(),
        }
    }
}

use policy_cmd::POLICY_CHECK;

/// What a command answered.
pub enum Report {
    /// `propose`
    Proposed(workflow::Proposed),
    /// `approve`
    Approved(workflow::Approved),
    /// `promote`
    Promoted(workflow::Promoted),
    /// `verify`
    Verified(verify::Verified),
    /// `audit`
    Audited(audit::Audited),
    /// `policy check`: the valid policy.
    PolicyChecked(Policy),
    /// `policy init`, `propose`, `approve`: a new commit of the policy history.
    PolicyChanged(policy_flow::Changed),
    /// `policy log`: the policy history.
    PolicyLog(policy_cmd::History),
    /// `policy show`: the policy history, for the policy in force at its end.
    PolicyShown(policy_cmd::History),
}

impl Report {
    /// Whether the answer is yes or no.
    fn outcome(&self) -> Outcome {
        let yes = match self {
            Report::Verified(v) => v.accepted(),
            Report::Audited(a) => a.findings() == 0,
            Report::PolicyLog(h) | Report::PolicyShown(h) => h.refused().is_none(),
            Report::Proposed(_)
            | Report::Approved(_)
            | Report::Promoted(_)
            | Report::PolicyChecked(_)
            | Report::PolicyChanged(_) => true,
        };
        if yes { Outcome::Yes } else { Outcome::No }
    }
}

fn main() -> ExitCode {
    git_signed_tool::die_quietly_on_closed_pipe();
    git_signed_tool::generate_if_asked(|| Cli::command().bin_name("git signed"));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let (name, format) = (cli.command.name(), cli.command.format());
    let answer = match cli.command {
        Command::Propose(args) => workflow::propose(args).map(Report::Proposed),
        Command::Approve(args) => workflow::approve(args).map(Report::Approved),
        Command::Promote(args) => workflow::promote(args).map(Report::Promoted),
        Command::Verify(args) => verify::run(args).map(Report::Verified),
        Command::Audit(args) => audit::run(args).map(Report::Audited),
        Command::Policy(cmd) => policy_cmd::run(cmd),
    };
    let code = exit::exit_code(answer.as_ref().map(Report::outcome).map_err(Error::kind), name == POLICY_CHECK);
    if let Err(e) = &answer {
        text::error(&e.to_string());
        if let Some(note) = git_signed_tool::old_git() {
            text::error(&note);
        }
    }
    match (format, &answer) {
        (Format::Json, answer) => render::document(Some(name), code, answer).print(),
        (Format::Text, Ok(report)) => text::print(report),
        (Format::Text, Err(_)) => {}
    }
    ExitCode::from(code)
}

/// clap could not parse the command line: help and `--version` as clap prints them;
/// anything else is a usage error (exit 2), also as JSON when `--format json` was given.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let code = exit::exit_code(Err(Kind::Usage), false);
    let _ = e.print();
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let json =
        args.windows(2).any(|w| w[0] == "--format" && w[1] == "json") || args.iter().any(|a| a == "--format=json");
    if json {
        // clap's first paragraph says what is wrong: `error: …`, maybe with indented details.
        let rendered = e.render().to_string();
        let first: Vec<&str> = rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
        let first = first.join(" ");
        let first = first.trim_start_matches("error: ");
        let help =
            command_name(&args).map_or_else(|| "git signed --help".to_owned(), |c| format!("git signed {c} --help"));
        render::failure(command_name(&args), code, Kind::Usage, &format!("{first}; see {help}"), None).print();
    }
    ExitCode::from(code)
}

/// The command a command line names, when it names one.
fn command_name(args: &[String]) -> Option<&'static str> {
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).take(2).collect();
    match words.as_slice() {
        ["policy", "check"] => Some(POLICY_CHECK),
        ["policy", "init"] => Some("policy init"),
        ["policy", "propose"] => Some("policy propose"),
        ["policy", "approve"] => Some("policy approve"),
        ["policy", "log"] => Some("policy log"),
        ["policy", "show"] => Some("policy show"),
        [first, ..] => ["propose", "approve", "promote", "verify", "audit"].into_iter().find(|c| c == first),
        [] => None,
    }
}
