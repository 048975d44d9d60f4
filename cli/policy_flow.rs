//! `git signed policy init | propose | approve`: changing the policy kept in the repository
//! (`refs/signed/policy`) the way deploy tags are made. Every commit is signed by stock git
//! (`git commit-tree -S`, so `user.signingKey`, `gpg.format` and tokens work unchanged); the
//! core's walk (`chain::log`) says what each new commit does before anything is pushed, and
//! the mirror's hook judges it again.
//!
//! - `init FILE` founds the history: a root commit holding the policy and the key files it
//!   names, kept as the local `refs/signed/policy` until the mirror is pinned to it.
//! - `propose FILE` commits an edit on top of the policy in force: in force at once when one
//!   admin's signature is enough (pushed to `refs/signed/policy`), else waiting on
//!   `refs/signed/proposed/policy`.
//! - `approve` signs the waiting change again (`--allow-empty`): pushed to `refs/signed/policy`
//!   (and the proposal removed) once enough admins signed, else back to the proposal.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use git_signed_policy::Policy;
use git_signed_policy::chain::{self, POLICY_REF, PROPOSED_POLICY_REF, Step};
use gix::ObjectId;

use crate::context;
use crate::exit::Error;
use crate::git::{self, PushFailed};

/// What `policy init`, `propose` and `approve` did.
pub struct Changed {
    /// The new commit.
    pub commit: ObjectId,
    /// The admin who signed it (as the policy in force names them).
    pub signer: String,
    /// What it does: founds the policy, waits for admins, or puts a change in force.
    pub step: Step,
    /// Where it went: `refs/signed/policy`, `refs/signed/proposed/policy`, or nowhere yet
    /// (`init`: the mirror is pinned first).
    pub pushed_to: Option<String>,
    /// The remote it went to.
    pub remote: String,
}

/// The policy file and the files it reads, at the paths it names them, relative to its
/// directory: what a policy commit's tree holds.
fn files(path: &Path) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Refused(format!("cannot read {}: {e}", path.display())))?;
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let read: RefCell<Vec<(String, Vec<u8>)>> = RefCell::new(Vec::new());
    let read_key = |name: &str| -> std::io::Result<Vec<u8>> {
        let relative = Path::new(name);
        let inside = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(std::io::Error::other(format!(
                "{name}: a policy kept in the repository names key files inside its directory (like keys/alice.asc)"
            )));
        }
        let bytes = std::fs::read(dir.join(relative))?;
        read.borrow_mut().push((name.to_owned(), bytes.clone()));
        Ok(bytes)
    };
    let policy = Policy::parse_with(path, &text, &read_key)?;
    if policy.admins.is_none() {
        return Err(Error::Refused(format!(
            "{} has no `admins = N` line: a policy kept in the repository says how many admins sign a change",
            path.display()
        )));
    }
    let mut files = read.into_inner();
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    files.insert(0, ("policy.toml".to_owned(), text.into_bytes()));
    Ok(files)
}

/// The tree holding `files`, written into the repository's object store.
fn tree(files: &[(String, Vec<u8>)]) -> Result<String, Error> {
    // A new index of its own (git creates it), so the user's staged work is left alone.
    let scratch = tempfile::tempdir()?;
    let index_path = scratch.path().join("index").to_string_lossy().into_owned();
    for (name, bytes) in files {
        let blob = git::output_with_input(&["hash-object", "-w", "--stdin"], bytes, "storing a policy file")?;
        git::output_env(
            &["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{name}")],
            ("GIT_INDEX_FILE", &index_path),
            "building the policy tree",
        )?;
    }
    git::output_env(&["write-tree"], ("GIT_INDEX_FILE", &index_path), "building the policy tree")
}

/// A new commit of `tree` on `parent`, signed by the user's own git.
fn commit(tree: &str, parent: Option<&str>, message: &str) -> Result<ObjectId, Error> {
    let mut args = vec!["commit-tree", "-S", tree];
    if let Some(p) = parent {
        args.extend(["-p", p]);
    }
    args.extend(["-m", message]);
    let id = git::sign_output(&args, "signing the policy commit")?;
    ObjectId::from_hex(id.as_bytes()).map_err(|e| Error::Internal(format!("git commit-tree printed {id:?}: {e}")))
}

/// What the history from the pinned root says `new` (the last commit) does, and who signed it;
/// an error, naming the commit and why, when it would not be valid.
fn judge(root: ObjectId, new: ObjectId) -> Result<(String, Step), Error> {
    let repo = context::repository()?;
    let log = chain::log(&repo.repo, root, new, SystemTime::now())?;
    if let Some(e) = log.stopped.as_ref().filter(|e| !matches!(e, chain::ChainError::Unapproved { .. })) {
        return Err(Error::Refused(format!("{e}; nothing was pushed")));
    }
    match log.entries.last() {
        Some(entry) if entry.commit == new => {
            Ok((entry.signer.clone().unwrap_or_else(|| "the pinned root".into()), entry.step.clone()))
        }
        _ => Err(Error::Internal(format!("policy commit {new} is not in its own history"))),
    }
}

/// Fetch `refs` (full names) from `remote` into the same names here; a ref the remote lacks
/// is removed here too.
fn fetch(remote: &str, refs: &[&str]) -> Result<(), Error> {
    for name in refs {
        let listed = git::output(&["ls-remote", "--refs", remote, name], "asking the mirror for the policy")?;
        if listed.lines().any(|l| l.ends_with(&format!("\t{name}"))) {
            git::output(&["fetch", "-q", "--no-tags", remote, &format!("+{name}:{name}")], "fetching the policy")?;
        } else if git::resolve(name).is_some() {
            git::output(&["update-ref", "-d", name], "forgetting a policy ref the mirror no longer has")?;
        }
    }
    Ok(())
}

