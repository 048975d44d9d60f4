//! `list`: the mirror's refs as this environment may see them. Branches pass through; a
//! protected tag is listed only when it satisfies the environment's rules; everything that
//! could stand in for one is left out: what the core's `refs::classify` forbids (refs git
//! would resolve for a protected name, names that block one, replace refs), symbolic refs
//! other than `HEAD` → a listed branch, refs outside `refs/tags/` pointing at tag objects, and
//! refs the remote's refspecs would store under a protected name.
//!
//! Pure: [`sort`] judges refs by name and sends the tags whose objects decide to verification
//! ([`verify`](crate::verify)); [`decide`] turns the advertisement and those verdicts into
//! what git sees. No I/O here, and nothing is printed: the session reports what was hidden.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use git_signed_policy::{Forbidden, Policy, RefClass, refs};
use gix::ObjectId;

use crate::protocol::{Ref, Symref, in_order};
use crate::upstream::Advertisement;

/// What git sees, and which tag objects may enter the repository.
#[derive(Debug)]
pub struct Listing {
    /// The refs listed, in the mirror's order.
    pub refs: Vec<Ref>,
    /// `HEAD` → a listed branch, if the mirror says so.
    pub symrefs: Vec<Symref>,
    /// The object format.
    pub hash: gix::hash::Kind,
    /// Every tag object of every listed, verified tag whose chain is known: the only tag
    /// objects a fetch may store (see [`Listing::resolve`] for the others).
    pub allowed_tags: gix::hashtable::HashSet,
    /// The listed tags, for tag-following.
    pub followed: Vec<Followed>,
}

/// A listed tag git may follow once it has the commit.
#[derive(Debug)]
pub struct Followed {
    /// The tag's name (without `refs/tags/`).
    pub name: String,
    /// The tag object the ref points at.
    pub tag: ObjectId,
    /// The commit it reaches.
    pub commit: ObjectId,
    /// Its tag objects, outermost first; `None` while they are only remembered in the tag cache.
    pub chain: Option<Vec<ObjectId>>,
}

impl Listing {
    /// Whether some listed tag's chain is still only in the tag cache: [`Listing::resolve`]
    /// before fetching.
    pub fn unresolved(&self) -> bool {
        self.followed.iter().any(|f| f.chain.is_none())
    }

    /// Fill in the chains left in the tag cache from `chain_of(name, tag id)`, which gives the
    /// remembered chain and the commit it reached. A tag it cannot give, or gives for another
    /// commit, is the error: nothing of it may be fetched.
    pub fn resolve(
        &mut self,
        chain_of: impl Fn(&str, ObjectId) -> Option<(Vec<ObjectId>, ObjectId)>,
    ) -> Result<(), String> {
        for f in self.followed.iter_mut().filter(|f| f.chain.is_none()) {
            match chain_of(&f.name, f.tag) {
                Some((chain, commit)) if commit == f.commit => {
                    self.allowed_tags.extend(chain.iter().copied());
                    f.chain = Some(chain);
                }
                _ => return Err(f.name.clone()),
            }
        }
        Ok(())
    }
}

/// Why a ref is not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    /// A protected tag that failed verification, or a ref that would stand in for one:
    /// shown per ref, and fatal in strict mode.
    Failed(String),
    /// Unprotected tags, refs pointing at tag objects, replace refs: counted, detailed with -v.
    Quiet(String),
}

/// What verification says of a tag [`sort`] sent to it: the tag objects that may enter the
/// repository (outermost first; `None` when they are remembered in the tag cache and read
/// only if a fetch needs them), or why it is hidden.
pub type TagVerdict = Result<Option<Vec<ObjectId>>, Hidden>;

/// What the names are judged by.
pub struct ByName<'a> {
    /// The policy: which tags are protected, which names are forbidden.
    pub policy: &'a Policy,
    /// Tags no rule protects are listed (when no tag object in them claims a protected name).
    pub allow_unprotected: bool,
    /// The remote's fetch refspecs: a listed ref must not land under a name that the policy
    /// forbids (`git clone -o deploy` writes branch `7` as `refs/remotes/deploy/7`).
    pub refspecs: &'a [String],
}

