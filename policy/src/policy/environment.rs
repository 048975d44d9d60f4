//! Declared environments (`environments = [...]`, T26): reading the declaration, and the
//! one check every adapter makes before judging anything for an environment.

use std::path::PathBuf;

use toml::Spanned;

use super::parse::Locator;
use super::{PUSH_ENVIRONMENT, Policy, PolicyError};

impl Policy {
    /// `Ok` when `environment` is `push` or declared in `environments = [...]`. An undeclared
    /// name is an error, never "only the rules without `environments`": a typo such as
    /// `Production` must not drop production's rules (T26).
    pub fn check_environment(&self, environment: &str) -> Result<(), UnknownEnvironment> {
        if environment == PUSH_ENVIRONMENT || self.environments.iter().any(|e| e == environment) {
            return Ok(());
        }
        let suggestion =
            self.environments.iter().find(|e| e.eq_ignore_ascii_case(environment) || close(e, environment)).cloned();
        Err(UnknownEnvironment {
            name: environment.to_owned(),
            declared: self.environments.clone(),
            suggestion,
            policy: self.path.clone(),
        })
    }
}

/// An environment the policy does not declare (T26).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "environment {name:?} is not declared in the policy {} (declared: push, {}){}; \
     set signed.environment / --environment to a declared name, or declare it in `environments = [...]`",
    policy.display(),
    list_or_none(declared),
    suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
)]
pub struct UnknownEnvironment {
    /// The name asked for.
    pub name: String,
    /// What the policy declares (besides `push`).
    pub declared: Vec<String>,
    /// A declared name that differs only in case or by a typo.
    pub suggestion: Option<String>,
    /// The policy that was asked.
    pub policy: PathBuf,
}

pub(super) fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "nothing else".to_owned() } else { names.join(", ") }
}

/// Whether two names are one typo apart (one letter changed, added, dropped or two swapped).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let start = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let end = short.len() - short.iter().rev().zip(long.iter().rev()).take_while(|(x, y)| x == y).count();
        end <= start + 1 || (end == start + 2 && short[start] == long[start + 1] && short[start + 1] == long[start])
    } else {
        short[start..] == long[start + 1..]
    }
}

pub(super) fn declared(
    loc: &Locator<'_>,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Result<Vec<String>, PolicyError> {
    let mut declared: Vec<String> = Vec::new();
    for env in raw.map(Spanned::get_ref).into_iter().flatten() {
        let name = env.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(loc.span(env, format!(
                "environment {name:?} must be one word of letters, digits, `-`, `_` or `.` (it is a git config value)"
            )));
        }
        if declared.contains(name) {
            return Err(loc.span(env, format!("environment {name:?} is declared twice")));
        }
        if name != PUSH_ENVIRONMENT {
            declared.push(name.clone());
        }
    }
    Ok(declared)
}
