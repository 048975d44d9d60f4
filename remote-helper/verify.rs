//! Verdicts on the tags the listing cannot judge by name, before git sees a single ref: each
//! protected tag checked by the core against this environment's rules, each unprotected tag
//! object checked for a wrapped protected tag, over tag objects fetched into the per-URL
//! [`TagCache`]. Every decision is the core's (`Repo::verify`, `refs::smuggled`); this module
//! only gathers the objects and remembers accepted verdicts, so a fetch with nothing new stays
//! cheap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use git_signed_policy::refs::{self, Carried};
use git_signed_policy::{Policy, Repo, Request};
use git_signed_tool::progress::Progress;
use git_signed_tool::store::Cache;
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::{self, Remembered, Standing, TagCache};
use crate::fetch::Prefetch;
use crate::listing::{Hidden, Listing, TagVerdict};
use crate::protocol::Ref;

/// Whose rules the tags of one mirror are verified by.
pub struct Tags<'a> {
    /// The policy.
    pub policy: &'a Arc<Policy>,
    /// The environment whose rules apply.
    pub environment: &'a str,
    /// The mirror (names the tag cache).
    pub url: &'a str,
    /// The mirror's object format.
    pub hash: gix::hash::Kind,
    /// Whether git wants progress shown (`option progress`).
    pub progress: bool,
    /// A clone's transfer, if it came first: verification that needs tag objects waits for
    /// it and reads them there, and the tag cache keeps those that verified.
    pub arrived: Option<&'a Prefetch>,
}

/// The record of one verification of a mirror's protected tags ([`TagCache::verified`]).
pub struct Record {
    digest: String,
    hidden: Vec<(String, Hidden)>,
    standing: Standing,
}

impl Record {
    fn write(&self, cache: &TagCache) -> Result<(), cache::Error> {
        cache.verified(&self.digest, self.hidden.iter().map(|(name, why)| (name, why)), self.standing)
    }
}

/// What a verification leaves to write into the cache: the facts learned and the accepted
/// verdicts; the tag objects (and their commits) a clone's transfer brought that the cache
/// lacks; and the record, once the cache holds every chain it lists.
pub struct Later {
    accepted: Vec<Accepted>,
    adopt: Vec<ObjectId>,
    record: Option<Record>,
}

impl Later {
    /// Write the facts and verdicts; then, once the clone's objects are in the repository at
    /// the `git_dir` that `objects` gives (none: they never arrived), copy those to keep, and
    /// write the record.
    fn write(
        self,
        cache: &mut TagCache,
        digest: &str,
        objects: impl FnOnce() -> Option<PathBuf>,
    ) -> Result<(), cache::Error> {
        cache.store.save();
        cache.remember(digest, &self.accepted)?;
        if self.adopt.is_empty() {
            return self.record.map_or(Ok(()), |r| r.write(cache));
        }
        // Without the chains in the cache, a record would list tags it cannot supply.
        let Some(git_dir) = objects() else { return Ok(()) };
        cache.adopt(&git_dir, &self.adopt)?;
        self.record.map_or(Ok(()), |r| r.write(cache))
    }
}

/// The tag objects of accepted chains and the commits they reach.
fn accepted_chains(accepted: &[Accepted]) -> impl Iterator<Item = ObjectId> + '_ {
    accepted.iter().flat_map(|(_, _, m)| m.chain.iter().chain([&m.commit])).copied()
}

/// The cache's writes after a verification whose tag objects came with a clone's transfer,
/// made in their own thread beside the fetch. The cache stays locked until they end.
pub struct Keeping {
    /// Where the transfer's objects went, sent once the fetch batch stored them; dropped
    /// unsent when they never will be.
    arrived: Option<std::sync::mpsc::Sender<PathBuf>>,
    writing: Option<std::thread::JoinHandle<Result<(), cache::Error>>>,
}

impl Keeping {
    fn start(later: Later, mut cache: TagCache, digest: String) -> Keeping {
        let (arrived, stored) = std::sync::mpsc::channel();
        let writing = std::thread::spawn(move || later.write(&mut cache, &digest, || stored.recv().ok()));
        Keeping { arrived: Some(arrived), writing: Some(writing) }
    }

