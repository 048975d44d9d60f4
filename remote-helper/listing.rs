//! `list`: the upstream's refs as this environment may see them. Branches pass through;
//! a protected tag is listed only when it satisfies the environment's rules; everything that
//! could stand in for one is left out: what the core's `refs::classify` forbids (refs git
//! would resolve for a protected name, names that block one, replace refs), symbolic refs
//! other than `HEAD` → a listed branch, and refs outside `refs/tags/` pointing at tag objects. Verification happens here, before git sees a
//! single ref, using tag objects fetched into the [`TagCache`].

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use git_signed_policy::refs::Carried;
use git_signed_policy::verdict::Request;
use git_signed_policy::{Activity, Forbidden, Policy, RefClass, refs};
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::{Chain, TagCache};
use crate::protocol::{Ref, Symref};
use crate::upstream::Advertisement;

/// The filtered view: what `list` printed, and which tag objects may enter the repository.
pub struct Listing {
    pub refs: Vec<Ref>,
    pub symrefs: Vec<Symref>,
    pub hash: gix::hash::Kind,
    /// Every tag object of every listed, verified tag: the only tag objects a fetch may store.
    pub allowed_tags: HashSet<ObjectId>,
    /// The chains of listed tags, for tag-following: (tag id, peeled commit, chain innermost first).
    pub chains: Vec<(ObjectId, ObjectId, Vec<ObjectId>)>,
}

/// Why a ref is not listed.
enum Hidden {
    /// A protected tag that failed verification, or a ref that would stand in for one:
    /// shown per ref, and fatal in strict mode.
    Failed(String),
    /// Unprotected tags, refs pointing at tag objects, replace refs: counted, detailed with -v.
    Quiet(String),
}

/// How this environment reads upstream's refs.
pub struct Judge<'a> {
    pub policy: &'a Policy,
    pub environment: &'a str,
    pub strict: bool,
    pub allow_unprotected: bool,
    /// The remote's fetch refspecs: a listed ref must not land under a name that the policy
    /// forbids (`git clone -o deploy` writes branch `7` as `refs/remotes/deploy/7`).
    pub refspecs: &'a [String],
    pub url: &'a str,
    pub verbosity: u32,
}

/// What the names alone decide: refs hidden for what they are called, and the tags whose
/// objects must be verified (protected) or inspected (unprotected, when allowed).
struct Sorted<'u> {
    hidden: HashMap<String, Hidden>,
    protected: Vec<&'u Ref>,
    unprotected: Vec<&'u Ref>,
}

/// Decide which of upstream's refs this environment sees.
pub fn filter(upstream: Advertisement, judge: &Judge<'_>) -> Result<Listing, crate::Error> {
    let Sorted { mut hidden, protected, unprotected } = sort(&upstream, judge);
    let mut allowed_tags = HashSet::new();
    let mut chains = Vec::new();
    if !protected.is_empty() || !unprotected.is_empty() {
        let cache = TagCache::open(judge.url, upstream.hash)?;
        let digest = format!("{}:{}", judge.policy.fingerprint, judge.environment);
        let mut accepted = Vec::new();
        for (r, verdict) in verify_protected(&cache, &digest, judge, &protected)? {
            match verdict {
                Ok(chain) => accepted.push((r, chain)),
                Err(why) => {
                    hidden.insert(r.name.clone(), Hidden::Failed(why));
                }
            }
        }
        let ids: Vec<ObjectId> = unprotected.iter().map(|r| r.id).collect();
        cache.fetch(&cache.missing(&ids)?)?;
        let repo = cache.repo()?;
        for r in unprotected {
            match refs::smuggled(judge.policy, &repo.repo.objects, repo.hash(), r.id) {
                Ok(Carried::Harmless(chain)) => accepted.push((r, chain)),
                _ => {
                    hidden.insert(r.name.clone(), Hidden::Quiet("a tag object in it claims a protected name".into()));
                }
            }
        }
        for (r, chain) in accepted {
            allowed_tags.extend(chain.iter().copied());
            chains.push((r.id, r.peeled.unwrap_or(r.id), chain));
        }
    }

    report_hidden(&upstream, &hidden, judge.strict, judge.verbosity)?;
    let refs: Vec<Ref> = upstream.refs.into_iter().filter(|r| !hidden.contains_key(&r.name)).collect();
    let listed: HashSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    // Only `HEAD` pointing at a listed, harmless branch (T23), and only while `HEAD` itself is
    // listed; every other symbolic ref was hidden by `sort`, its resolved value with it.
    let symrefs = upstream
        .symrefs
        .into_iter()
        .filter(|s| {
            listed.contains(s.target.as_str())
                && !hidden.contains_key(&s.name)
                && refs::check_symref(judge.policy, &s.name, &s.target).is_ok()
        })
        .collect::<Vec<_>>();
    Ok(Listing { refs, symrefs, hash: upstream.hash, allowed_tags, chains })
}

