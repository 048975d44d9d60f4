//! How every `git signed` command ends, decided here and nowhere else: a command either
//! answers ([`Outcome`]: yes or no) or fails with an [`Error`] of one [`Kind`], and
//! [`exit_code`] turns either into the process's exit code. The help texts, the manual pages
//! and the JSON output all take the codes and their meanings from this module, so what is
//! documented is what is returned.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | yes: every tag verified, the policy is valid, the tag was signed and pushed |
//! | 1 | no: a tag fails the policy, the policy has an error, `audit` found something, the command refused, or the mirror rejected the push |
//! | 2 | no answer: usage error, unknown environment, not in a repository, no or a broken policy, git or the remote failed, internal error |

use git_signed_policy::{PolicyError, UnknownEnvironment};

/// Everything was fine.
pub const YES: u8 = 0;
/// The answer is no.
pub const NO: u8 = 1;
/// There is no answer.
pub const CANNOT_ANSWER: u8 = 2;

/// What exit code 2 means, the same for every command.
const CANNOT_ANSWER_MEANS: &str = "no answer: usage error, unknown environment, not in a git repository,\n     \
     no or a broken policy, git or the remote failed, internal error";

/// The `Exit status` paragraph of a command's help and manual page: what 0 and 1 mean for it,
/// and 2 as for every command.
pub fn status(yes: &str, no: &str) -> String {
    format!("Exit status:\n  {YES}  {yes}\n  {NO}  {no}\n  {CANNOT_ANSWER}  {CANNOT_ANSWER_MEANS}")
}

/// A command's help closing: its examples and notes, then its exit status.
pub fn help(text: &str, yes: &str, no: &str) -> String {
    format!("{text}\n\n{}", status(yes, no))
}

/// What a command concluded when it could answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked about is fine.
    Yes,
    /// The answer is no (the report says why).
    No,
}

/// Why a command ended without its answer, one kind each, as pipelines see it in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The command line is wrong.
    Usage,
    /// The command refused and changed nothing (self-approval, an existing tag, no proposal, …).
    Refused,
    /// The mirror (its pre-receive hook) rejected the push.
    PushRejected,
    /// The policy file has an error or cannot be read.
    Policy,
    /// No policy is configured.
    NoPolicy,
    /// An environment the policy does not declare.
    UnknownEnvironment,
    /// Not inside a git repository.
    NotARepository,
    /// git failed (the remote cannot be reached, …).
    Git,
    /// Anything else.
    Internal,
}

impl Kind {
    /// The name in JSON's `error.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Refused => "refused",
            Kind::PushRejected => "push_rejected",
            Kind::Policy => "policy",
            Kind::NoPolicy => "no_policy",
            Kind::UnknownEnvironment => "unknown_environment",
            Kind::NotARepository => "not_a_repository",
            Kind::Git => "git",
            Kind::Internal => "internal",
        }
    }
}

/// The exit code of a command that ended with `ending`. `policy_check` says whether the
/// command was `policy check`, whose question is whether the policy is valid: there a policy
/// error is the answer "no" (1), everywhere else it leaves the question unanswered (2).
pub fn exit_code(ending: Result<Outcome, Kind>, policy_check: bool) -> u8 {
    match ending {
        Ok(Outcome::Yes) => YES,
        Ok(Outcome::No) => NO,
        Err(Kind::Refused | Kind::PushRejected) => NO,
        Err(Kind::Policy) if policy_check => NO,
        Err(
            Kind::Usage
            | Kind::Policy
            | Kind::NoPolicy
            | Kind::UnknownEnvironment
            | Kind::NotARepository
            | Kind::Git
            | Kind::Internal,
        ) => CANNOT_ANSWER,
    }
}

/// Why a command ended without its answer. Every message says what went wrong and the next
/// command to run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command refused; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The mirror rejected the push: what git said, and what to do.
    #[error("{0}")]
    PushRejected(String),
    /// The policy file has an error.
    #[error("policy error: {0}")]
    Policy(#[from] PolicyError),
    /// The policy history pinned by `signed.root` cannot be used.
    #[error("policy error: {0}")]
    PolicyHistory(#[from] git_signed_policy::chain::ChainError),
    /// `signed.root` pins the policy, and it cannot be found where it is pinned.
    #[error("{0}")]
    Pin(String),
    /// No policy configured.
    #[error(
        "no policy: pass --policy FILE, pin the policy in the repository with `git config signed.root <commit>`, \
         or name a file with `git config signed.policy /path/to/policy.toml`"
    )]
    NoPolicy,
    /// An environment the policy does not declare.
    #[error(transparent)]
    UnknownEnvironment(#[from] UnknownEnvironment),
    /// Not inside a git repository.
    #[error(
        "not inside a git repository; cd into a clone of the mirror (or make one: git clone <url>) and run it there"
    )]
    NotARepository,
    /// A git command failed.
    #[error("{0}")]
    Git(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Which kind of failure this is.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Refused(_) => Kind::Refused,
            Error::PushRejected(_) => Kind::PushRejected,
            Error::Policy(_) => Kind::Policy,
            Error::NoPolicy | Error::Pin(_) | Error::PolicyHistory(_) => Kind::NoPolicy,
            Error::UnknownEnvironment(_) => Kind::UnknownEnvironment,
            Error::NotARepository => Kind::NotARepository,
            Error::Git(_) => Kind::Git,
            Error::Internal(_) => Kind::Internal,
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Internal(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::Internal(message.to_owned())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<git_signed_policy::RepoError> for Error {
    fn from(e: git_signed_policy::RepoError) -> Error {
        Error::Internal(e.to_string())
    }
}

/// A refusal: the command's answer is no (exit 1), with a message saying why and what to do.
pub fn refuse<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error::Refused(message.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_exit_code_and_refusals_are_no() {
        assert_eq!(exit_code(Err(Kind::Refused), false), NO);
        assert_eq!(exit_code(Err(Kind::PushRejected), false), NO);
        assert_eq!(exit_code(Err(Kind::Policy), true), NO);
        assert_eq!(exit_code(Err(Kind::Policy), false), CANNOT_ANSWER);
        assert_eq!(exit_code(Err(Kind::NotARepository), true), CANNOT_ANSWER);
        assert_eq!(exit_code(Ok(Outcome::No), false), NO);
    }
}
