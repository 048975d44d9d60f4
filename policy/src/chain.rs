//! The policy kept in the repository: `refs/signed/policy`, a single line of commits whose
//! trees hold `policy.toml` and its key files, trusted from a pinned root commit
//! (`signed.root`) forward.
//!
//! Stock git signs a commit once (`git commit -S`), so a change that needs several admins is a
//! run of commits: the commit that changes the tree, then commits that leave it as it is
//! (`git commit --allow-empty -S -m "approve …"`), each signed by an admin of the policy in
//! force before the change. The change is in force at the commit where `admins` distinct admins
//! of that policy have signed the run; a new change before that starts a new run. Every commit
//! must carry a valid signature by an admin of the policy in force; a merge, an unsigned
//! commit, an outsider's signature, a history that does not reach the root, or a change that
//! breaks the access rules (see [`check_change`]) makes the whole history invalid: nothing after
//! it is ever in force. The walk is the same for the hook, the helper and the CLI.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use gix::ObjectId;
use gix::objs::signature::Format;

use crate::policy::{Access, Policy, Principal};
use crate::signature::{self, Timing};

/// The ref the policy lives on.
pub const POLICY_REF: &str = "refs/signed/policy";
/// Where a proposed change waits for approvals.
pub const PROPOSED_POLICY_REF: &str = "refs/signed/proposed/policy";

/// A policy in force: the commit that put it in force, the policy, and who signed the change
/// (empty for the pinned root, trusted by the pin).
#[derive(Debug)]
pub struct State {
    /// The commit at which it came into force.
    pub commit: ObjectId,
    /// The policy of that commit's tree.
    pub policy: Policy,
    /// The admins (of the policy before) who signed the change.
    pub signed_by: Vec<String>,
}

/// Why a policy history is not trusted, naming the commit.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The history does not reach the pinned root by first parents.
    #[error(
        "{POLICY_REF} ({}) does not descend from the pinned root {}; check signed.root, or the mirror rewrote the policy history",
        short(tip),
        short(root)
    )]
    NotFromRoot { root: ObjectId, tip: ObjectId },
    /// The history does not descend from the one a verifier trusted last.
    #[error(
        "{POLICY_REF} ({}) does not descend from {}, the policy history trusted last; the mirror rewound or rewrote it",
        short(tip),
        short(trusted)
    )]
    Rewound { trusted: ObjectId, tip: ObjectId },
    /// A merge commit on the policy history.
    #[error("policy commit {} is a merge; the policy history is a single line of commits", short(.0))]
    Merge(ObjectId),
    /// An unsigned commit, or one whose signature does not verify against the policy in force.
    #[error("policy commit {} {problem}", short(commit))]
    Signature { commit: ObjectId, problem: Box<signature::Problem> },
    /// A commit signed by someone who is not an admin of the policy in force.
    #[error(
        "policy commit {} is signed by {principal}, who is not an admin of the policy in force before it",
        short(commit)
    )]
    NotAdmin { commit: ObjectId, principal: Principal },
    /// The commit's tree does not hold a valid policy.
    #[error("policy commit {} holds no valid policy: {message}", short(commit))]
    Invalid { commit: ObjectId, message: String },
    /// A change breaks the access rules.
    #[error("policy commit {} {message}", short(commit))]
    Access { commit: ObjectId, message: String },
    /// The history ends in a change not yet signed by enough admins.
    #[error(
        "the change in policy commit {} is signed by {} of the {needed} admins it needs ({}); approve it, or push only approved changes to {POLICY_REF}",
        short(commit), have.len(), if have.is_empty() { "none".to_owned() } else { have.join(", ") }
    )]
    Unapproved { commit: ObjectId, have: Vec<String>, needed: usize },
    /// An object cannot be read.
    #[error("cannot read policy commit {}: {message}", short(commit))]
    Read { commit: ObjectId, message: String },
}

impl ChainError {
    /// The commit the error is about.
    pub fn commit(&self) -> ObjectId {
        match self {
            ChainError::NotFromRoot { tip, .. } | ChainError::Rewound { tip, .. } => *tip,
            ChainError::Merge(commit)
            | ChainError::Signature { commit, .. }
            | ChainError::NotAdmin { commit, .. }
            | ChainError::Invalid { commit, .. }
            | ChainError::Access { commit, .. }
            | ChainError::Unapproved { commit, .. }
            | ChainError::Read { commit, .. } => *commit,
        }
    }
}

