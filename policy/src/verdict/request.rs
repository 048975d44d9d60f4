//! What is asked: which tag, for which environment, when, and what the asker knows besides
//! the tag (the push's old value, the transition to expect, the commit a mirror advertised,
//! the signing history). Everything an adapter knows goes in here, never into the verdict.

use std::time::SystemTime;

use gix::ObjectId;

use super::{Activity, Walks};
use crate::facts::Facts;

/// What a verdict is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A deploy tag under `refs/tags/`: every matching rule must hold.
    Deploy,
    /// A half-signed proposal under `refs/signed/proposed/`: every layer must be validly
    /// signed by someone the policy knows; the rules are not applied yet.
    Proposal,
}

/// The transition a verifier expects a machine layer to record (`git signed promote`).
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// Tested as the transition from tag `tag`, whose local chain of tag objects is `chain`.
    From {
        /// The previous deploy tag's name.
        tag: &'a str,
        /// Its tag objects: the recorded object must be one of them (layers added later to
        /// the previous tag don't break the match).
        chain: &'a [ObjectId],
    },
    /// Tested as the environment's first deploy (`git signed promote --initial`).
    Initial,
}

/// What to verify, where and when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The tag name, without `refs/tags/`.
    pub tag: &'a str,
    /// The object the ref points at.
    pub id: ObjectId,
    /// The environment whose rules apply (`push` at the mirror).
    pub environment: &'a str,
    /// The current time.
    pub now: SystemTime,
    /// A deploy tag or a proposal.
    pub purpose: Purpose,
    /// At push: `Some(old value)` (`None` inside for a new ref). The layers of the old value
    /// are known; every other layer is new and must be valid now and recent, and the new value
    /// must wrap the old one.
    pub push: Option<Option<ObjectId>>,
    /// Past accepted signatures, for the policy's `inactivity` rule (not applied without it).
    pub activity: Option<&'a Activity>,
    /// A transition a valid machine layer must record.
    pub transition: Option<Expected<'a>>,
    /// The commit the serving mirror advertised for the tag (`^{}`): it must be the real one.
    pub advertised: Option<ObjectId>,
    /// Signature facts already established: a layer found here is not checked again while
    /// its certificate is unchanged (see [`crate::facts`]).
    pub facts: Option<&'a Facts>,
    /// Tags already examined for another environment (a signing history): a tag found there
    /// is not read or checked again (see [`Walks`] for when they apply).
    pub walks: Option<&'a Walks>,
}

impl<'a> Request<'a> {
    /// Verify deploy tag `tag` (object `id`) for `environment` at time `now`.
    pub fn new(tag: &'a str, id: ObjectId, environment: &'a str, now: SystemTime) -> Request<'a> {
        Request {
            tag,
            id,
            environment,
            now,
            purpose: Purpose::Deploy,
            push: None,
            activity: None,
            transition: None,
            advertised: None,
            facts: None,
            walks: None,
        }
    }

    /// Judge as a push that replaces `old` (`None` when the ref is created).
    pub fn at_push(mut self, old: Option<ObjectId>) -> Request<'a> {
        self.push = Some(old.filter(|id| !id.is_null()));
        self
    }

    /// Judge as a proposal, not a deploy tag.
    pub fn proposal(mut self) -> Request<'a> {
        self.purpose = Purpose::Proposal;
        self
    }

    /// Apply the `inactivity` rule using `activity`.
    pub fn with_activity(mut self, activity: Option<&'a Activity>) -> Request<'a> {
        self.activity = activity;
        self
    }

    /// Also require a valid machine layer recording `transition`.
    pub fn expect_transition(mut self, transition: Expected<'a>) -> Request<'a> {
        self.transition = Some(transition);
        self
    }

    /// Reuse the signature facts in `facts`; the verdict lists what it learned besides.
    pub fn with_facts(mut self, facts: Option<&'a Facts>) -> Request<'a> {
        self.facts = facts;
        self
    }

    /// Reuse the examinations in `walks` where they apply.
    pub fn with_walks(mut self, walks: Option<&'a Walks>) -> Request<'a> {
        self.walks = walks;
        self
    }

    /// The commit a mirror advertised for the tag, which must be the one the chain reaches.
    pub fn advertised(mut self, commit: Option<ObjectId>) -> Request<'a> {
        self.advertised = commit;
        self
    }
}
