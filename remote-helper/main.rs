//! `git-remote-signed`: git runs it for `signed::<url>` URLs. This is its command line; the
//! helper itself is the library `git_signed_remote` (lib.rs).

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

/// Remote helper for `signed::<url>`: fetch only tags that satisfy this environment's policy.
#[derive(Parser)]
#[command(
    name = "git-remote-signed",
    version,
    about,
    after_help = "git runs this for signed:: URLs; you don't.

Examples:
  git -c signed.environment=staging -c signed.policy=/etc/git-signed/policy.toml \\
      clone signed::https://mirror.example/app.git
  git config --global signed.environment production
  git config --global signed.policy /etc/git-signed/policy.toml
  git ls-remote signed::https://mirror.example/app.git   # the refs production may see

Settings (git config, or the environment variable in brackets):
  signed.environment [GIT_SIGNED_ENVIRONMENT]  environment whose rules apply (required)
  signed.policy      [GIT_SIGNED_POLICY]       policy file (required)
  signed.strict                                fail the fetch instead of hiding a bad tag
  signed.allowUnprotectedTags                  also pass tags no rule protects
  GIT_SIGNED_TRACE=1                           print how long each phase took
Make the helper unavoidable: protocol.allow=never and protocol.signed.allow=always.

Exit status: 0 the session ended normally, 128 a fatal error (git reports the fetch or push as
failed: fail closed)."
)]
struct Args {
    /// The remote's name (or the URL as typed)
    remote: String,
    /// The URL after `signed::`
    url: Option<String>,
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored here: a git child that exits before reading its stdin is an error
    // to report, and a closed stdout (git went away) already ends the session quietly.
    git_signed_tool::generate_if_asked(Args::command);
    let args = Args::parse();
    match git_signed_remote::run(args.remote, args.url) {
        // The session ended: git sent the blank line, closed stdin, or went away.
        Ok(()) => ExitCode::SUCCESS,
        // Anything else fails the fetch or push: git reports it, and nothing unverified got in.
        Err(e) => {
            eprintln!("fatal: signed: {e}");
            if let Some(note) = git_signed_tool::old_git() {
                eprintln!("fatal: signed: {note}");
            }
            ExitCode::from(128)
        }
    }
}