const NO_ADMINS: &str =
    "has no `admins = N` line: a policy kept in the repository must say how many admins sign a change";

fn short(id: &ObjectId) -> String {
    crate::verdict::short(id)
}

/// One commit of the policy history, read.
struct Commit {
    id: ObjectId,
    tree: ObjectId,
    parents: Vec<ObjectId>,
    /// The committer's time (seconds since the epoch), as the commit claims it.
    time: i64,
    /// The signature block and the bytes it covers.
    signature: Option<(Format, Vec<u8>, Vec<u8>)>,
}

/// Verify the policy history from the pinned `root` to `tip` and return the policy in force at
/// `tip`. Every commit must be valid and the last change approved (the hook's and a verifier's
/// rule alike: an unapproved change waits on [`PROPOSED_POLICY_REF`]).
pub fn walk(repo: &gix::Repository, root: ObjectId, tip: ObjectId, now: SystemTime) -> Result<State, ChainError> {
    walk_pushed(repo, root, tip, tip, now)
}

/// [`walk`] for a push: the commits after `old` (the ref's value before the push, or where a
/// new ref starts) are new, so each must be signed now (within the default `max_age`) by an
/// admin whose key and access are valid now, not only at the time the signature claims (T31:
/// an admin whose access ended cannot back-date a signature). The commits before it were
/// accepted when they were pushed, and are judged at their signatures' time.
pub fn walk_pushed(
    repo: &gix::Repository,
    root: ObjectId,
    tip: ObjectId,
    old: ObjectId,
    now: SystemTime,
) -> Result<State, ChainError> {
    let root_state = root_state(repo, root)?;
    let line = line_from(repo, root, tip)?;
    let new_from = line.iter().position(|c| *c == old).map_or(0, |i| i + 1);
    let new_from = if old == tip { line.len() } else { new_from };
    let advanced = advance_seen(repo, root_state, &line, When { now, new_from }, &mut |_| {});
    match advanced.stopped {
        Some(e) => Err(e),
        None => Ok(advanced.state),
    }
}

/// The time a walk judges signatures at: `now`, for the commits from `new_from` on in the
/// line (pushed now: valid now and fresh); the others at the time each signature claims
/// (accepted before: a signature that has expired since, or an algorithm the standard policy
/// stops accepting later, does not undo a history).
#[derive(Clone, Copy)]
struct When {
    now: SystemTime,
    new_from: usize,
}

/// Verify `line` (commits after `state.commit`, oldest first, each the child of the one before)
/// on top of the trusted `state`: the policy in force at the last one.
pub fn walk_from(
    repo: &gix::Repository,
    state: State,
    line: &[ObjectId],
    now: SystemTime,
) -> Result<State, ChainError> {
    let advanced = advance(repo, state, line, now);
    match advanced.stopped {
        Some(e) => Err(e),
        None => Ok(advanced.state),
    }
}

/// How far a policy history goes ([`advance`]).
#[derive(Debug)]
pub struct Advanced {
    /// The policy in force at the newest valid commit.
    pub state: State,
    /// How many commits of the line are valid and settled: up to the last one after which no
    /// change is waiting (a verifier trusts the history that far, and no further: a change
    /// still waiting may yet be abandoned by an honest history).
    pub settled: usize,
    /// Why it stops short of the line's end, if it does: the first invalid commit, or a last
    /// change still waiting for approvals ([`ChainError::Unapproved`], every commit valid).
    pub stopped: Option<ChainError>,
}

/// Like [`walk_from`], for a verifier that keeps what it trusted: the policy in force as far as
/// `line` is valid, and why it stops, instead of all or nothing. A commit that is not valid,
/// and everything after it, is never in force.
pub fn advance(repo: &gix::Repository, state: State, line: &[ObjectId], now: SystemTime) -> Advanced {
    advance_seen(repo, state, line, When { now, new_from: line.len() }, &mut |_| {})
}

