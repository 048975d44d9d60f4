//! Verdicts on the tags the listing cannot judge by name, before git sees a single ref: each
//! protected tag checked by the core against this environment's rules, each unprotected tag
//! object checked for a wrapped protected tag, over tag objects fetched into the per-URL
//! [`TagCache`]. Every decision is the core's (`Repo::verify`, `refs::smuggled`); this module
//! only gathers the objects and remembers accepted verdicts, so a fetch with nothing new stays
//! cheap.

use std::collections::HashMap;
use std::time::SystemTime;

use git_signed_policy::refs::{self, Carried};
use git_signed_policy::{Policy, Repo, Request};
use git_signed_tool::progress::Progress;
use git_signed_tool::store::Cache;
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::{self, Remembered, Standing, TagCache};
use crate::listing::{Hidden, Listing, TagVerdict};
use crate::protocol::Ref;

/// Whose rules the tags of one mirror are verified by.
pub struct Tags<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The environment whose rules apply.
    pub environment: &'a str,
    /// The mirror (names the tag cache).
    pub url: &'a str,
    /// The mirror's object format.
    pub hash: gix::hash::Kind,
    /// Whether git wants progress shown (`option progress`).
    pub progress: bool,
}

/// The verdicts, by ref name.
type Verdicts = Vec<(String, TagVerdict)>;

/// An accepted verdict to remember: tag name, object, what it rested on.
type Accepted = (String, ObjectId, Remembered);

