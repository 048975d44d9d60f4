//! What a ref name means next to the policy: a protected tag, a proposal, a name that must
//! never exist, or a ref the policy leaves alone (design.md §5, T14, T21, T23–T25).
//!
//! A protected name `N` must resolve only to the verified tag `refs/tags/N`, wherever git
//! resolves names. This module owns that promise for the hook and the remote helper alike;
//! neither has namespace rules of its own. It knows how git finds a ref for a name:
//! - `git rev-parse N`, `git checkout N`, `git log N` (gitrevisions(7)): `refs/N`,
//!   `refs/tags/N`, `refs/heads/N`, `refs/remotes/N`, `refs/remotes/N/HEAD`, first match wins;
//! - `git clone --branch N` and `git checkout N`: a branch `refs/heads/N` before any tag;
//! - `git checkout N` / `git switch N` with no such branch: a remote-tracking branch
//!   `refs/remotes/<remote>/N` of any remote (remote names may contain `/`);
//! - people disambiguate with `tags/N`, which the same rules look up as `refs/heads/tags/N`…;
//! - a ref cannot be both a file and a directory: `refs/tags/N/x` or a parent such as
//!   `refs/tags/deploy` makes `refs/tags/N` impossible to create;
//! - on case-insensitive file systems (loose refs on macOS, Windows) `refs/tags/DEPLOY/1` is
//!   the same file as `refs/tags/deploy/1`, and so are `refs/Tags/deploy/1` and
//!   `refs/heads/TAGS/deploy/1` for the lookups above;
//! - symbolic refs other than `HEAD` (protocol v2 advertises them all) make one name stand
//!   for another's value.
//!
//! Names are judged without objects; [`smuggled`] is the one content question about refs the
//! policy does not protect: whether what they point at wraps a protected tag object (T14).

use gix::ObjectId;
use gix::objs::{Find, FindHeader};

use crate::layer::{self, WalkError};
use crate::policy::Policy;

/// Where proposals travel (design.md §3).
pub const PROPOSED: &str = "refs/signed/proposed/";
/// Where deploy tags live.
pub const TAGS: &str = "refs/tags/";

/// What a ref name is, for the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefClass<'a> {
    /// `refs/tags/<name>` with a protected name: it must verify.
    ProtectedTag(&'a str),
    /// `refs/signed/proposed/<name>` with a protected name: a half-signed proposal.
    Proposal(&'a str),
    /// `refs/signed/policy`, the policy kept in the repository (`proposed: false`), or
    /// `refs/signed/proposed/policy`, a change of it waiting for approvals (`proposed: true`):
    /// judged by [`crate::chain`].
    PolicyHistory {
        /// Whether it is the proposal ref.
        proposed: bool,
    },
    /// A ref that must not exist where protected tags do, and why.
    Forbidden(Forbidden),
    /// A ref no protected name can resolve to (branches, unprotected tags, notes, …); what
    /// it points at may still smuggle a protected tag object, which the caller checks.
    Other,
}

/// Why a ref must not exist next to protected tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// `refs/replace/*` changes what every tool sees for an object.
    #[error("replace refs are not allowed: they change what tools see for an object")]
    Replace,
    /// Not a name git itself would accept for a ref.
    #[error("not a valid ref name")]
    InvalidName,
    /// git resolves a protected name (or `tags/<name>`) to this ref before or instead of the tag.
    #[error("`{how}` would find this ref instead of the protected tag refs/tags/{protected}")]
    Shadows {
        /// The protected tag name it stands in for.
        protected: String,
        /// The command that would be fooled.
        how: Resolution,
    },
    /// The name would make protected tags impossible to create (directory/file conflict).
    #[error(
        "it would make protected tags {protected} impossible to create: a ref cannot be both a file and a directory"
    )]
    Blocks {
        /// The protected name or glob it blocks.
        protected: String,
    },
    /// The name differs from a protected one only in case: the same file on case-insensitive
    /// file systems.
    #[error(
        "it differs from the protected name {protected} only in letter case, and is the same file on macOS and Windows"
    )]
    CaseFold {
        /// The protected name (or glob) it collides with.
        protected: String,
    },
    /// A proposal for a name no rule protects.
    #[error("{name} is not a protected tag name; proposals are only for tags the policy protects")]
    UnprotectedProposal {
        /// The proposed tag name.
        name: String,
    },
    /// A symbolic ref other than `HEAD` pointing at a branch (T23).
    #[error("symbolic ref to {target}: only HEAD pointing at a listed branch is passed on")]
    SymbolicRef {
        /// Where it points.
        target: String,
    },
}