/// [`advance`], telling `seen` what each valid commit did.
fn advance_seen(
    repo: &gix::Repository,
    state: State,
    line: &[ObjectId],
    when: When,
    seen: &mut dyn FnMut(Entry),
) -> Advanced {
    let mut in_force = state;
    let mut settled = 0;
    let stop = |state, settled, e| Advanced { state, settled, stopped: Some(e) };
    let mut tree_in_force = match read_commit(repo, in_force.commit) {
        Ok(commit) => commit.tree,
        Err(e) => return stop(in_force, settled, e),
    };
    // The change waiting for approvals: its first commit, tree, and signers so far.
    let mut pending: Option<(ObjectId, ObjectId, BTreeSet<String>)> = None;
    for (at, &id) in line.iter().enumerate() {
        let commit = match read_commit(repo, id) {
            Ok(commit) => commit,
            Err(e) => return stop(in_force, settled, e),
        };
        let signer = match admin_signer(&in_force.policy, &commit, when.now, at >= when.new_from) {
            Ok(signer) => signer,
            Err(e) => return stop(in_force, settled, e),
        };
        let entry = |step| Entry { commit: id, time: commit.time, signer: Some(signer.clone()), step };
        if commit.tree == tree_in_force {
            // Signing what is already in force approves nothing, and harms nothing.
            pending = None;
            settled = at + 1;
            seen(entry(Step::Unchanged));
            continue;
        }
        let signers = match &mut pending {
            Some((_, tree, signers)) if *tree == commit.tree => signers,
            _ => &mut pending.insert((id, commit.tree, BTreeSet::new())).2,
        };
        signers.insert(signer.clone());
        let needed = in_force.policy.admins.unwrap_or(1);
        if signers.len() < needed {
            seen(entry(Step::Waiting { have: signers.len(), needed }));
            continue;
        }
        let signed_by: Vec<String> = signers.iter().cloned().collect();
        let policy = match policy_at(repo, &commit) {
            Ok(policy) => policy,
            Err(e) => return stop(in_force, settled, e),
        };
        if let Err(message) = check_change(&in_force.policy, &policy, &signed_by) {
            return stop(in_force, settled, ChainError::Access { commit: id, message });
        }
        let (changes, granted) = (changes(&in_force.policy, &policy), granted(&in_force.policy, &policy));
        seen(entry(Step::InForce { signed_by: signed_by.clone(), changes, granted }));
        tree_in_force = commit.tree;
        in_force = State { commit: id, policy, signed_by };
        pending = None;
        settled = at + 1;
    }
    let stopped = pending.map(|(commit, _, signers)| ChainError::Unapproved {
        commit,
        have: signers.into_iter().collect(),
        needed: in_force.policy.admins.unwrap_or(1),
    });
    Advanced { state: in_force, settled, stopped }
}

/// Where a verifier that keeps what it trusted stands ([`follow`]).
#[derive(Debug)]
pub struct Followed {
    /// The policy in force.
    pub state: State,
    /// The newest commit of the history trusted now: remember it with `state.commit`.
    pub at: ObjectId,
    /// Why the history served was not followed to its end, if it was not (a change still
    /// waiting for its admins is not a refusal: it is not in force yet, and nothing is wrong).
    pub refused: Option<ChainError>,
}

