//! The verification core of git-signed: the policy model, the walk over nested signed tag
//! layers, the signature checks, and one function that returns a [`Verdict`] with reasons.
//!
//! The hook, the remote helper and the CLI are thin adapters over this crate; they must never
//! decide anything themselves, so that all three give the same verdict for the same tag,
//! policy and environment. It never shells out and never reads git config: the adapters do
//! (`git_signed_tool::config`) and pass it what they found.

/// The version of the checks themselves. Part of every policy's fingerprint, so anything
/// remembered under a fingerprint (the helper's verdicts) is judged again when a release
/// changes what is accepted: bump it with any such change.
pub const RULES: u32 = 3;

/// The OpenPGP implementation the checks run on, which decides what passes too (its standard
/// policy's algorithm cutoffs change between releases). Part of every policy's fingerprint and
/// of the facts file's header, like [`RULES`]; a test keeps it equal to `Cargo.lock`.
pub const OPENPGP: &str = "sequoia-openpgp 2.4.2";

pub mod chain;
pub mod duration;
pub mod facts;
pub mod layer;
pub mod policy;
pub mod push_cert;
pub mod refs;
pub mod repo;
pub mod signature;
pub mod ssh;
pub mod verdict;

pub use facts::{Facts, SignatureFact};
pub use policy::{Access, PUSH_ENVIRONMENT, Policy, PolicyError, Principal, UnknownEnvironment};
pub use refs::{Forbidden, RefClass};
pub use repo::{HistoryPass, Repo, RepoError};
pub use sequoia_openpgp as openpgp;
pub use verdict::{Activity, Expected, Problem, Request, Transition, Verdict, Walks, verify_tag};

#[cfg(test)]
mod tests {
    /// [`super::OPENPGP`] names the sequoia-openpgp the workspace builds with, so upgrading it
    /// cannot keep facts a newer standard policy would judge otherwise.
    #[test]
    fn openpgp_names_the_locked_sequoia() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).expect("Cargo.lock");
        let locked = lock.split("[[package]]").find_map(|p| {
            let version = p.split_once("name = \"sequoia-openpgp\"\nversion = \"")?.1.split('"').next()?;
            Some(format!("sequoia-openpgp {version}"))
        });
        assert_eq!(locked.as_deref(), Some(super::OPENPGP), "update git_signed_policy::OPENPGP");
    }
}