/// The git command whose name lookup a shadowing ref would fool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// `refs/<n>`: gitrevisions(7) tries it before `refs/tags/<n>`.
    RevParse,
    /// `refs/heads/<n>`: `clone --branch` and `checkout` take a branch before a tag.
    Branch,
    /// `refs/remotes/<n>` or `refs/remotes/<n>/HEAD` (gitrevisions(7)).
    RemoteRevParse,
    /// `refs/remotes/<remote>/<n>`: `checkout`'s and `switch`'s remote-branch guess.
    CheckoutGuess,
    /// `refs/<anything>/<n>`: `git ls-remote <remote> <n>` and `git show-ref <n>` match
    /// patterns against the end of ref names, so they list it for the protected name.
    Pattern,
}

/// A short name and the way git reaches a ref from it.
struct Lookup<'a> {
    short: &'a str,
    how: Resolution,
}

impl Resolution {
    fn command(self, name: &str) -> String {
        match self {
            Resolution::RevParse | Resolution::RemoteRevParse => format!("git rev-parse {name}"),
            Resolution::Branch => format!("git clone --branch {name}"),
            Resolution::CheckoutGuess => format!("git checkout {name}"),
            Resolution::Pattern => format!("git ls-remote <remote> {name}"),
        }
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.command("<name>"))
    }
}

impl Forbidden {
    /// What the pusher should do instead.
    pub fn advice(&self) -> &'static str {
        match self {
            Forbidden::Replace => "delete it; use a new commit instead of replacing objects",
            Forbidden::InvalidName => "use a name git accepts (git check-ref-format)",
            Forbidden::Shadows { .. } | Forbidden::Blocks { .. } | Forbidden::CaseFold { .. } => {
                "choose a name that does not collide with protected tags (e.g. wip/<name>); deleting it is allowed"
            }
            Forbidden::UnprotectedProposal { .. } => "propose a name the policy protects (git signed propose)",
            Forbidden::SymbolicRef { .. } => "symbolic refs cannot be pushed; the mirror was changed by hand",
        }
    }

    /// One line naming the collision and the fix (the caller names the ref).
    pub fn describe(&self) -> String {
        match self {
            Forbidden::Shadows { protected, how } => format!(
                "`{}` would find this ref instead of the protected tag refs/tags/{protected}; {}",
                how.command(protected),
                self.advice()
            ),
            other => format!("{other}; {}", other.advice()),
        }
    }
}

/// What `refname` is for `policy`.
pub fn classify<'a>(policy: &Policy, refname: &'a str) -> RefClass<'a> {
    match classify_exact(policy, refname) {
        RefClass::Other if refname.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) => folded(policy, refname),
        class => class,
    }
}

/// `refs/Tags/deploy/1`, `refs/Heads/deploy/1`, `refs/heads/TAGS/deploy/1`: case variants
/// of the fixed parts of a name are the same files on a case-insensitive file system, and
/// macOS also ignores some invisible code points in file names and folds `ſ` to `s` and the
/// Kelvin sign to `k`; so a name is judged again as the file system sees it. Only names the
/// exact rules leave alone get here, so a protected name with capitals stays protected.
fn folded<'a>(policy: &Policy, refname: &str) -> RefClass<'a> {
    let lower = file_system_skeleton(refname);
    let protected = match classify_exact(policy, &lower) {
        RefClass::Other | RefClass::Forbidden(Forbidden::InvalidName) => return RefClass::Other,
        RefClass::Forbidden(Forbidden::Replace) => return RefClass::Forbidden(Forbidden::Replace),
        RefClass::ProtectedTag(name) | RefClass::Proposal(name) => name.to_owned(),
        RefClass::PolicyHistory { .. } => lower.clone(),
        RefClass::Forbidden(
            Forbidden::Shadows { protected, .. } | Forbidden::Blocks { protected } | Forbidden::CaseFold { protected },
        ) => protected,
        RefClass::Forbidden(_) => lower.clone(),
    };
    RefClass::Forbidden(Forbidden::CaseFold { protected })
}