    /// The transfer's objects are now in the repository at `git_dir`.
    pub fn stored(&mut self, git_dir: &std::path::Path) {
        if let Some(arrived) = self.arrived.take() {
            let _ = arrived.send(git_dir.to_owned());
        }
    }

    /// Wait for the writes.
    pub fn finish(mut self) -> Result<(), cache::Error> {
        self.arrived = None;
        self.writing.take().map_or(Ok(()), |w| w.join().unwrap_or(Err(cache::Error::Writer)))
    }
}

impl Drop for Keeping {
    fn drop(&mut self) {
        self.arrived = None;
        if let Some(writing) = self.writing.take() {
            let _ = writing.join();
        }
    }
}

/// The verdicts on the tags [`Tags::verdicts`] was given, each in the order given.
#[derive(Default)]
pub struct Verdicts {
    /// On each protected tag.
    pub protected: Vec<TagVerdict>,
    /// On each unprotected tag object.
    pub unprotected: Vec<TagVerdict>,
    /// The cache's writes still being made, when a clone's transfer brought tag objects the
    /// cache lacks ([`Keeping::finish`] them).
    pub keeping: Option<Keeping>,
}

/// What the tag cache remembers of some tags ([`Tags::remembered`]).
struct Recalled<'t> {
    /// The remembered verdict on each tag, where it still holds.
    verdicts: Vec<Option<TagVerdict>>,
    /// The tags left to check.
    pending: Vec<&'t Ref>,
    /// How long the remembered verdicts stand.
    standing: Standing,
}

/// The core's verdicts on the tags left to check ([`Tags::check`]).
struct Checked {
    /// On each tag, in order.
    verdicts: Vec<TagVerdict>,
    /// The accepted ones, to remember.
    accepted: Vec<Accepted>,
    /// When the first of them (or the signing history) can change by time alone.
    until: Option<SystemTime>,
    /// The tag objects walked for them.
    walked: gix::hashtable::HashSet<ObjectId>,
}

/// An accepted verdict to remember: tag name, object, what it rested on.
type Accepted = (String, ObjectId, Remembered);

