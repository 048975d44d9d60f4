//! `list`: the upstream's refs as this environment may see them. Branches pass through;
//! a protected tag is listed only when it satisfies the environment's rules; everything that
//! could smuggle an unverified tag (other refs pointing at tag objects, refs shadowing a
//! protected name, replace refs) is left out. Verification happens here, before git sees a
//! single ref, using tag objects fetched into the [`TagCache`].

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use git_signed_policy::verdict::Request;
use git_signed_policy::{Activity, Policy};
use gix::ObjectId;
use gix::objs::FindHeader;

use crate::cache::TagCache;
use crate::git;

/// One ref as upstream advertised it.
#[derive(Debug, Clone)]
pub struct RemoteRef {
    pub name: String,
    pub id: ObjectId,
    /// The `^{}` value when the ref points at a tag object.
    pub peeled: Option<ObjectId>,
}

/// What upstream has, before filtering.
pub struct Upstream {
    pub refs: Vec<RemoteRef>,
    /// `HEAD` and other symbolic refs: (name, target).
    pub symrefs: Vec<(String, String)>,
    pub hash: gix::hash::Kind,
}

/// The filtered view: what `list` printed, and which tag objects may enter the repository.
pub struct Listing {
    pub refs: Vec<RemoteRef>,
    pub symrefs: Vec<(String, String)>,
    pub hash: gix::hash::Kind,
    /// Every tag object of every listed, verified tag: the only tag objects a fetch may store.
    pub allowed_tags: HashSet<ObjectId>,
    /// The chains of listed tags, for tag-following: (tag id, peeled commit, chain innermost first).
    pub chains: Vec<(ObjectId, ObjectId, Vec<ObjectId>)>,
}

/// `git ls-remote --symref <url>`, parsed.
pub fn ls_remote(url: &str, git_dir: Option<&std::path::Path>) -> Result<Upstream, String> {
    let mut cmd = git::git(url, git_dir);
    cmd.args(["ls-remote", "--symref", url]);
    let out = git::run(cmd, None, "git ls-remote")?;
    let text = String::from_utf8(out).map_err(|_| "git ls-remote printed non-UTF-8 ref names".to_owned())?;
    let mut refs: Vec<RemoteRef> = Vec::new();
    let mut symrefs = Vec::new();
    let mut hash = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ref: ") {
            if let Some((target, name)) = rest.split_once('\t') {
                symrefs.push((name.to_owned(), target.to_owned()));
            }
            continue;
        }
        let Some((hex, name)) = line.split_once('\t') else {
            return Err(format!("unexpected ls-remote line {line:?}"));
        };
        let id = ObjectId::from_hex(hex.as_bytes()).map_err(|e| format!("bad object id in ls-remote: {e}"))?;
        hash.get_or_insert(id.kind());
        if let Some(base) = name.strip_suffix("^{}") {
            match refs.last_mut() {
                Some(last) if last.name == base => last.peeled = Some(id),
                _ => return Err(format!("ls-remote listed {name} without its ref")),
            }
        } else {
            refs.push(RemoteRef { name: name.to_owned(), id, peeled: None });
        }
    }
    Ok(Upstream { refs, symrefs, hash: hash.unwrap_or(gix::hash::Kind::Sha1) })
}

/// Why a ref is not listed.
enum Hidden {
    /// A protected tag that failed verification: shown per tag, and fatal in strict mode.
    Failed(String),
    /// Unprotected tags, smuggling attempts: counted, detailed with -v.
    Quiet(String),
}