/// For a verifier that keeps what it trusted (the helper, the CLI): follow the policy history
/// from `root` to `tip`, starting from the history trusted last for that root (`trusted`: its
/// newest commit and the commit in force there), as far as it is valid. A history that does
/// not descend from the one trusted last is refused whole ([`ChainError::Rewound`]); so is
/// every commit from the first invalid one on; the policy trusted before stays in force. Fails
/// only when the root, or the policy trusted last, cannot be read.
pub fn follow(
    repo: &gix::Repository,
    root: ObjectId,
    trusted: Option<(ObjectId, ObjectId)>,
    tip: ObjectId,
    now: SystemTime,
) -> Result<Followed, ChainError> {
    let (trusted_tip, state) = match trusted {
        Some((at, commit)) => (at, State { commit, policy: policy_of(repo, commit)?, signed_by: Vec::new() }),
        None => (root, root_state(repo, root)?),
    };
    if tip == trusted_tip {
        return Ok(Followed { state, at: tip, refused: None });
    }
    if line_from(repo, trusted_tip, tip).is_err() {
        let refused = ChainError::Rewound { trusted: trusted_tip, tip };
        return Ok(Followed { state, at: trusted_tip, refused: Some(refused) });
    }
    // From the commit in force, so approvals of a change still waiting are counted again.
    let line = match line_from(repo, state.commit, tip) {
        Ok(line) => line,
        Err(e) => return Ok(Followed { state, at: trusted_tip, refused: Some(e) }),
    };
    let advanced = advance(repo, state, &line, now);
    // Trusted from now on: up to the newest settled commit, never behind what was trusted
    // before (a key that has expired since can make an old signature fail now: that moves
    // nothing back), and never into a change still waiting, which an honest history may yet
    // abandon.
    let trusted_at = line.iter().position(|c| *c == trusted_tip).map_or(0, |i| i + 1);
    let at = match advanced.settled.checked_sub(1).and_then(|i| line.get(i)) {
        Some(newest) if advanced.settled > trusted_at => *newest,
        _ => trusted_tip,
    };
    let refused = advanced.stopped.filter(|e| !matches!(e, ChainError::Unapproved { .. }));
    Ok(Followed { state: advanced.state, at, refused })
}

/// One commit of a policy history, as [`log`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The commit.
    pub commit: ObjectId,
    /// Its committer time (seconds since the epoch), as the commit claims it.
    pub time: i64,
    /// The admin whose signature it carries (none for the pinned root).
    pub signer: Option<String>,
    /// What it did.
    pub step: Step,
}

/// What a commit of the policy history did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The pinned root: trusted by the pin.
    Founded,
    /// It edits the policy, or approves an edit, which needs more admins still.
    Waiting { have: usize, needed: usize },
    /// With it the change is signed by enough admins, and in force.
    InForce { signed_by: Vec<String>, changes: Vec<String>, granted: Vec<String> },
    /// It signs what is in force already: nothing changes.
    Unchanged,
}

/// A policy history read from its root: each valid commit, the policy in force at the last,
/// and why the history stops short of its tip, if it does.
#[derive(Debug)]
pub struct Log {
    /// The root first.
    pub entries: Vec<Entry>,
    /// The policy in force.
    pub state: State,
    /// The first invalid commit (nothing from it on is in force), or a last change still
    /// waiting for admins ([`ChainError::Unapproved`]).
    pub stopped: Option<ChainError>,
}

/// The policy history from the pinned `root` to `tip`, commit by commit: who signed what, and
/// what each change did. Fails only when the root cannot be read.
pub fn log(repo: &gix::Repository, root: ObjectId, tip: ObjectId, now: SystemTime) -> Result<Log, ChainError> {
    let state = root_state(repo, root)?;
    let founded = Entry { commit: root, time: read_commit(repo, root)?.time, signer: None, step: Step::Founded };
    let mut entries = vec![founded];
    let line = match line_from(repo, root, tip) {
        Ok(line) => line,
        Err(e) => return Ok(Log { entries, state, stopped: Some(e) }),
    };
    let when = When { now, new_from: line.len() };
    let advanced = advance_seen(repo, state, &line, when, &mut |e| entries.push(e));
    Ok(Log { entries, state: advanced.state, stopped: advanced.stopped })
}