/// Push `specs` (`<id>:<ref>`, `:<ref>`) in one atomic push, and set the same refs here, as a
/// fetch would have.
fn push(remote: &str, specs: &[&str]) -> Result<(), Error> {
    let mut args = vec!["--atomic", remote];
    args.extend_from_slice(specs);
    git::push(&args).map_err(|e| match e {
        PushFailed::Rejected(why) => Error::PushRejected(format!("the mirror refused the policy change:{why}")),
        PushFailed::Failed(e) => e,
    })?;
    for spec in specs {
        let (id, name) = spec.split_once(':').unwrap_or(("", spec));
        let update = if id.is_empty() { vec!["update-ref", "-d", name] } else { vec!["update-ref", name, id] };
        git::output(&update, "setting the policy refs here as the mirror has them")?;
    }
    Ok(())
}

fn oid(hex: &str) -> Result<ObjectId, Error> {
    ObjectId::from_hex(hex.as_bytes()).map_err(|e| Error::Internal(e.to_string()))
}

/// `git signed policy init FILE`.
pub fn init(file: &Path, remote: &str) -> Result<Changed, Error> {
    let _ = context::repository()?;
    if let Some(existing) = git::resolve(POLICY_REF) {
        return Err(Error::Refused(format!(
            "{POLICY_REF} already exists here ({}); change it with: git signed policy propose {}",
            &existing[..12.min(existing.len())],
            file.display()
        )));
    }
    let tree = tree(&files(file)?)?;
    let root = commit(&tree, None, "Found the deploy policy")?;
    git::output(&["update-ref", POLICY_REF, &root.to_string(), ""], "keeping the founding commit")?;
    Ok(Changed { commit: root, signer: String::new(), step: Step::Founded, pushed_to: None, remote: remote.to_owned() })
}

/// `git signed policy propose FILE`.
pub fn propose(file: &Path, remote: &str, message: Option<&str>) -> Result<Changed, Error> {
    fetch(remote, &[POLICY_REF, PROPOSED_POLICY_REF])?;
    if git::resolve(PROPOSED_POLICY_REF).is_some() {
        return Err(Error::Refused(format!(
            "a policy change is waiting on {PROPOSED_POLICY_REF}: approve it (git signed policy approve), or withdraw it \
             (git push {remote} :{PROPOSED_POLICY_REF}) before proposing another"
        )));
    }
    let (_, root, tip) = context::policy_history(None)?;
    let tree = tree(&files(file)?)?;
    let in_force_tree = git::output(&["rev-parse", &format!("{tip}^{{tree}}")], "reading the policy in force")?;
    if tree == in_force_tree {
        return Err(Error::Refused(format!("{} is the policy in force already: nothing to propose", file.display())));
    }
    let new = commit(&tree, Some(&tip.to_string()), message.unwrap_or("Change the deploy policy"))?;
    let (signer, step) = judge(root, new)?;
    let target = if matches!(step, Step::InForce { .. }) { POLICY_REF } else { PROPOSED_POLICY_REF };
    push(remote, &[&format!("{new}:{target}")])?;
    Ok(Changed { commit: new, signer, step, pushed_to: Some(target.to_owned()), remote: remote.to_owned() })
}

/// `git signed policy approve`: shows what the waiting change does, then signs it.
pub fn approve(remote: &str, yes: bool) -> Result<Changed, Error> {
    fetch(remote, &[POLICY_REF, PROPOSED_POLICY_REF])?;
    let Some(proposal) = git::resolve(PROPOSED_POLICY_REF) else {
        return Err(Error::Refused(format!("no policy change is waiting on {remote}'s {PROPOSED_POLICY_REF}")));
    };
    let (repo, root, _) = context::policy_history(Some(&proposal))?;
    let log = chain::log(&repo.repo, root, oid(&proposal)?, SystemTime::now())?;
    if let Some(e) = log.stopped.as_ref().filter(|e| !matches!(e, chain::ChainError::Unapproved { .. })) {
        return Err(Error::Refused(format!("the waiting change is not valid: {e}; nothing was signed")));
    }
    let changes = chain::changes(&log.state.policy, &chain::policy_of(&repo.repo, oid(&proposal)?)?);
    eprintln!(
        "the waiting policy change {}: {}",
        &proposal[..12.min(proposal.len())],
        if changes.is_empty() { "no visible change".to_owned() } else { changes.join("; ") }
    );
    if !yes && !crate::workflow::confirm("Sign it?", "git signed policy approve --yes")? {
        return Err(Error::Refused("not approved; nothing was signed".into()));
    }
    let tree = git::output(&["rev-parse", &format!("{proposal}^{{tree}}")], "reading the waiting change")?;
    let new = commit(&tree, Some(&proposal), "Approve the deploy policy change")?;
    let (signer, step) = judge(root, new)?;
    let before = log.stopped.as_ref().map_or(0, |e| match e {
        chain::ChainError::Unapproved { have, .. } => have.len(),
        _ => 0,
    });
    if let Step::Waiting { have, .. } = step
        && have <= before
    {
        return Err(Error::Refused(format!(
            "{signer} signed this change already; another admin approves it: git signed policy approve"
        )));
    }
    let pushed_to = match step {
        Step::InForce { .. } => {
            push(remote, &[&format!("{new}:{POLICY_REF}"), &format!(":{PROPOSED_POLICY_REF}")])?;
            POLICY_REF
        }
        _ => {
            push(remote, &[&format!("{new}:{PROPOSED_POLICY_REF}")])?;
            PROPOSED_POLICY_REF
        }
    };
    Ok(Changed { commit: new, signer, step, pushed_to: Some(pushed_to.to_owned()), remote: remote.to_owned() })
}
