//! The signing history the policy's `inactivity` rule needs: when each person last signed a
//! tag the mirror accepts.

use std::time::SystemTime;

use gix::ObjectId;
use gix::objs::{Find, FindHeader};

use super::{Request, verify_tag};
use crate::policy::{Policy, Principal};

/// When each person signed tags the mirror accepts: the history the `inactivity` rule needs.
/// Always built from `push` verdicts, wherever it is built, so the hook, the helper and the CLI
/// agree on who was active.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    times: std::collections::HashMap<String, Vec<SystemTime>>,
}

impl Activity {
    /// The history of the protected `tags` (name, object) readable from `odb`: the valid
    /// person signatures of those that satisfy the `push` rules.
    pub fn from_tags<'t, O>(
        policy: &Policy,
        odb: &O,
        hash: gix::hash::Kind,
        tags: impl IntoIterator<Item = (&'t str, ObjectId)>,
        now: SystemTime,
    ) -> Activity
    where
        O: Find + FindHeader,
    {
        let mut a = Activity::default();
        for (name, id) in tags.into_iter().filter(|(name, _)| policy.protects(name)) {
            let v = verify_tag(policy, odb, hash, Request::new(name, id, crate::PUSH_ENVIRONMENT, now));
            if !v.accepted() {
                continue;
            }
            for l in v.layers.iter().filter(|l| l.valid()) {
                if let (Some(Principal::Person(name)), Some(t)) = (&l.signer, l.signed_at) {
                    a.times.entry(name.clone()).or_default().push(t);
                }
            }
        }
        for times in a.times.values_mut() {
            times.sort();
            times.dedup();
        }
        a
    }

    /// The person's latest accepted signature.
    pub fn latest(&self, person: &str) -> Option<SystemTime> {
        self.times.get(person).and_then(|t| t.last().copied())
    }

    /// The person's latest accepted signature strictly before `t`.
    pub fn before(&self, person: &str, t: SystemTime) -> Option<SystemTime> {
        self.times.get(person).and_then(|times| times.iter().rev().find(|x| **x < t).copied())
    }
}