/// `name` as a case-insensitive macOS file system compares it, as far as ASCII names are
/// concerned: ASCII lower-cased, the code points HFS+ ignores dropped (the list git's
/// `is_hfs_dotgit` uses), and the two non-ASCII letters whose case folding is ASCII mapped.
fn file_system_skeleton(name: &str) -> String {
    name.chars()
        .filter(
            |c| !matches!(c, '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}'),
        )
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// What `refname` is for `policy`, letter case taken as written.
fn classify_exact<'a>(policy: &Policy, refname: &'a str) -> RefClass<'a> {
    if !is_valid(refname) {
        return RefClass::Forbidden(Forbidden::InvalidName);
    }
    if refname.starts_with("refs/replace/") {
        return RefClass::Forbidden(Forbidden::Replace);
    }
    if let Some(name) = refname.strip_prefix(TAGS) {
        if policy.protects(name) {
            return RefClass::ProtectedTag(name);
        }
        if let Some(protected) = aliased(policy, name) {
            return RefClass::Forbidden(Forbidden::Shadows { protected, how: Resolution::RevParse });
        }
        if let Some(protected) = endings(name).find(|n| policy.protects(n)) {
            let protected = protected.to_owned();
            return RefClass::Forbidden(Forbidden::Shadows { protected, how: Resolution::Pattern });
        }
        return match collision_in_tags(policy, name) {
            Some(forbidden) => RefClass::Forbidden(forbidden),
            None => RefClass::Other,
        };
    }
    if refname == crate::chain::POLICY_REF || refname == crate::chain::PROPOSED_POLICY_REF {
        return RefClass::PolicyHistory { proposed: refname == crate::chain::PROPOSED_POLICY_REF };
    }
    if [crate::chain::POLICY_REF, crate::chain::PROPOSED_POLICY_REF]
        .iter()
        .any(|p| refname.starts_with(&format!("{p}/")))
    {
        return RefClass::Forbidden(Forbidden::Blocks { protected: crate::chain::POLICY_REF.to_owned() });
    }
    if let Some(name) = refname.strip_prefix(PROPOSED) {
        if policy.protects(name) {
            return RefClass::Proposal(name);
        }
        return RefClass::Forbidden(Forbidden::UnprotectedProposal { name: name.to_owned() });
    }
    if [PROPOSED, TAGS].iter().any(|ns| ns.starts_with(&format!("{refname}/"))) {
        return RefClass::Forbidden(Forbidden::Blocks { protected: format!("under {refname}/") });
    }
    for Lookup { short, how } in lookups(refname) {
        for form in forms(short) {
            if policy.protects(form) {
                return RefClass::Forbidden(Forbidden::Shadows { protected: form.to_owned(), how });
            }
            if policy.protects_ignoring_case(form) {
                return RefClass::Forbidden(Forbidden::CaseFold { protected: form.to_owned() });
            }
        }
    }
    RefClass::Other
}

/// The ways people write a tag's name for git: `N`, `tags/N` and `refs/tags/N`.
fn forms(short: &str) -> impl Iterator<Item = &str> {
    std::iter::once(short).chain(short.strip_prefix("tags/")).chain(short.strip_prefix("refs/tags/"))
}

/// The protected name `tags/N` or `refs/tags/N` under refs/tags/ would answer for.
fn aliased(policy: &Policy, name: &str) -> Option<String> {
    forms(name).skip(1).find(|n| policy.protects_ignoring_case(n)).map(ToOwned::to_owned)
}

/// `Ok` for a symbolic ref the helper may pass on: `HEAD` pointing at a branch that no
/// protected name resolves to. The caller also checks that the branch is listed.
pub fn check_symref(policy: &Policy, name: &str, target: &str) -> Result<(), Forbidden> {
    let branch = target.starts_with("refs/heads/") && classify(policy, target) == RefClass::Other;
    if name == "HEAD" && branch { Ok(()) } else { Err(Forbidden::SymbolicRef { target: target.to_owned() }) }
}

/// What a ref the policy does not protect carries, judged by [`smuggled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// No tag object in it claims a protected name: the tag objects it is and wraps, outermost
    /// first (none for a commit).
    Harmless(Vec<ObjectId>),
    /// A tag object in it, at any depth, claims this protected name (T14).
    Protected(String),
}

