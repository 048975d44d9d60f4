//! Verdicts on the tags the listing cannot judge by name, before git sees a single ref: each
//! protected tag checked by the core against this environment's rules, each unprotected tag
//! object checked for a wrapped protected tag, over tag objects fetched into the per-URL
//! [`TagCache`]. Every decision is the core's (`Repo::verify`, `refs::smuggled`); this module
//! only gathers the objects and remembers accepted verdicts, so a fetch with nothing new stays
//! cheap.

use std::collections::HashMap;
use std::time::SystemTime;

use git_signed_policy::refs::{self, Carried};
use git_signed_policy::{Activity, Policy, Repo, Request};
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::{self, Remembered, TagCache};
use crate::listing::{Hidden, TagVerdict};
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
}

/// The verdicts, by ref name.
type Verdicts = Vec<(String, TagVerdict)>;

impl Tags<'_> {
    /// A verdict on each of `protected` (by the environment's rules) and of `unprotected` (no
    /// tag object in it claims a protected name).
    pub fn verdicts(&self, protected: &[&Ref], unprotected: &[&Ref]) -> Result<Verdicts, cache::Error> {
        if protected.is_empty() && unprotected.is_empty() {
            return Ok(Vec::new());
        }
        let cache = TagCache::open(self.url, self.hash)?;
        let mut verdicts = self.protected(&cache, protected)?;
        if !unprotected.is_empty() {
            verdicts.extend(self.unprotected(&cache, unprotected)?);
        }
        Ok(verdicts)
    }

    /// Protected tags: remembered verdicts where they still hold, the core's verdict otherwise.
    fn protected(&self, cache: &TagCache, tags: &[&Ref]) -> Result<Verdicts, cache::Error> {
        let digest = format!("{}:{}", self.policy.fingerprint, self.environment);
        let (mut verdicts, pending) = self.remembered(cache, &digest, tags)?;
        if pending.is_empty() {
            return Ok(verdicts);
        }
        let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
        cache.fetch(&cache.missing(&ids)?)?;
        let (checked, accepted) = self.check(&cache.repo()?, tags, &pending);
        // The inactivity rule depends on the whole signing history, not on one tag alone, so
        // with it no verdict is remembered.
        if self.policy.inactivity.is_none() {
            cache.remember(&digest, &accepted)?;
        }
        verdicts.extend(checked);
        Ok(verdicts)
    }

    /// The remembered verdicts that still hold for `tags`, and the tags that need checking.
    /// A remembered verdict holds while the cache has its chain (tag-following copies it from
    /// there) and the commit it reached is the one the mirror advertises now (the `^{}` line
    /// is what git follows; a lie sends the tag back to the core, T28).
    fn remembered<'t>(
        &self,
        cache: &TagCache,
        digest: &str,
        tags: &[&'t Ref],
    ) -> Result<(Verdicts, Vec<&'t Ref>), cache::Error> {
        let known = if self.policy.inactivity.is_some() { HashMap::new() } else { cache.verdicts(digest) };
        let cached = cache.repo()?;
        let present = |id: &ObjectId| matches!(cached.repo.objects.try_header(id), Ok(Some(_)));
        let mut verdicts = Vec::new();
        let mut pending = Vec::new();
        for r in tags {
            let remembered = known
                .get(&(tag_name(r).to_owned(), r.id))
                .filter(|m| Some(m.commit) == r.peeled && m.chain.iter().all(present));
            match remembered {
                Some(m) => verdicts.push((r.name.clone(), Ok(m.chain.clone()))),
                None => pending.push(*r),
            }
        }
        Ok((verdicts, pending))
    }

    /// The core's verdict on each of `pending`, and the accepted ones to remember. `tags` is
    /// every protected tag: the signing history the inactivity rule reads.
    fn check(&self, repo: &Repo, tags: &[&Ref], pending: &[&Ref]) -> (Verdicts, Vec<(String, ObjectId, Remembered)>) {
        let policy = self.policy;
        let now = SystemTime::now();
        let history = || tags.iter().map(|r| (tag_name(r), r.id));
        let activity =
            policy.inactivity.map(|_| Activity::from_tags(policy, &repo.repo.objects, repo.hash(), history(), now));
        let mut verdicts = Vec::new();
        let mut accepted = Vec::new();
        for r in pending {
            let tag = tag_name(r);
            let request =
                Request::new(tag, r.id, self.environment, now).advertised(r.peeled).with_activity(activity.as_ref());
            let verdict = repo.verify(policy, request);
            if let (true, Some(commit)) = (verdict.accepted(), verdict.commit()) {
                accepted.push((tag.to_owned(), r.id, Remembered { chain: verdict.chain().to_vec(), commit }));
                verdicts.push((r.name.clone(), Ok(verdict.chain().to_vec())));
            } else {
                let problems: Vec<String> = verdict.problems().iter().map(ToString::to_string).collect();
                verdicts.push((r.name.clone(), Err(Hidden::Failed(problems.join("; ")))));
            }
        }
        (verdicts, accepted)
    }

    /// Unprotected tag objects: listed only when no tag object in them claims a protected name.
    fn unprotected(&self, cache: &TagCache, tags: &[&Ref]) -> Result<Verdicts, cache::Error> {
        let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
        cache.fetch(&cache.missing(&ids)?)?;
        let repo = cache.repo()?;
        let verdict = |r: &Ref| match refs::smuggled(self.policy, &repo.repo.objects, repo.hash(), r.id) {
            Ok(Carried::Harmless(chain)) => Ok(chain),
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