/// What a change does to the policy, for people: who is added, removed, made an admin or
/// deploy-only, renewed; whose keys change; how many admins sign a change; the rules.
pub fn changes(old: &Policy, new: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if old.admins != new.admins {
        let n = |a: Option<usize>| a.map_or("unset".to_owned(), |a| a.to_string());
        out.push(format!("admins {} -> {}", n(old.admins), n(new.admins)));
    }
    let access = |a: Access| if a == Access::Admin { "admin" } else { "deploy" };
    for (name, p) in &new.people {
        match old.people.get(name) {
            None => {
                let sponsor = p.sponsor.as_deref().map(|s| format!(", sponsored by {s}")).unwrap_or_default();
                out.push(format!("adds {name} ({} access{sponsor})", access(p.access)));
            }
            Some(before) => {
                if before.access != p.access {
                    out.push(format!("gives {name} {} access", access(p.access)));
                }
                if before.keys != p.keys {
                    out.push(format!("changes {name}'s keys"));
                }
                if before.granted != p.granted {
                    let date = p.granted.map_or("none".to_owned(), |d| d.to_string());
                    out.push(format!("renews {name} (granted {date})"));
                }
                if before.expires != p.expires {
                    let date = p.expires.map_or("never".to_owned(), |d| d.to_string());
                    out.push(format!("sets {name}'s access to expire {date}"));
                }
                if before.hardware != p.hardware {
                    let does = if p.hardware { "requires" } else { "no longer requires" };
                    out.push(format!("{does} security keys for {name} (hardware)"));
                }
            }
        }
    }
    out.extend(old.people.keys().filter(|n| !new.people.contains_key(*n)).map(|n| format!("removes {n}")));
    for (name, m) in &new.machines {
        match old.machines.get(name) {
            None => out.push(format!("adds machine {name}")),
            Some(before) => {
                if before.keys != m.keys {
                    out.push(format!("changes machine {name}'s keys"));
                }
                if before.hardware != m.hardware {
                    let does = if m.hardware { "requires" } else { "no longer requires" };
                    out.push(format!("{does} security keys for machine {name} (hardware)"));
                }
            }
        }
    }
    out.extend(old.machines.keys().filter(|n| !new.machines.contains_key(*n)).map(|n| format!("removes machine {n}")));
    if old.environments != new.environments {
        out.push(format!("environments: {}", new.environments.join(", ")));
    }
    if old.inactivity != new.inactivity {
        let d = new.inactivity.map_or("none".to_owned(), crate::duration::format);
        out.push(format!("inactivity {d}"));
    }
    // What a rule asks, not where it is written.
    let rules = |p: &Policy| {
        let rule = |r: &crate::policy::Rule| {
            (
                r.tags.clone(),
                r.environments.clone(),
                r.people,
                r.machines.clone(),
                r.max_age,
                r.presence,
                r.pushers.clone(),
            )
        };
        p.rules.iter().map(rule).collect::<Vec<_>>()
    };
    if old.rules.len() != new.rules.len() {
        out.push(format!("rules: {} -> {}", old.rules.len(), new.rules.len()));
    } else if rules(old) != rules(new) {
        out.push("changes the rules".to_owned());
    }
    // What a rule asks of security keys is said on its own, whatever else changes.
    let word = |p: Option<crate::policy::Presence>| p.map_or("none", |p| p.as_str());
    if old.rules.len() == new.rules.len() {
        for (before, after) in old.rules.iter().zip(&new.rules).filter(|(b, a)| b.presence != a.presence) {
            out.push(format!("rule {}: presence {} -> {}", after.number, word(before.presence), word(after.presence)));
        }
    } else {
        let strongest = |p: &Policy| p.rules.iter().filter_map(|r| r.presence).max();
        if strongest(old) != strongest(new) {
            out.push(format!("presence required: {} -> {}", word(strongest(old)), word(strongest(new))));
        }
    }
    // So is who may push a protected tag.
    let pushes = |p: &Option<crate::policy::Pushers>| match p {
        None => "unsigned".to_owned(),
        Some(crate::policy::Pushers::Anyone) => "signed by anyone in the policy".to_owned(),
        Some(crate::policy::Pushers::Only(names)) => format!("signed by {}", names.join(" or ")),
    };
    if old.rules.len() == new.rules.len() {
        for (before, after) in old.rules.iter().zip(&new.rules).filter(|(b, a)| b.pushers != a.pushers) {
            out.push(format!(
                "rule {}: pushes {} -> {}",
                after.number,
                pushes(&before.pushers),
                pushes(&after.pushers)
            ));
        }
    } else {
        let signed = |p: &Policy| p.rules.iter().filter(|r| r.pushers.is_some()).count();
        if signed(old) != signed(new) {
            out.push(format!("rules requiring a signed push: {} -> {}", signed(old), signed(new)));
        }
    }
    if out.is_empty() && old.fingerprint != new.fingerprint {
        out.push("edits policy.toml or its key files".to_owned());
    }
    out
}