/// Whether the object `id` of a ref that is not a protected tag smuggles a protected tag object.
pub fn smuggled<O>(policy: &Policy, odb: &O, hash: gix::hash::Kind, id: ObjectId) -> Result<Carried, WalkError>
where
    O: Find + FindHeader,
{
    let names = layer::claimed_names(odb, hash, id)?;
    Ok(match names.iter().find(|(_, n)| policy.protects(n)) {
        Some((_, name)) => Carried::Protected(name.clone()),
        None => Carried::Harmless(names.into_iter().map(|(id, _)| id).collect()),
    })
}

/// Names under `refs/tags/` that are not protected themselves but collide with protected ones.
fn collision_in_tags(policy: &Policy, name: &str) -> Option<Forbidden> {
    if policy.protects_ignoring_case(name) {
        return Some(Forbidden::CaseFold { protected: name.to_owned() });
    }
    // A protected parent: refs/tags/deploy/61/x makes refs/tags/deploy/61 uncreatable.
    let mut parents = name.match_indices('/').map(|(i, _)| &name[..i]);
    if let Some(parent) = parents.find(|p| policy.protects_ignoring_case(p)) {
        return Some(Forbidden::Blocks { protected: parent.to_owned() });
    }
    // A protected child: refs/tags/deploy makes every refs/tags/deploy/* uncreatable.
    policy.may_protect_below(name).then(|| Forbidden::Blocks { protected: format!("{name}/…") })
}

/// Every short name git resolves to `refname` (outside `refs/tags/`), and how.
fn lookups(refname: &str) -> Vec<Lookup<'_>> {
    let Some(rest) = refname.strip_prefix("refs/") else {
        return Vec::new();
    };
    let mut found = vec![Lookup { short: rest, how: Resolution::RevParse }];
    if let Some(branch) = refname.strip_prefix("refs/heads/") {
        found.push(Lookup { short: branch, how: Resolution::Branch });
    }
    if let Some(remote) = refname.strip_prefix("refs/remotes/") {
        found.push(Lookup { short: remote, how: Resolution::RemoteRevParse });
        if let Some(n) = remote.strip_suffix("/HEAD") {
            found.push(Lookup { short: n, how: Resolution::RemoteRevParse });
        }
        // refs/remotes/<remote>/<n> for every way of splitting off a remote name.
        found.extend(endings(remote).map(|short| Lookup { short, how: Resolution::CheckoutGuess }));
    }
    found.extend(endings(rest).map(|short| Lookup { short, how: Resolution::Pattern }));
    found
}

/// Every `/`-aligned ending of `name`, longest first: `a/b/c` gives `b/c` and `c`.
fn endings(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[i + 1..])
}