impl Tags<'_> {
    /// A verdict on each of `protected` (by the environment's rules) and of `unprotected` (no
    /// tag object in it claims a protected name).
    pub fn verdicts(&self, protected: &[&Ref], unprotected: &[&Ref]) -> Result<Verdicts, cache::Error> {
        if protected.is_empty() && unprotected.is_empty() {
            return Ok(Vec::new());
        }
        let mut cache = TagCache::open(self.url, self.hash)?;
        let mut verdicts = self.protected(&mut cache, protected)?;
        if !unprotected.is_empty() {
            verdicts.extend(self.unprotected(&cache, unprotected)?);
        }
        Ok(verdicts)
    }

    /// Fill in the chains `listing` left in the tag cache (a fetch needs them), from the
    /// verdicts remembered for this policy and environment. If one is gone (the cache was
    /// cleared meanwhile), the next listing verifies everything again, and this fetch fails.
    pub fn resolve(&self, listing: &mut Listing) -> Result<(), cache::Error> {
        let cache = TagCache::open(self.url, self.hash)?;
        let known = cache.verdicts(&self.digest());
        listing.resolve(|name, id| known.get(&(name.to_owned(), id)).map(|m| (m.chain.clone(), m.commit))).map_err(
            |tag| {
                cache.forget_snapshot();
                cache::Error::Forgotten(tag)
            },
        )
    }

    fn digest(&self) -> String {
        format!("{}:{}", self.policy.fingerprint, self.environment)
    }

    /// Protected tags: remembered verdicts where they still hold, the core's verdict otherwise.
    fn protected(&self, cache: &mut TagCache, tags: &[&Ref]) -> Result<Verdicts, cache::Error> {
        let digest = self.digest();
        let snapshot = cache::snapshot_digest(&digest, tags.iter().map(|r| (tag_name(r), r.id, r.peeled)));
        // The same advertisement as last time, every verdict standing: nothing to read but the
        // reasons for what was hidden; the chains stay in the cache until a fetch needs them.
        if let Some(last) = cache.same_as_last_time(&snapshot) {
            let verdict = |r: &&Ref| match last.hidden.get(&r.name) {
                Some(why) => (r.name.clone(), Err(why.clone())),
                None => (r.name.clone(), Ok(None)),
            };
            return Ok(tags.iter().map(verdict).collect());
        }
        let (mut verdicts, pending, Standing { until, since }) = self.remembered(cache, &digest, tags)?;
        let mut until = until;
        if !pending.is_empty() {
            let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
            cache.fetch(&cache.missing(&ids)?)?;
            let repo = cache.repo()?;
            let (checked, accepted, checked_until) = self.check(&repo, &mut cache.store, tags, &pending)?;
            cache.store.save();
            cache.remember(&digest, &accepted)?;
            verdicts.extend(checked);
            until = until.into_iter().chain(checked_until).min();
        }
        let hidden = verdicts.iter().filter_map(|(name, v)| v.as_ref().err().map(|why| (name, why)));
        cache.verified(&snapshot, hidden, Standing { until, since })?;
        Ok(verdicts)
    }

    /// The remembered verdicts that still hold for `tags`, the tags that need checking, and
    /// how long those remembered stand.
    ///
    /// A remembered accepted verdict holds while the cache has its chain (tag-following copies
    /// it from there) and the commit it reached is the one the mirror advertises now (the `^{}`
    /// line is what git follows; a lie sends the tag back to the core, T28) — except under
    /// `inactivity`, whose verdicts read every other tag, so all are judged again.
    fn remembered<'t>(
        &self,
        cache: &TagCache,
        digest: &str,
        tags: &[&'t Ref],
    ) -> Result<(Verdicts, Vec<&'t Ref>, Standing), cache::Error> {
        let known = if self.policy.inactivity.is_none() { cache.verdicts(digest) } else { HashMap::new() };
        let cached = cache.repo()?;
        let present = |id: &ObjectId| matches!(cached.repo.objects.try_header(id), Ok(Some(_)));
        let mut verdicts = Vec::new();
        let mut pending = Vec::new();
        let mut standing = Standing::default();
        for r in tags {
            let remembered = known
                .get(&(tag_name(r).to_owned(), r.id))
                .filter(|m| Some(m.commit) == r.peeled && m.chain.iter().all(present));
            match remembered {
                Some(m) => {
                    standing.until = standing.until.into_iter().chain(m.until).min();
                    standing.since = standing.since.into_iter().chain([m.at]).min();
                    verdicts.push((r.name.clone(), Ok(Some(m.chain.clone()))));
                }
                None => pending.push(*r),
            }
        }
        Ok((verdicts, pending, standing))
    }

    /// The core's verdict on each of `pending`, the accepted ones to remember, and when the
    /// first of them (or the signing history) can change by time alone. `tags` is every
    /// protected tag: the signing history the inactivity rule reads. Signature facts in
    /// `store` are used and added to.
    fn check(
        &self,
        repo: &Repo,
        store: &mut Cache,
        tags: &[&Ref],
        pending: &[&Ref],
    ) -> Result<(Verdicts, Vec<Accepted>, Option<SystemTime>), cache::Error> {
        let policy = self.policy;
        let now = SystemTime::now();
        let history = if policy.inactivity.is_some() {
            let all: Vec<(String, ObjectId)> = tags.iter().map(|r| (tag_name(r).to_owned(), r.id)).collect();
            let progress = Progress::new("checking the signing history", all.len()).only_if(self.progress);
            let (activity, learned) = repo.history_of(policy, now, Some(store.facts()), &all, &|| progress.tick())?;
            store.learn_facts(learned);
            Some(activity)
        } else {
            None
        };
        let checked = {
            let facts = Some(store.facts());
            let requests: Vec<Request<'_>> = pending
                .iter()
                .map(|r| {
                    Request::new(tag_name(r), r.id, self.environment, now)
                        .advertised(r.peeled)
                        .with_activity(history.as_ref())
                        .with_facts(facts)
                })
                .collect();
            let progress = Progress::new("verifying tags", requests.len()).only_if(self.progress);
            repo.verify_all_counted(policy, &requests, &|| progress.tick())?
        };
        store.learn(&checked);
        let history_until = history.as_ref().and_then(|h| h.holds_until());
        let until = checked.iter().filter_map(|v| v.holds_until()).chain(history_until).min();
        let mut verdicts = Vec::new();
        let mut accepted = Vec::new();
        for (r, verdict) in pending.iter().zip(checked) {
            let tag = tag_name(r);
            if let (true, Some(commit)) = (verdict.accepted(), verdict.commit()) {
                // Under `inactivity` a verdict also rests on the history, and lasts as long.
                let until = verdict.holds_until().into_iter().chain(history_until).min();
                let chain = verdict.chain().to_vec();
                accepted.push((tag.to_owned(), r.id, Remembered { chain, commit, until, at: now }));
                verdicts.push((r.name.clone(), Ok(Some(verdict.chain().to_vec()))));
            } else {
                let problems: Vec<String> = verdict.problems().iter().map(ToString::to_string).collect();
                verdicts.push((r.name.clone(), Err(Hidden::Failed(problems.join("; ")))));
            }
        }
        Ok((verdicts, accepted, until))
    }

    /// Unprotected tag objects: listed only when no tag object in them claims a protected name.
    fn unprotected(&self, cache: &TagCache, tags: &[&Ref]) -> Result<Verdicts, cache::Error> {
        let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
        cache.fetch(&cache.missing(&ids)?)?;
        let repo = cache.repo()?;
        let verdict = |r: &Ref| match refs::smuggled(self.policy, &repo.repo.objects, repo.hash(), r.id) {
            Ok(Carried::Harmless(chain)) => Ok(Some(chain)),
            _ => Err(Hidden::Quiet("a tag object in it claims a protected name".into())),
        };
        Ok(tags.iter().map(|r| (r.name.clone(), verdict(r))).collect())
    }
}

/// The tag's name without `refs/tags/`.
fn tag_name(r: &Ref) -> &str {
    r.name.strip_prefix(refs::TAGS).unwrap_or(&r.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_verified_under_the_name_it_is_listed_as() {
        let id = ObjectId::null(gix::hash::Kind::Sha1);
        let r = |name: &str| Ref { name: name.to_owned(), id, peeled: None };
        assert_eq!(tag_name(&r("refs/tags/deploy/2")), "deploy/2");
        // Only one prefix comes off: this tag is named `refs/tags/deploy/2`, and its layers must say so.
        assert_eq!(tag_name(&r("refs/tags/refs/tags/deploy/2")), "refs/tags/deploy/2");
    }
}