/// What the names alone decide, ref by ref in the mirror's order ([`Sorted::named`]), and the
/// tags whose objects must be verified (protected) or inspected (unprotected, when allowed).
pub struct Sorted<'u> {
    /// What each advertised ref's name says of it, in the mirror's order.
    pub named: Vec<Named>,
    /// Protected tags, to verify against the environment's rules, in the mirror's order.
    pub protected: Vec<&'u Ref>,
    /// Unprotected tag objects, to check for a wrapped protected tag, in the mirror's order.
    pub unprotected: Vec<&'u Ref>,
}

/// What its name says of one advertised ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// Listed as it is.
    Listed,
    /// Hidden for what it is called (or for the symbolic ref it is).
    Hidden(Hidden),
    /// A protected tag: listed if verification accepts it.
    Protected,
    /// An unprotected tag object: listed if no tag object in it claims a protected name.
    Unprotected,
}

/// What git sees given what [`sort`] said of each advertised ref (`named`) and the verdicts
/// on the tags it sent to verification, in its order (`protected`, `unprotected`); also every
/// hidden ref with the reason, in the mirror's order.
pub fn decide(
    advertised: Advertisement,
    policy: &Policy,
    named: Vec<Named>,
    protected: Vec<TagVerdict>,
    unprotected: Vec<TagVerdict>,
) -> (Listing, Vec<(String, Hidden)>) {
    let (mut protected, mut unprotected) = (protected.into_iter(), unprotected.into_iter());
    let mut verdict = |named| -> Outcome {
        let verdict = match named {
            Named::Listed => return Outcome::Listed,
            Named::Hidden(why) => return Outcome::Hidden(why),
            Named::Protected => protected.next(),
            Named::Unprotected => unprotected.next(),
        };
        match verdict {
            Some(Ok(chain)) => Outcome::Followed(chain),
            Some(Err(why)) => Outcome::Hidden(why),
            None => Outcome::Hidden(Hidden::Failed("it was not verified".into())),
        }
    };
    // Each name is judged once, so a name listed twice (the upstream refuses that already) is
    // never listed at all.
    let twice = listed_twice(&advertised.refs);
    let mut named = named.into_iter();
    let outcomes: Vec<Outcome> = advertised
        .refs
        .iter()
        .map(|r| {
            let outcome =
                named.next().map_or(Outcome::Hidden(Hidden::Failed("it was not judged".into())), &mut verdict);
            match twice.contains(r.name.as_str()) {
                true => Outcome::Hidden(Hidden::Failed("the mirror lists it twice".into())),
                false => outcome,
            }
        })
        .collect();
    let index = NameIndex::new(&advertised.refs);
    let hidden = |name: &str| index.position(name).is_some_and(|i| matches!(outcomes[i], Outcome::Hidden(_)));
    let listed = |name: &str| index.position(name).is_some_and(|i| !matches!(outcomes[i], Outcome::Hidden(_)));
    // Only `HEAD` pointing at a listed, harmless branch (T23), and only while `HEAD` itself is
    // not hidden, nor said to be a symbolic ref twice; every other symbolic ref was hidden by
    // `sort`, its resolved value with it.
    let mut symref_names = HashSet::new();
    let symrefs_twice: HashSet<&str> =
        advertised.symrefs.iter().map(|s| s.name.as_str()).filter(|name| !symref_names.insert(*name)).collect();
    let symrefs: Vec<Symref> = advertised
        .symrefs
        .iter()
        .filter(|s| {
            !symrefs_twice.contains(s.name.as_str())
                && !hidden(&s.name)
                && listed(&s.target)
                && refs::check_symref(policy, &s.name, &s.target).is_ok()
        })
        .cloned()
        .collect();
    drop(index);
    let mut listing = Listing {
        refs: Vec::with_capacity(advertised.refs.len()),
        symrefs,
        hash: advertised.hash,
        allowed_tags: gix::hashtable::HashSet::default(),
        followed: Vec::new(),
    };
    let mut reasons = Vec::new();
    for (r, outcome) in advertised.refs.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Hidden(why) => reasons.push((r.name, why)),
            Outcome::Listed => listing.refs.push(r),
            Outcome::Followed(chain) => {
                listing.allowed_tags.extend(chain.iter().flatten().copied());
                let name = r.name.strip_prefix(refs::TAGS).unwrap_or(&r.name).to_owned();
                listing.followed.push(Followed { name, tag: r.id, commit: r.peeled.unwrap_or(r.id), chain });
                listing.refs.push(r);
            }
        }
    }
    (listing, reasons)
}