/// Whether git could hold a ref of this name: `HEAD`, or `refs/…` passing git's rules
/// (git check-ref-format). A compromised mirror can advertise anything.
fn is_valid(refname: &str) -> bool {
    (refname == "HEAD" || refname.starts_with("refs/"))
        && gix::validate::reference::name(refname.as_bytes().into()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = r#"version = 1
environments = ["production"]
[machines.ci]
keys = ["ci.asc"]
[[rule]]
tags = ["deploy/*", "release/**"]
machines = ["ci"]
"#;
        std::fs::write(dir.path().join("ci.asc"), test_cert()).expect("write key");
        Policy::parse(&dir.path().join("policy.toml"), text).expect("policy")
    }

    fn test_cert() -> Vec<u8> {
        use sequoia_openpgp::cert::CertBuilder;
        use sequoia_openpgp::serialize::SerializeInto;
        let (cert, _) = CertBuilder::new().add_signing_subkey().generate().expect("cert");
        cert.armored().to_vec().expect("armor")
    }

    #[test]
    fn every_name_git_resolves_for_a_protected_tag_is_classified() {
        let p = policy();
        assert_eq!(classify(&p, "refs/tags/deploy/1"), RefClass::ProtectedTag("deploy/1"));
        assert_eq!(classify(&p, "refs/signed/proposed/deploy/1"), RefClass::Proposal("deploy/1"));
        let shadow = |r: &str| matches!(classify(&p, r), RefClass::Forbidden(Forbidden::Shadows { .. }));
        for r in [
            "refs/deploy/1",
            "refs/heads/deploy/1",
            "refs/heads/tags/deploy/1",
            "refs/remotes/deploy/1",
            "refs/remotes/deploy/1/HEAD",
            "refs/remotes/origin/deploy/1",
            "refs/remotes/a/b/deploy/1",
            "refs/remotes/origin/tags/deploy/1",
            "refs/release/x/y",
            "refs/heads/refs/tags/deploy/1",
            "refs/refs/tags/deploy/1",
            "refs/remotes/origin/refs/tags/deploy/1",
            "refs/tags/tags/deploy/1",
            "refs/tags/refs/tags/deploy/1",
        ] {
            assert!(shadow(r), "{r}: {:?}", classify(&p, r));
        }
        let blocks = |r: &str| matches!(classify(&p, r), RefClass::Forbidden(Forbidden::Blocks { .. }));
        for r in
            ["refs/tags/deploy", "refs/tags/deploy/1/x", "refs/tags/release", "refs/signed/proposed", "refs/signed"]
        {
            assert!(blocks(r), "{r}: {:?}", classify(&p, r));
        }
        // Case variants that also end in a protected name are refused for that first.
        let folded = |r: &str| {
            matches!(classify(&p, r), RefClass::Forbidden(Forbidden::CaseFold { .. } | Forbidden::Shadows { .. }))
        };
        for r in [
            "refs/tags/Deploy/1",
            "refs/heads/DEPLOY/1",
            "refs/remotes/origin/Deploy/2",
            "refs/Tags/deploy/9",
            "refs/TAGS/release/x",
            "refs/Heads/deploy/1",
            "refs/heads/TAGS/deploy/1",
            "refs/Deploy/1",
            "refs/Signed/proposed/deploy/1",
            "refs/Tags/deploy",
        ] {
            assert!(folded(r), "{r}: {:?}", classify(&p, r));
        }
        let pattern = |r: &str| {
            matches!(classify(&p, r), RefClass::Forbidden(Forbidden::Shadows { how: Resolution::Pattern, .. }))
        };
        for r in [
            "refs/heads/feature/deploy/1",
            "refs/heads/x/refs/tags/deploy/1",
            "refs/foo/deploy/1",
            "refs/notes/a/tags/deploy/1",
            "refs/tags/x/deploy/1",
            "refs/tags/v1/refs/tags/deploy/1",
        ] {
            assert!(pattern(r), "{r}: {:?}", classify(&p, r));
        }
        for r in ["refs/heads/main", "refs/heads/deploy-tools", "refs/tags/v1.0", "refs/notes/commits", "HEAD"] {
            assert_eq!(classify(&p, r), RefClass::Other, "{r}");
        }
        for r in
            ["refs/heads/de\u{200c}ploy/5", "refs/tag\u{17f}/deploy", "refs/heads/\u{212a}/x", "refs/heads/caf\u{e9}"]
        {
            let class = classify(&p, r);
            assert_eq!(
                matches!(class, RefClass::Forbidden(Forbidden::CaseFold { .. })),
                !r.ends_with("caf\u{e9}") && !r.ends_with("/x"),
                "{r}: {class:?}"
            );
        }
        for r in ["refs/heads/a..b", "deploy/1", "refs/heads/x.lock", "refs/tags/a b"] {
            assert_eq!(classify(&p, r), RefClass::Forbidden(Forbidden::InvalidName), "{r}");
        }
        assert_eq!(classify(&p, "refs/replace/abc"), RefClass::Forbidden(Forbidden::Replace));
        assert_eq!(classify(&p, "refs/Replace/abc"), RefClass::Forbidden(Forbidden::Replace));
        for r in ["refs/heads/Main", "refs/Notes/commits", "refs/Tags/v1.0"] {
            assert_eq!(classify(&p, r), RefClass::Other, "{r}");
        }
        assert!(matches!(
            classify(&p, "refs/signed/proposed/main"),
            RefClass::Forbidden(Forbidden::UnprotectedProposal { .. })
        ));
    }

    #[test]
    fn only_head_to_a_harmless_branch_is_a_passable_symref() {
        let p = policy();
        assert!(check_symref(&p, "HEAD", "refs/heads/main").is_ok());
        for (name, target) in [
            ("HEAD", "refs/heads/deploy/1"),
            ("HEAD", "refs/tags/deploy/1"),
            ("refs/tags/deploy/2", "refs/heads/main"),
            ("refs/deploy/2", "refs/tags/deploy/1"),
            ("refs/heads/x", "refs/heads/main"),
        ] {
            assert!(check_symref(&p, name, target).is_err(), "{name} -> {target}");
        }
    }
}
