//! `git-signed-pre-receive`: the mirror's pre-receive hook (design.md §5).
//!
//! Reads every `<old> <new> <ref>` line, decides all refs with the verification core, then
//! accepts the whole push (exit 0) or declines it (exit 1) when any ref fails. Any error —
//! unreadable input, no policy, objects that cannot be read, an audit log that cannot be
//! written — declines the push: the hook fails closed.

mod audit;
mod decide;
mod notify;
mod signed_push;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{CommandFactory, Parser};
use git_signed_policy::{Policy, Repo};
use git_signed_tool::config::Config;
use git_signed_tool::store::Cache;
use gix::ObjectId;

/// The largest stdin accepted (a push of tens of thousands of refs fits easily).
const MAX_INPUT: u64 = 64 << 20;

/// Pre-receive hook: reject deploy tags that lack valid signatures from two people, keep
/// deploy tags immutable, fail closed.
#[derive(Parser)]
#[command(
    name = "git-signed-pre-receive",
    version,
    about,
    after_help = "Installed by `install.sh --repo PATH.git --policy FILE`; git runs it with
`<old> <new> <ref>` lines on stdin. Settings (git config in the repository): signed.policy
(a policy file), or signed.root (the first commit of refs/signed/policy: the policy is kept in
the repository, and changes to it must be signed by its admins), signed.auditLog (optional),
and signed.notify (optional: a program told of accepted changes to protected refs, with
signed.notifyTimeout, default 10s). Refs pushed together with a policy change are judged by
the policy before it. A rule with push_certificate or pushers needs `git push --signed` and
receive.certNonceSeed on the mirror (install.sh sets it).

With --post-receive it is the post-receive hook install.sh installs beside it: it runs
signed.notify for what the push changed, and always exits 0.

Examples:
  ./install.sh --repo /srv/git/app.git --policy /etc/git-signed/policy.toml \\
               --audit-log /var/log/git-signed/app.jsonl
  git push origin refs/tags/deploy/42         # from a clone: the mirror runs the hook

Exit status: 0 the push is accepted, 1 it is declined (a ref was rejected, the policy is missing
or broken, or any other error: the hook fails closed). With --post-receive: always 0."
)]
struct Args {
    /// Policy file (default: git config signed.policy)
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Run as the post-receive hook: tell signed.notify what the push changed
    #[arg(long, conflicts_with = "policy")]
    post_receive: bool,
}