/// Judge every ref by its name (and whether it points at a tag object).
fn sort<'u>(upstream: &'u Advertisement, judge: &Judge<'_>) -> Sorted<'u> {
    let policy = judge.policy;
    let mut hidden = HashMap::new();
    for Symref { name, target } in &upstream.symrefs {
        if let Err(why) = refs::check_symref(policy, name, target) {
            let shown = name.starts_with(refs::TAGS) || refs::classify(policy, name) != RefClass::Other;
            let why = format!("{why}");
            hidden.insert(name.clone(), if shown { Hidden::Failed(why) } else { Hidden::Quiet(why) });
        }
    }
    let mut protected = Vec::new();
    let mut unprotected = Vec::new();
    for r in &upstream.refs {
        if hidden.contains_key(&r.name) {
            continue;
        }
        let why = match refs::classify(policy, &r.name) {
            RefClass::ProtectedTag(_) if r.peeled.is_none() => Hidden::Failed("lightweight tag, not signed".into()),
            RefClass::ProtectedTag(_) => {
                protected.push(r);
                continue;
            }
            RefClass::Forbidden(
                f @ (Forbidden::Shadows { .. } | Forbidden::Blocks { .. } | Forbidden::CaseFold { .. }),
            ) => Hidden::Failed(f.describe()),
            RefClass::Forbidden(f) => Hidden::Quiet(f.to_string()),
            RefClass::Proposal(_) => Hidden::Quiet("proposals are not deploy tags".into()),
            RefClass::Other if r.name.starts_with(refs::TAGS) && !judge.allow_unprotected => {
                Hidden::Quiet("no rule protects it".into())
            }
            RefClass::Other if r.name.starts_with(refs::TAGS) => match stored_as(policy, judge.refspecs, &r.name) {
                Some(why) => Hidden::Failed(why),
                None => {
                    if r.peeled.is_some() {
                        unprotected.push(r);
                    }
                    continue;
                }
            },
            RefClass::Other if r.peeled.is_some() => Hidden::Quiet("points at a tag object outside refs/tags/".into()),
            RefClass::Other => match stored_as(policy, judge.refspecs, &r.name) {
                Some(why) => Hidden::Failed(why),
                None => continue,
            },
        };
        hidden.insert(r.name.clone(), why);
    }
    Sorted { hidden, protected, unprotected }
}

/// Why `name` must be hidden because of the local name a fetch refspec gives it, if it must.
fn stored_as(policy: &Policy, refspecs: &[String], name: &str) -> Option<String> {
    // `git clone` stores the remote's `HEAD` where the refspec would put a branch named HEAD
    // (refs/remotes/<remote>/HEAD): `git clone -o deploy/7` would make it answer for deploy/7.
    let name = if name == "HEAD" { "refs/heads/HEAD" } else { name };
    refspecs.iter().filter_map(|spec| destination(spec, name)).filter(|local| local != name).find_map(|local| {
        match refs::classify(policy, &local) {
            // git refuses to store under an invalid name itself.
            RefClass::Other | RefClass::Forbidden(Forbidden::InvalidName) => None,
            RefClass::ProtectedTag(_) | RefClass::Proposal(_) => {
                Some(format!("it would be stored as {local}, a protected name"))
            }
            RefClass::Forbidden(f) => Some(format!("it would be stored as {local}: {}", f.describe())),
        }
    })
}

/// Where the fetch refspec `spec` stores the remote ref `name`, if it matches: git's rules
/// for one optional `*` on each side; negative (`^…`) refspecs store nothing.
fn destination(spec: &str, name: &str) -> Option<String> {
    let spec = spec.strip_prefix('+').unwrap_or(spec);
    let (src, dst) = spec.split_once(':')?;
    if src.starts_with('^') || dst.is_empty() {
        return None;
    }
    match (src.split_once('*'), dst.split_once('*')) {
        (Some((before, after)), Some((to_before, to_after))) => {
            let matched = name.strip_prefix(before)?.strip_suffix(after)?;
            Some(format!("{to_before}{matched}{to_after}"))
        }
        (None, None) if src == name => Some(dst.to_owned()),
        _ => None,
    }
}