/// Decide which of upstream's refs this environment sees.
pub fn filter(
    upstream: Upstream,
    policy: &Policy,
    environment: &str,
    settings_strict: bool,
    allow_unprotected: bool,
    url: &str,
    verbosity: u32,
) -> Result<Listing, String> {
    let mut hidden: HashMap<String, Hidden> = HashMap::new();
    let mut to_verify: Vec<&RemoteRef> = Vec::new();
    for r in &upstream.refs {
        let name = r.name.as_str();
        if name.starts_with("refs/replace/") {
            hidden.insert(r.name.clone(), Hidden::Quiet("replace refs are never passed on".into()));
        } else if let Some(tag) = name.strip_prefix("refs/tags/") {
            if policy.protects(tag) {
                if r.peeled.is_none() {
                    hidden.insert(r.name.clone(), Hidden::Failed("lightweight tag, not signed".to_owned()));
                } else {
                    to_verify.push(r);
                }
            } else if !allow_unprotected {
                hidden.insert(r.name.clone(), Hidden::Quiet(format!("{tag}: no rule protects it")));
            } else if r.peeled.is_some() {
                to_verify.push(r);
            }
        } else if r.peeled.is_some() {
            hidden.insert(r.name.clone(), Hidden::Quiet("points at a tag object outside refs/tags/".into()));
        } else if let Some(short) = name.strip_prefix("refs/")
            && policy.protects(short)
        {
            hidden.insert(r.name.clone(), Hidden::Failed(format!("would shadow the protected tag refs/tags/{short}")));
        }
    }

    let mut allowed_tags = HashSet::new();
    let mut chains = Vec::new();
    if !to_verify.is_empty() {
        let cache = TagCache::open(url, upstream.hash)?;
        let digest = format!("{}:{environment}", policy.fingerprint);
        // The inactivity rule depends on the whole signing history, not on one tag alone, so
        // with it no verdict is reused.
        let known = if policy.inactivity.is_some() { HashMap::new() } else { cache.verdicts(&digest) };
        let mut pending: Vec<&RemoteRef> = Vec::new();
        let cached_repo = cache.repo()?;
        // A verdict counts only while the cache still holds the chain (tag-following copies it).
        let in_cache = |chain: &Vec<ObjectId>| {
            chain.iter().all(|id| matches!(cached_repo.repo.objects.try_header(id), Ok(Some(_))))
        };
        for r in &to_verify {
            let tag = r.name.trim_start_matches("refs/tags/");
            match known.get(&(tag.to_owned(), r.id)).filter(|chain| in_cache(chain)) {
                Some(chain) => {
                    allowed_tags.extend(chain.iter().copied());
                    chains.push((r.id, r.peeled.unwrap_or(r.id), chain.clone()));
                }
                None => pending.push(r),
            }
        }
        if !pending.is_empty() {
            let repo = cached_repo;
            let mut missing: Vec<ObjectId> = pending
                .iter()
                .filter(|r| !matches!(repo.repo.objects.try_header(&r.id), Ok(Some(_))))
                .map(|r| r.id)
                .collect();
            missing.sort();
            missing.dedup();
            cache.fetch(&missing)?;
            let repo = cache.repo()?;
            let now = SystemTime::now();
            let mut remembered = Vec::new();
            let mut verdicts = Vec::new();
            for r in pending {
                let tag = r.name.trim_start_matches("refs/tags/");
                if !policy.protects(tag) {
                    // allowUnprotectedTags: list it unless its object claims a protected name.
                    let claimed = git_signed_policy::layer::claimed_names(&repo.repo.objects, repo.hash(), r.id);
                    match claimed {
                        Ok(names) if !names.iter().any(|(_, n)| policy.protects(n)) => {
                            let chain: Vec<ObjectId> = names.iter().map(|(id, _)| *id).collect();
                            allowed_tags.extend(chain.iter().copied());
                            chains.push((r.id, r.peeled.unwrap_or(r.id), chain));
                        }
                        _ => {
                            hidden.insert(
                                r.name.clone(),
                                Hidden::Quiet(format!("{tag}: a tag object in it claims a protected name")),
                            );
                        }
                    }
                    continue;
                }
                verdicts.push((r, tag, repo.verify(policy, Request::new(tag, r.id, environment, now))));
            }
            if policy.inactivity.is_some() {
                let activity = Activity::from_verdicts(verdicts.iter().map(|(_, _, v)| v));
                for (r, tag, verdict) in &mut verdicts {
                    if verdict.accepted {
                        *verdict = repo
                            .verify(policy, Request::new(tag, r.id, environment, now).with_activity(Some(&activity)));
                    }
                }
            }
            for (r, tag, verdict) in verdicts {
                let peeled_ok = verdict.commit.as_deref() == r.peeled.map(|p| p.to_string()).as_deref();
                if verdict.accepted && peeled_ok {
                    allowed_tags.extend(verdict.chain.iter().copied());
                    chains.push((r.id, r.peeled.unwrap_or(r.id), verdict.chain.clone()));
                    remembered.push((tag.to_owned(), r.id, verdict.chain.clone()));
                } else if verdict.accepted {
                    hidden.insert(
                        r.name.clone(),
                        Hidden::Failed("upstream's ^{} line disagrees with the tag's commit".to_owned()),
                    );
                } else {
                    hidden.insert(r.name.clone(), Hidden::Failed(verdict.problems.join("; ")));
                }
            }
            if policy.inactivity.is_some() {
                remembered.clear();
            }
            cache.remember(&digest, &remembered)?;
        }
    }

    report_hidden(&upstream, &hidden, settings_strict, verbosity)?;
    let refs: Vec<RemoteRef> = upstream.refs.into_iter().filter(|r| !hidden.contains_key(&r.name)).collect();
    let listed: HashSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    let symrefs =
        upstream.symrefs.into_iter().filter(|(_, target)| listed.contains(target.as_str())).collect::<Vec<_>>();
    Ok(Listing { refs, symrefs, hash: upstream.hash, allowed_tags, chains })
}

fn report_hidden(
    upstream: &Upstream,
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