/// Why the hook could not decide: every one declines the whole push (fail closed).
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("cannot read the ref updates from stdin: {0}")]
    Input(#[source] std::io::Error),
    #[error(transparent)]
    Updates(#[from] decide::BadUpdate),
    #[error("cannot resolve GIT_DIR: {0}")]
    GitDir(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] git_signed_tool::config::Error),
    #[error("signed.policy is not set for this repository; run install.sh --repo … --policy …")]
    NoPolicy,
    #[error("signed.root is {0:?}, not a commit id; set it to the first commit of refs/signed/policy")]
    Root(String),
    #[error("the policy kept in refs/signed/policy cannot be trusted: {0}")]
    PolicyHistory(#[from] git_signed_policy::chain::ChainError),
    #[error("policy error: {0}")]
    Policy(#[from] git_signed_policy::PolicyError),
    #[error(transparent)]
    Repo(#[from] git_signed_policy::RepoError),
    #[error("cannot write the audit log {}: {source}", path.display())]
    AuditLog { path: PathBuf, source: std::io::Error },
}

fn main() -> ExitCode {
    git_signed_tool::generate_if_asked(Args::command);
    let args = Args::parse();
    if args.post_receive {
        // It writes into the notify program's stdin: a program that exits early must not
        // kill it with SIGPIPE, so that disposition is left as Rust sets it.
        post_receive();
        return ExitCode::SUCCESS;
    }
    git_signed_tool::die_quietly_on_closed_pipe();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("git-signed: push declined (fail closed): {e}");
            if let Some(note) = git_signed_tool::old_git() {
                eprintln!("git-signed: {note}");
            }
            ExitCode::from(1)
        }
    }
}

/// The policy in force: the newest approved one on `refs/signed/policy`, walked from `root`
/// (the root's own before the ref exists: the push that founds it carries its commit), or
/// read at the commit an earlier run found for the same tip.
fn in_force(repo: &Repo, cache: Option<&Cache>, root: ObjectId, now: SystemTime) -> Result<Policy, Error> {
    use git_signed_policy::chain;
    let tip = repo.resolve(chain::POLICY_REF)?.unwrap_or(root);
    if let Some(state) = cache.and_then(|c| c.policy_in_force(&root, &tip)) {
        return Ok(chain::policy_of(&repo.repo, state)?);
    }
    let state = chain::walk(&repo.repo, root, tip, now)?;
    if let Some(cache) = cache {
        cache.remember_policy_in_force(&root, &tip, &state.commit);
    }
    Ok(state.policy)
}

/// Keep the signature facts an accepted push verified. Its tags join the signing history on
/// the next run, once git has written their refs.
fn remember(cache: &mut Cache, decisions: &[decide::Decision]) {
    cache.learn(decisions.iter().filter_map(|d| d.verdict.as_ref()));
    cache.save();
}

/// The repository the hook runs in: `GIT_DIR`, made absolute.
fn git_dir() -> Result<PathBuf, Error> {
    let git_dir = std::env::var_os("GIT_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::path::absolute(&git_dir).map_err(Error::GitDir)
}

/// The post-receive hook: run `signed.notify` for the accepted protected changes git made.
fn post_receive() {
    let mut input = String::new();
    if std::io::stdin().take(MAX_INPUT).read_to_string(&mut input).is_err() {
        return;
    }
    let Ok(git_dir) = git_dir() else { return };
    let keys = ["signed.notify", "signed.notifyTimeout", "signed.auditLog"];
    let config = match Config::read(Some(&git_dir), &keys) {
        Ok(config) => config,
        Err(e) => return eprintln!("git-signed: notify: {e}; the push itself is done"),
    };
    let Some(program) = config.path("signed.notify", &git_dir) else { return };
    let timeout = match config.get("signed.notifyTimeout").map(git_signed_policy::duration::parse) {
        None => notify::DEFAULT_TIMEOUT,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("git-signed: notify: signed.notifyTimeout: {e}; using {}", notify::DEFAULT_TIMEOUT.as_secs());
            notify::DEFAULT_TIMEOUT
        }
    };
    let audit_log = config.path("signed.auditLog", &git_dir);
    notify::post_receive(&git_dir, &input, &program, timeout, audit_log.as_deref());
}

fn run(args: Args) -> Result<bool, Error> {
    let mut input = String::new();
    std::io::stdin().take(MAX_INPUT).read_to_string(&mut input).map_err(Error::Input)?;
    let updates = decide::parse_updates(&input)?;

    let git_dir = git_dir()?;
    let config = Config::read(Some(&git_dir), &["signed.policy", "signed.root", "signed.auditLog", "signed.notify"])?;
    let repo = Repo::open_in_hook(&git_dir)?;
    let now = SystemTime::now();
    let root = match (&args.policy, config.get("signed.root")) {
        (None, Some(root)) => {
            Some(ObjectId::from_hex(root.trim().as_bytes()).map_err(|_| Error::Root(root.to_owned()))?)
        }
        _ => None,
    };
    // What earlier runs learned (kept in the mirror's git directory); without it, everything
    // is verified from scratch, and the push is judged the same.
    let mut cache = Cache::for_repo(&repo).ok();
    let policy = match (root, args.policy) {
        (Some(root), _) => in_force(&repo, cache.as_ref(), root, now)?,
        (None, Some(p)) => Policy::load(&p)?,
        (None, None) => Policy::load(&config.path("signed.policy", &git_dir).ok_or(Error::NoPolicy)?)?,
    };
    let audit_log = config.path("signed.auditLog", &git_dir);

    let activity = match (policy.inactivity, cache.as_mut()) {
        (None, _) => None,
        (Some(_), Some(cache)) => Some(cache.activity(&repo, &policy, now)?),
        (Some(_), None) => Some(repo.history(&policy, now, None)?.0),
    };
    let signed_push = signed_push::presented(&repo, &policy, &updates, now);
    let pushed = signed_push.as_ref().map(|p| &p.outcome);
    let cx = decide::Context { policy: &policy, repo: &repo, now, activity: activity.as_ref(), root, pushed };
    let decisions: Vec<decide::Decision> = updates.iter().map(|u| decide::decide(&cx, u)).collect();
    let accepted = decisions.iter().all(|d| d.accepted);
    if let (true, Some(cache)) = (accepted, cache.as_mut()) {
        remember(cache, &decisions);
    }

    let proven = signed_push.as_ref().map(audit::Proven::of);
    let lines = audit::lines(&updates, &decisions, accepted, proven.as_ref(), now);
    if let Some(log) = &audit_log {
        // One write, so a concurrent push's lines never come between a push's own.
        let kept = signed_push.as_ref().zip(proven.as_ref()).and_then(|(push, p)| audit::Kept::of(push, p, now));
        let kept = kept.filter(|_| decisions.iter().any(|d| d.protected));
        let values = lines.iter().map(serde_json::to_value).chain(kept.iter().map(serde_json::to_value));
        let values = values.collect::<Result<Vec<_>, _>>().map_err(std::io::Error::other);
        values.and_then(|v| audit::append(log, &v)).map_err(|source| Error::AuditLog { path: log.clone(), source })?;
    }
    if accepted
        && config.get("signed.notify").is_some()
        && let Err(e) = notify::stage(&git_dir, &lines)
    {
        eprintln!(
            "git-signed: notify: cannot keep the decisions for signed.notify: {e}; it will not be told of this push"
        );
    }

    for d in &decisions {
        if let Some(message) = &d.message {
            let mark = if d.accepted { "ok" } else { "REJECTED" };
            eprintln!("git-signed: {mark} {}: {message}", d.refname);
        }
    }
    if !accepted {
        let rejected = decisions.iter().filter(|d| !d.accepted).count();
        eprintln!(
            "git-signed: push declined: {rejected} of {} ref update(s) rejected; nothing was changed",
            decisions.len()
        );
    }
    Ok(accepted)
}