impl Tags<'_> {
    /// A verdict on each of `protected` (by the environment's rules) and of `unprotected` (no
    /// tag object in it claims a protected name), in their order.
    pub fn verdicts(&self, protected: &[&Ref], unprotected: &[&Ref]) -> Result<Verdicts, cache::Error> {
        if protected.is_empty() && unprotected.is_empty() {
            return Ok(Verdicts::default());
        }
        let mut cache = TagCache::open(self.url, self.hash)?;
        let (on_protected, later) = self.protected(&mut cache, protected)?;
        let on_unprotected = match unprotected.is_empty() {
            true => Vec::new(),
            false => self.unprotected(&cache, unprotected)?,
        };
        // The cache's writes go on beside the fetch, in the cache's own thread.
        let keeping = later.map(|later| Keeping::start(later, cache, self.digest()));
        Ok(Verdicts { protected: on_protected, unprotected: on_unprotected, keeping })
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

    /// Protected tags: remembered verdicts where they still hold, the core's verdict otherwise;
    /// and, when a clone's transfer brought tag objects the cache lacks, the cache's writes,
    /// left to be made beside the fetch.
    fn protected(&self, cache: &mut TagCache, tags: &[&Ref]) -> Result<(Vec<TagVerdict>, Option<Later>), cache::Error> {
        let digest = self.digest();
        let snapshot = cache::snapshot_digest(&digest, tags.iter().map(|r| (tag_name(r), r.id, r.peeled)));
        // The same advertisement as last time, every verdict standing: nothing to read but the
        // reasons for what was hidden; the chains stay in the cache until a fetch needs them.
        if let Some(last) = cache.same_as_last_time(&snapshot) {
            let verdict = |r: &&Ref| match last.hidden.get(&r.name) {
                Some(why) => Err(why.clone()),
                None => Ok(None),
            };
            return Ok((tags.iter().map(verdict).collect(), None));
        }
        let Recalled { verdicts: remembered, pending, standing: Standing { until, since } } =
            self.remembered(cache, &digest, tags)?;
        let mut until = until;
        let mut later = None;
        let mut checked = Vec::new();
        if !pending.is_empty() {
            crate::trace("remembered");
            if let Some(arrived) = self.arrived {
                let limit = tags.len().saturating_mul(git_signed_policy::layer::MAX_LAYERS);
                arrived.learn(Arc::clone(self.policy), cache.store.shared_facts(), self.hash, limit);
            }
            let repo = self.objects(cache, tags)?;
            let early = self.arrived.map(Prefetch::learned).unwrap_or_default();
            crate::trace(&format!("learned early: {}", early.len()));
            cache.store.hold_facts(early.iter().cloned());
            crate::trace("objects");
            let Checked { verdicts: on_pending, accepted, until: checked_until, walked } =
                self.check(&repo, &mut cache.store, tags, &pending)?;
            // Kept: those of layers the verdicts rest on, not whatever else the pack held.
            cache.store.learn_facts(early.into_iter().filter(|(id, _)| walked.contains(id)));
            crate::trace("checked");
            checked = on_pending;
            until = until.into_iter().chain(checked_until).min();
            // What a clone brought and verified goes into the tag cache once it is stored.
            let adopt = match self.arrived {
                Some(_) => cache.missing(&accepted_chains(&accepted).collect::<Vec<_>>())?,
                None => Vec::new(),
            };
            later = Some(Later { accepted, adopt, record: None });
        }
        // The remembered verdicts, and in their gaps those on the pending tags, in order.
        let mut checked = checked.into_iter();
        let not_verified = || Err(Hidden::Failed("it was not verified".into()));
        let verdicts: Vec<TagVerdict> =
            remembered.into_iter().map(|v| v.unwrap_or_else(|| checked.next().unwrap_or_else(not_verified))).collect();
        let hidden: Vec<(String, Hidden)> = tags
            .iter()
            .zip(&verdicts)
            .filter_map(|(r, v)| v.as_ref().err().map(|why| (r.name.clone(), why.clone())))
            .collect();
        let record = Record { digest: snapshot, hidden, standing: Standing { until, since } };
        match later {
            // Written beside the fetch; the record only once the cache holds every chain it
            // lists (a later listing from the record reads the chains there).
            Some(later) if !later.adopt.is_empty() => Ok((verdicts, Some(Later { record: Some(record), ..later }))),
            Some(later) => {
                later.write(cache, &digest, || None)?;
                record.write(cache)?;
                Ok((verdicts, None))
            }
            None => {
                record.write(cache)?;
                Ok((verdicts, None))
            }
        }
    }

    /// Where the tag objects of `tags` are read: what a clone's transfer brought, or else the
    /// tag cache, after fetching those it lacks.
    fn objects(&self, cache: &TagCache, tags: &[&Ref]) -> Result<Repo, cache::Error> {
        if let Some(arrived) = self.arrived {
            // Waited for without the cache's lock: a clone's transfer can take minutes.
            let quarantine = cache.unlocked(|| arrived.arrived())??;
            return Ok(quarantine.repo()?);
        }
        let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
        cache.fetch(&cache.missing(&ids)?)?;
        cache.repo()
    }

    /// What the tag cache remembers of `tags`.
    ///
    /// A remembered accepted verdict holds while the cache has its chain (tag-following copies
    /// it from there) and the commit it reached is the one the mirror advertises now (the `^{}`
    /// line is what git follows; a lie sends the tag back to the core, T28) — except under
    /// `inactivity`, whose verdicts read every other tag, so all are judged again.
    fn remembered<'t>(&self, cache: &TagCache, digest: &str, tags: &[&'t Ref]) -> Result<Recalled<'t>, cache::Error> {
        let known = if self.policy.inactivity.is_none() { cache.verdicts(digest) } else { Default::default() };
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
                    verdicts.push(Some(Ok(Some(m.chain.clone()))));
                }
                None => {
                    verdicts.push(None);
                    pending.push(*r);
                }
            }
        }
        Ok(Recalled { verdicts, pending, standing })
    }

    /// The core's verdicts on `pending`. `tags` is every protected tag: the signing history
    /// the inactivity rule reads. Signature facts in `store` are used and added to.
    fn check(&self, repo: &Repo, store: &mut Cache, tags: &[&Ref], pending: &[&Ref]) -> Result<Checked, cache::Error> {
        let policy = self.policy;
        let now = SystemTime::now();
        // The history pass walks every tag and checks its signatures: what it finds of the
        // pending ones is kept for their verdicts here.
        let (history, walks) = if policy.inactivity.is_some() {
            let all: Vec<(String, ObjectId)> = tags.iter().map(|r| (tag_name(r).to_owned(), r.id)).collect();
            let pending_ids: gix::hashtable::HashSet<ObjectId> = pending.iter().map(|r| r.id).collect();
            let progress = Progress::new("checking the signing history", all.len()).only_if(self.progress);
            let keep = |_: &str, id: ObjectId| pending_ids.contains(&id);
            let pass = repo.history_keeping(policy, now, Some(store.facts()), &all, &keep, &|| progress.tick())?;
            store.learn_facts(pass.learned);
            (Some(pass.activity), Some(pass.walks))
        } else {
            (None, None)
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
                        .with_walks(walks.as_ref())
                })
                .collect();
            let progress = Progress::new("verifying tags", requests.len()).only_if(self.progress);
            crate::trace("requests");
            repo.verify_all_into(policy, &requests, &|| progress.tick(), &Judged::from)?
        };
        crate::trace("verified");
        for judged in &checked {
            store.learn_facts(judged.learned.iter().cloned());
        }
        crate::trace("learned");
        let history_until = history.as_ref().and_then(|h| h.holds_until());
        let until = checked.iter().filter_map(|j| j.until).chain(history_until).min();
        let mut verdicts = Vec::new();
        let mut accepted = Vec::new();
        let walked = checked.iter().flat_map(|j| j.walked.iter().copied()).collect();
        for (r, judged) in pending.iter().zip(checked) {
            match judged.outcome {
                Ok((chain, commit)) => {
                    // Under `inactivity` a verdict also rests on the history, and lasts as long.
                    let until = judged.until.into_iter().chain(history_until).min();
                    verdicts.push(Ok(Some(chain.clone())));
                    accepted.push((tag_name(r).to_owned(), r.id, Remembered { chain, commit, until, at: now }));
                }
                Err(problems) => verdicts.push(Err(Hidden::Failed(problems))),
            }
        }
        Ok(Checked { verdicts, accepted, until, walked })
    }

    /// Unprotected tag objects: listed only when no tag object in them claims a protected name.
    fn unprotected(&self, cache: &TagCache, tags: &[&Ref]) -> Result<Vec<TagVerdict>, cache::Error> {
        let repo = self.objects(cache, tags)?;
        let verdict = |r: &Ref| match refs::smuggled(self.policy, &repo.repo.objects, repo.hash(), r.id) {
            Ok(Carried::Harmless(chain)) => Ok(Some(chain)),
            _ => Err(Hidden::Quiet("a tag object in it claims a protected name".into())),
        };
        Ok(tags.iter().map(|r| verdict(r)).collect())
    }
}

/// What the helper keeps of a verdict.
struct Judged {
    /// Accepted: its chain and the commit it reaches; or its problems, in one line.
    outcome: Result<(Vec<ObjectId>, ObjectId), String>,
    /// When time alone changes it.
    until: Option<SystemTime>,
    /// The signature facts it learned.
    learned: Vec<(ObjectId, git_signed_policy::SignatureFact)>,
    /// The tag objects walked, accepted or not.
    walked: Vec<ObjectId>,
}

impl From<git_signed_policy::Verdict> for Judged {
    fn from(verdict: git_signed_policy::Verdict) -> Judged {
        let outcome = match (verdict.accepted(), verdict.commit()) {
            (true, Some(commit)) => Ok((verdict.chain().to_vec(), commit)),
            _ => Err(verdict.problems().iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
        };
        Judged {
            outcome,
            until: verdict.holds_until(),
            learned: verdict.learned().to_vec(),
            walked: verdict.chain().to_vec(),
        }
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