/// A protected tag and its chain when accepted, or why not.
type Judged<'u> = (&'u Ref, Result<Chain, String>);

/// Each protected tag's verdict for this environment: its chain when accepted, else why not.
/// Accepted verdicts are remembered per policy and environment, and reused while the cache
/// still holds their chain (tag-following copies it from there).
fn verify_protected<'u>(
    cache: &TagCache,
    digest: &str,
    judge: &Judge<'_>,
    tags: &[&'u Ref],
) -> Result<Vec<Judged<'u>>, crate::cache::Error> {
    let policy = judge.policy;
    // The inactivity rule depends on the whole signing history, not on one tag alone, so
    // with it no verdict is reused.
    let known = if policy.inactivity.is_some() { HashMap::new() } else { cache.verdicts(digest) };
    let cached = cache.repo()?;
    let present = |id: &ObjectId| matches!(cached.repo.objects.try_header(id), Ok(Some(_)));
    let mut results = Vec::new();
    let mut pending = Vec::new();
    // A remembered verdict still needs the commit the mirror advertises now to be the one
    // the chain reaches: the `^{}` line is what git follows.
    let reaches = |tag: &str, r: &Ref| {
        let walked = git_signed_policy::layer::walk(&cached.repo.objects, cached.hash(), tag, r.id);
        walked.is_ok_and(|chain| Some(chain.commit) == r.peeled)
    };
    for r in tags {
        let tag = r.name.trim_start_matches(refs::TAGS);
        let remembered = known.get(&(tag.to_owned(), r.id)).filter(|chain| chain.iter().all(present));
        match remembered.filter(|_| reaches(tag, r)) {
            Some(chain) => results.push((*r, Ok(chain.clone()))),
            None => pending.push(*r),
        }
    }
    if pending.is_empty() {
        return Ok(results);
    }
    let ids: Vec<ObjectId> = tags.iter().map(|r| r.id).collect();
    cache.fetch(&cache.missing(&ids)?)?;
    let repo = cache.repo()?;
    let now = SystemTime::now();
    let names = |r: &&'u Ref| (r.name.trim_start_matches(refs::TAGS), r.id);
    let activity = policy
        .inactivity
        .map(|_| Activity::from_tags(policy, &repo.repo.objects, repo.hash(), tags.iter().map(names), now));
    let mut remembered = Vec::new();
    for r in pending {
        let tag = r.name.trim_start_matches(refs::TAGS);
        let request =
            Request::new(tag, r.id, judge.environment, now).advertised(r.peeled).with_activity(activity.as_ref());
        let verdict = repo.verify(policy, request);
        if verdict.accepted() {
            remembered.push((tag.to_owned(), r.id, verdict.chain().to_vec()));
            results.push((r, Ok(verdict.chain().to_vec())));
        } else {
            let problems: Vec<String> = verdict.problems().iter().map(ToString::to_string).collect();
            results.push((r, Err(problems.join("; "))));
        }
    }
    if policy.inactivity.is_none() {
        cache.remember(digest, &remembered)?;
    }
    Ok(results)
}

fn report_hidden(
    upstream: &Advertisement,
    hidden: &HashMap<String, Hidden>,
    strict: bool,
    verbosity: u32,
) -> Result<(), String> {
    let mut failed = Vec::new();
    let mut quiet = 0;
    for r in &upstream.refs {
        match hidden.get(&r.name) {
            Some(Hidden::Failed(why)) => failed.push(format!("{}: {why}", r.name)),
            Some(Hidden::Quiet(why)) => {
                quiet += 1;
                if verbosity >= 2 {
                    eprintln!("signed: hiding {}: {why}", r.name);
                }
            }
            None => {}
        }
    }
    if strict && !failed.is_empty() {
        return Err(format!(
            "{} protected ref(s) failed verification (signed.strict is set):\n  {}",
            failed.len(),
            failed.join("\n  ")
        ));
    }
    if verbosity >= 1 {
        for f in &failed {
            eprintln!("signed: hiding {f}");
        }
        if quiet > 0 && verbosity < 2 {
            eprintln!(
                "signed: hid {quiet} other ref(s) (unprotected tags, replace refs, tag objects outside refs/tags/); -v lists them"
            );
        }
    }
    Ok(())
}