/// What becomes of one advertised ref.
enum Outcome {
    Listed,
    /// Listed, and followed as a verified tag with these tag objects (see [`TagVerdict`]).
    Followed(Option<Vec<ObjectId>>),
    Hidden(Hidden),
}

/// The names `refs` lists more than once: none when they are in order, as git lists them.
fn listed_twice(refs: &[Ref]) -> HashSet<&str> {
    if in_order(refs) {
        return HashSet::new();
    }
    let mut names = HashSet::with_capacity(refs.len());
    refs.iter().filter(|r| !names.insert(r.name.as_str())).map(|r| r.name.as_str()).collect()
}

/// Where a name is among refs: found by binary search when they are in order (as git lists
/// them), through a hash table otherwise (a mirror may list them in any order).
enum NameIndex<'a> {
    Ordered(&'a [Ref]),
    Hashed(HashMap<&'a str, usize>),
}

impl<'a> NameIndex<'a> {
    fn new(refs: &'a [Ref]) -> NameIndex<'a> {
        match in_order(refs) {
            true => NameIndex::Ordered(refs),
            false => NameIndex::Hashed(refs.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect()),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        match self {
            NameIndex::Ordered(refs) => refs.binary_search_by(|r| r.name.as_str().cmp(name)).ok(),
            NameIndex::Hashed(names) => names.get(name).copied(),
        }
    }
}

/// Judge every ref by its name (and whether it points at a tag object).
pub fn sort<'u>(advertised: &'u Advertisement, by: &ByName<'_>) -> Sorted<'u> {
    let policy = by.policy;
    let hidden_symrefs = hidden_symrefs(policy, &advertised.symrefs);
    let mut protected = Vec::new();
    let mut unprotected = Vec::new();
    let mut named = Vec::with_capacity(advertised.refs.len());
    for r in &advertised.refs {
        named.push(match hidden_symrefs.get(&r.name) {
            Some(why) => Named::Hidden(why.clone()),
            None => match by_name(by, r) {
                Named::Protected => {
                    protected.push(r);
                    Named::Protected
                }
                Named::Unprotected => {
                    unprotected.push(r);
                    Named::Unprotected
                }
                named => named,
            },
        });
    }
    Sorted { named, protected, unprotected }
}

/// What its name (and whether it points at a tag object) says of `r`.
fn by_name(by: &ByName<'_>, r: &Ref) -> Named {
    let policy = by.policy;
    let why = match refs::classify(policy, &r.name) {
        RefClass::ProtectedTag(_) if r.peeled.is_none() => Hidden::Failed("lightweight tag, not signed".into()),
        RefClass::ProtectedTag(_) => return Named::Protected,
        RefClass::Forbidden(
            f @ (Forbidden::Shadows { .. } | Forbidden::Blocks { .. } | Forbidden::CaseFold { .. }),
        ) => Hidden::Failed(f.describe()),
        RefClass::Forbidden(f) => Hidden::Quiet(f.to_string()),
        RefClass::Proposal(_) => Hidden::Quiet("proposals are not deploy tags".into()),
        RefClass::Other if r.name.starts_with(refs::TAGS) && !by.allow_unprotected => {
            Hidden::Quiet("no rule protects it".into())
        }
        RefClass::Other if r.name.starts_with(refs::TAGS) => match stored_as(policy, by.refspecs, &r.name) {
            Some(why) => Hidden::Failed(why),
            None if r.peeled.is_some() => return Named::Unprotected,
            None => return Named::Listed,
        },
        RefClass::Other | RefClass::PolicyHistory { .. } if r.peeled.is_some() => {
            Hidden::Quiet("points at a tag object outside refs/tags/".into())
        }
        RefClass::Other | RefClass::PolicyHistory { .. } => match stored_as(policy, by.refspecs, &r.name) {
            Some(why) => Hidden::Failed(why),
            None => return Named::Listed,
        },
    };
    Named::Hidden(why)
}

/// Symbolic refs other than `HEAD` → a branch (T23): hidden with the ref they stand for.
fn hidden_symrefs(policy: &Policy, symrefs: &[Symref]) -> HashMap<String, Hidden> {
    let mut hidden = HashMap::new();
    for Symref { name, target } in symrefs {
        if let Err(why) = refs::check_symref(policy, name, target) {
            let shown = name.starts_with(refs::TAGS) || refs::classify(policy, name) != RefClass::Other;
            let why = why.to_string();
            hidden.insert(name.clone(), if shown { Hidden::Failed(why) } else { Hidden::Quiet(why) });
        }
    }
    hidden
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
            RefClass::ProtectedTag(_) | RefClass::Proposal(_) | RefClass::PolicyHistory { .. } => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: &std::path::Path) -> Policy {
        use git_signed_policy::openpgp::cert::CertBuilder;
        use git_signed_policy::openpgp::serialize::SerializeInto;
        let (cert, _) = CertBuilder::new().add_signing_subkey().generate().expect("cert");
        std::fs::write(dir.join("ci.asc"), cert.armored().to_vec().expect("armor")).expect("key");
        let text = "version = 1\nenvironments = [\"production\"]\n[machines.ci]\nkeys = [\"ci.asc\"]\n\
                    [[rule]]\ntags = [\"deploy/*\"]\nmachines = [\"ci\"]\n";
        Policy::parse(&dir.join("policy.toml"), text).expect("policy")
    }

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn tag(name: &str, n: u8) -> Ref {
        Ref { name: name.into(), id: id(n), peeled: Some(id(0)) }
    }

    #[test]
    fn lists_branches_and_verified_tags_and_hides_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = policy(dir.path());
        let advertised = Advertisement {
            refs: vec![
                Ref { name: "HEAD".into(), id: id(0), peeled: None },
                Ref { name: "refs/heads/main".into(), id: id(0), peeled: None },
                Ref { name: "refs/heads/deploy/1".into(), id: id(0), peeled: None },
                tag("refs/tags/deploy/1", 1),
                tag("refs/tags/deploy/2", 2),
                tag("refs/tags/v1", 3),
            ],
            symrefs: vec![Symref { name: "HEAD".into(), target: "refs/heads/main".into() }],
            hash: gix::hash::Kind::Sha1,
        };
        let refspecs = ["+refs/heads/*:refs/remotes/origin/*".to_owned()];
        let by = ByName { policy: &policy, allow_unprotected: false, refspecs: &refspecs };
        let Sorted { named, protected, unprotected } = sort(&advertised, &by);
        let to_verify: Vec<&str> = protected.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(to_verify, ["refs/tags/deploy/1", "refs/tags/deploy/2"]);
        assert!(unprotected.is_empty());
        let verdicts = vec![Ok(Some(vec![id(1)])), Err(Hidden::Failed("needs 1 machine".into()))];
        let (listing, reasons) = decide(advertised, &policy, named, verdicts, Vec::new());
        let listed: Vec<&str> = listing.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(listed, ["HEAD", "refs/heads/main", "refs/tags/deploy/1"]);
        assert_eq!(listing.symrefs.len(), 1, "HEAD -> main passes");
        assert_eq!(listing.allowed_tags, [id(1)].into_iter().collect());
        let hidden: Vec<&str> = reasons.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(hidden, ["refs/heads/deploy/1", "refs/tags/deploy/2", "refs/tags/v1"]);
        assert!(matches!(&reasons[0].1, Hidden::Failed(why) if why.contains("refs/tags/deploy/1")));
        assert_eq!(reasons[2].1, Hidden::Quiet("no rule protects it".into()));
    }

    /// Every decision is by name: a name listed twice is not listed at all, whatever the
    /// verdict on it (the upstream already refuses such an advertisement).
    #[test]
    fn a_name_listed_twice_is_never_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = policy(dir.path());
        let advertised = Advertisement {
            refs: vec![tag("refs/tags/deploy/1", 1), tag("refs/tags/deploy/1", 2), tag("refs/tags/deploy/3", 3)],
            symrefs: Vec::new(),
            hash: gix::hash::Kind::Sha1,
        };
        let named = vec![Named::Protected; 3];
        let verdicts = vec![Ok(Some(vec![id(1)])), Ok(Some(vec![id(2)])), Ok(Some(vec![id(3)]))];
        let (listing, reasons) = decide(advertised, &policy, named, verdicts, Vec::new());
        let listed: Vec<&str> = listing.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(listed, ["refs/tags/deploy/3"]);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(!listing.allowed_tags.contains(&id(1)) && !listing.allowed_tags.contains(&id(2)));
    }

    /// A mirror may list its refs in any order: a name listed twice apart is caught, and
    /// `HEAD`'s branch is found, as when git lists them in order. A tag without a verdict is
    /// hidden.
    #[test]
    fn refs_out_of_order_are_judged_as_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = policy(dir.path());
        let branch = |name: &str| Ref { name: name.into(), id: id(0), peeled: None };
        let refs = vec![
            tag("refs/tags/deploy/1", 1),
            branch("refs/heads/main"),
            tag("refs/tags/deploy/2", 2),
            branch("HEAD"),
            tag("refs/tags/deploy/1", 3),
            tag("refs/tags/deploy/4", 4),
        ];
        let advertised = Advertisement {
            refs,
            symrefs: vec![Symref { name: "HEAD".into(), target: "refs/heads/main".into() }],
            hash: gix::hash::Kind::Sha1,
        };
        let by = ByName { policy: &policy, allow_unprotected: false, refspecs: &[] };
        let Sorted { named, protected, .. } = sort(&advertised, &by);
        assert_eq!(protected.len(), 4);
        // deploy/4 has no verdict: one fewer than the tags sent to verification.
        let verdicts = vec![Ok(Some(vec![id(1)])), Ok(Some(vec![id(2)])), Ok(Some(vec![id(3)]))];
        let (listing, reasons) = decide(advertised, &policy, named, verdicts, Vec::new());
        let listed: Vec<&str> = listing.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(listed, ["refs/heads/main", "refs/tags/deploy/2", "HEAD"]);
        assert_eq!(listing.symrefs.len(), 1, "HEAD -> main is found out of order");
        let hidden: Vec<(&str, &Hidden)> = reasons.iter().map(|(name, why)| (name.as_str(), why)).collect();
        assert_eq!(
            hidden,
            [
                ("refs/tags/deploy/1", &Hidden::Failed("the mirror lists it twice".into())),
                ("refs/tags/deploy/1", &Hidden::Failed("the mirror lists it twice".into())),
                ("refs/tags/deploy/4", &Hidden::Failed("it was not verified".into())),
            ]
        );
        assert_eq!(listing.allowed_tags, [id(2)].into_iter().collect());
    }

    /// A symbolic ref said to point two ways is not passed either way, even when one of them
    /// would pass alone.
    #[test]
    fn a_symref_listed_twice_is_never_passed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = policy(dir.path());
        let advertised = Advertisement {
            refs: vec![Ref { name: "refs/heads/main".into(), id: id(0), peeled: None }],
            symrefs: vec![
                Symref { name: "HEAD".into(), target: "refs/tags/deploy/1".into() },
                Symref { name: "HEAD".into(), target: "refs/heads/main".into() },
            ],
            hash: gix::hash::Kind::Sha1,
        };
        let by = ByName { policy: &policy, allow_unprotected: false, refspecs: &[] };
        let Sorted { named, .. } = sort(&advertised, &by);
        let (listing, _) = decide(advertised, &policy, named, Vec::new(), Vec::new());
        assert!(listing.symrefs.is_empty(), "{:?}", listing.symrefs);
        assert_eq!(listing.refs.len(), 1, "the branch itself is listed");
    }

    #[test]
    fn refspec_destinations_follow_git() {
        assert_eq!(
            destination("+refs/heads/*:refs/remotes/deploy/*", "refs/heads/7").as_deref(),
            Some("refs/remotes/deploy/7")
        );
        assert_eq!(destination("refs/heads/main:refs/x", "refs/heads/main").as_deref(), Some("refs/x"));
        assert_eq!(destination("^refs/heads/*:refs/x/*", "refs/heads/a"), None);
    }
}