/// What a change grants a person, in words ("adds", "renews", …), if anything: added, made an
/// admin, renewed (`granted`), access extended or made lasting (`expires`), new keys, a new
/// sponsor. Each must be signed for by their sponsor ([`check_change`]).
fn grant(old: &Policy, name: &str, person: &crate::policy::Person) -> Option<&'static str> {
    let Some(before) = old.people.get(name) else { return Some("adds") };
    let later = |b: Option<jiff::civil::Date>, a: Option<jiff::civil::Date>| match (b, a) {
        (Some(b), Some(a)) => a > b,
        (Some(_), None) => true,
        _ => false,
    };
    if before.access == Access::Deploy && person.access == Access::Admin {
        Some("makes an admin of")
    } else if before.granted != person.granted {
        Some("renews")
    } else if later(before.expires, person.expires) {
        Some("extends the access of")
    } else if before.keys != person.keys {
        Some("changes the keys of")
    } else if before.hardware && !person.hardware {
        Some("lifts the security-key requirement of")
    } else if before.sponsor != person.sponsor {
        Some("changes the sponsor of")
    } else {
        None
    }
}

/// The people a change grants something ([`grant`]), each of whom its sponsor must sign for.
pub fn granted(old: &Policy, new: &Policy) -> Vec<String> {
    new.people
        .iter()
        .filter(|(name, person)| grant(old, name, person).is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The trusted start of a policy history: the pinned `root` commit's policy, which must say
/// how many admins sign a change.
pub fn root_state(repo: &gix::Repository, root: ObjectId) -> Result<State, ChainError> {
    let state = State { commit: root, policy: policy_at(repo, &read_commit(repo, root)?)?, signed_by: Vec::new() };
    if state.policy.admins.is_none() {
        return Err(ChainError::Access { commit: root, message: NO_ADMINS.into() });
    }
    Ok(state)
}

/// The commits after `root` up to `tip` by first parents, oldest first; merges are refused.
pub fn line_from(repo: &gix::Repository, root: ObjectId, tip: ObjectId) -> Result<Vec<ObjectId>, ChainError> {
    let mut line = Vec::new();
    let mut at = tip;
    while at != root {
        let commit = read_commit(repo, at)?;
        match commit.parents.as_slice() {
            [] => return Err(ChainError::NotFromRoot { root, tip }),
            [parent] => {
                line.push(at);
                at = *parent;
            }
            _ => return Err(ChainError::Merge(at)),
        }
    }
    line.reverse();
    Ok(line)
}

/// The admin of `policy` whose valid signature `commit` carries.
fn admin_signer(policy: &Policy, commit: &Commit, now: SystemTime, new: bool) -> Result<String, ChainError> {
    let fail = |problem| ChainError::Signature { commit: commit.id, problem: Box::new(problem) };
    let Some((format, block, payload)) = &commit.signature else {
        return Err(fail(signature::Problem::Unsigned));
    };
    let fact = signature::crypto(policy, Some((*format, block)), payload).map_err(|check| match check.problem {
        Some(problem) => fail(problem),
        None => fail(signature::Problem::UnknownKey(Vec::new())),
    })?;
    // New: valid now and fresh. Accepted before: valid when made (never later than now, so a
    // signature dated ahead waits until it comes due).
    let Some(created) = fact.created else {
        return Err(fail(signature::Problem::NeedsTime));
    };
    let timing = match new {
        true => Timing { now, fresh_within: Some(crate::policy::DEFAULT_MAX_AGE), claimed: None },
        false => Timing { now: created.min(now), fresh_within: None, claimed: None },
    };
    let check = signature::judge(policy, &fact, timing);
    if let Some(problem) = check.problem {
        return Err(fail(problem));
    }
    match check.signer {
        Some(Principal::Person(name)) if policy.people.get(&name).is_some_and(|p| p.access == Access::Admin) => {
            Ok(name)
        }
        Some(principal) => Err(ChainError::NotAdmin { commit: commit.id, principal }),
        None => Err(fail(signature::Problem::UnknownKey(Vec::new()))),
    }
}

/// The access rules a change must keep, beyond what any policy must be: the new policy says
/// how many admins sign its own changes (`admins`); everyone it adds, raises to admin or
/// renews (`granted`) names a `sponsor` who signed the change, and an admin's sponsor is an
/// admin of the policy in force. Each refusal names the person and their line.
pub fn check_change(old: &Policy, new: &Policy, signed_by: &[String]) -> Result<(), String> {
    if new.admins.is_none() {
        return Err(NO_ADMINS.into());
    }
    for (name, person) in &new.people {
        let Some(what) = grant(old, name, person) else { continue };
        let at = format!("policy.toml:{}", person.line);
        let Some(sponsor) = &person.sponsor else {
            // Access given or renewed names who grants it; a founding admin's new key or
            // longer access, with no sponsor to ask, rests on the admins who signed.
            if matches!(what, "adds" | "makes an admin of" | "renews") {
                return Err(format!("{what} {name} ({at}) without a sponsor; add sponsor = \"<who grants it>\""));
            }
            continue;
        };
        let sponsor_is_admin = old.people.get(sponsor).is_some_and(|s| s.access == Access::Admin);
        if person.access == Access::Admin && !sponsor_is_admin {
            return Err(format!(
                "{what} {name} ({at}) with access = \"admin\", sponsored by {sponsor}, who is not an admin; only admins sponsor admins"
            ));
        }
        if !signed_by.contains(sponsor) {
            return Err(format!(
                "{what} {name} ({at}), sponsored by {sponsor}, but {sponsor} did not sign the change (signed by {})",
                signed_by.join(", ")
            ));
        }
    }
    Ok(())
}

fn read_commit(repo: &gix::Repository, id: ObjectId) -> Result<Commit, ChainError> {
    let read = |message: String| ChainError::Read { commit: id, message };
    let object = repo.find_object(id).map_err(|e| read(e.to_string()))?;
    if object.kind != gix::objs::Kind::Commit {
        return Err(read(format!("it is a {}, not a commit", object.kind)));
    }
    let hash = repo.object_hash();
    let parsed = gix::objs::CommitRef::from_bytes(&object.data, hash).map_err(|e| read(e.to_string()))?;
    let signature = gix::objs::CommitRefIter::signature(&object.data, hash).map_err(|e| read(e.to_string()))?.map(
        |(block, signed)| {
            let block = block.to_vec();
            let format = Format::from_signature(&block).unwrap_or(Format::OpenPgp);
            (format, block, signed.to_bstring().to_vec())
        },
    );
    let time = parsed.committer().ok().and_then(|c| c.time().ok()).map_or(0, |t| t.seconds);
    Ok(Commit { id, tree: parsed.tree(), parents: parsed.parents().collect(), time, signature })
}

/// The policy at `commit` of a history already verified (by [`walk`], remembered by the
/// caller): no signature is checked.
pub fn policy_of(repo: &gix::Repository, commit: ObjectId) -> Result<Policy, ChainError> {
    policy_at(repo, &read_commit(repo, commit)?)
}

/// The policy in a commit's tree: `policy.toml`, with key paths read from the same tree.
fn policy_at(repo: &gix::Repository, commit: &Commit) -> Result<Policy, ChainError> {
    let invalid = |message: String| ChainError::Invalid { commit: commit.id, message };
    let tree = repo.find_tree(commit.tree).map_err(|e| invalid(e.to_string()))?;
    let blob = |path: &str| -> std::io::Result<Vec<u8>> {
        let not_found =
            || std::io::Error::new(std::io::ErrorKind::NotFound, format!("no file {path} in the policy commit"));
        let entry = tree.lookup_entry_by_path(path).map_err(std::io::Error::other)?.ok_or_else(not_found)?;
        if !entry.mode().is_blob() {
            return Err(not_found());
        }
        Ok(entry.object().map_err(std::io::Error::other)?.detach().data)
    };
    let text = blob("policy.toml").map_err(|e| invalid(e.to_string()))?;
    let text = String::from_utf8(text).map_err(|_| invalid("policy.toml is not UTF-8".into()))?;
    let name = PathBuf::from(format!("{POLICY_REF}@{}:policy.toml", short(&commit.id)));
    Policy::parse_with(&name, &text, &blob).map_err(|e| invalid(e.to_string()))
}
