//! The people's workflow (design.md §3): `propose` (committer, layer 1, pushed to
//! `refs/signed/proposed/<tag>`), `approve` (reviewer, layer 2, pushed as `refs/tags/<tag>`),
//! `promote` (staging CI, a machine layer recording the tested transition).
//!
//! Every command signs with the user's own `git tag -s`, then checks the new layer with the
//! same core the mirror uses *before* pushing, so a refusal leaves nothing behind.

use std::time::SystemTime;

use git_signed_policy::layer;
use git_signed_policy::verdict::{Request, Verdict};
use git_signed_policy::{PUSH_ENVIRONMENT, Policy, Principal, Repo};

use crate::context::{self, Format};
use crate::exit::{self, Error, refuse};
use crate::git;

/// The namespace proposals travel in.
const PROPOSED: &str = "refs/signed/proposed/";

/// Options every workflow command takes.
#[derive(clap::Args)]
pub struct Common {
    /// The remote (the mirror) to fetch from and push to
    #[arg(long, default_value = "origin")]
    remote: String,
    /// Policy file (default: the policy pinned by git config signed.root, else signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `git signed propose`
#[derive(clap::Args)]
#[command(after_help = exit::help(
    "Example (the committer, after the pull request is merged):
  git signed propose deploy/42            # sign HEAD as deploy/42, push it as a proposal
  git signed propose deploy/42 1e61d66 -m 'Deploy the rate limiter'

It signs with your own git setup (git tag -s: user.signingKey, gpg.program, tokens) and pushes
to refs/signed/proposed/deploy/42. Then a reviewer runs: git signed approve deploy/42",
    "proposed: signed and pushed to refs/signed/proposed/<tag>",
    "refused (a name the policy does not protect, an existing tag, a key the policy does not\n     \
     know), or the mirror rejected the push; nothing was proposed",
))]
pub struct ProposeArgs {
    /// Deploy tag name, e.g. deploy/42
    tag: String,
    /// Commit to deploy (default: HEAD)
    commit: Option<String>,
    /// Tag message
    #[arg(long, short = 'm')]
    message: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `git signed approve`
#[derive(clap::Args)]
#[command(after_help = exit::help(
    "Example (the reviewer):
  git signed approve deploy/42            # shows the commits it deploys, asks, signs, pushes
  git signed approve deploy/42 --yes      # for scripts

You cannot approve a tag you proposed: two different people must sign.",
    "approved: signed and pushed as refs/tags/<tag>, the proposal removed",
    "refused (no proposal, your own proposal, not confirmed), or the mirror rejected the push;\n     \
     nothing was pushed",
))]
pub struct ApproveArgs {
    /// Deploy tag name, e.g. deploy/42
    tag: String,
    /// Approve without asking
    #[arg(long, short = 'y')]
    yes: bool,
    /// Tag message for your layer
    #[arg(long, short = 'm')]
    message: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `git signed promote`
#[derive(clap::Args)]
#[command(
    group = clap::ArgGroup::new("start").required(true).args(["from", "initial"]),
    after_help = exit::help(
        "Examples (the staging pipeline, after applying and testing):
  git signed promote deploy/42 --from deploy/41     # tested the transition deploy/41 -> deploy/42
  git signed promote deploy/1 --initial             # the environment's first deploy

It adds the machine's signed layer with the trailers
  Transition-From: deploy/41 <object id>       (or, with --initial: Transition: initial)
  Environment: staging
and pushes it. Production checks it with: git signed verify deploy/42 --environment production
--transition-from deploy/41 (or --initial)",
        "promoted: the machine's layer was signed and pushed",
        "refused (no such tag, a tag the mirror would not accept, a key that is not the machine's),\n     \
         or the mirror rejected the push; nothing was pushed",
    )
)]
pub struct PromoteArgs {
    /// Deploy tag to promote
    tag: String,
    /// The deploy tag the environment was at before (the tested transition's start)
    #[arg(long)]
    from: Option<String>,
    /// This is the environment's first deploy: there is no previous tag
    #[arg(long)]
    initial: bool,
    /// The environment that applied and tested it
    #[arg(long, default_value = "staging")]
    environment: String,
    /// The machine that must be signing (default: any machine a rule for this tag requires)
    #[arg(long)]
    machine: Option<String>,
    /// Tag message (the transition trailers are always added)
    #[arg(long, short = 'm')]
    message: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

fn tag_name(tag: &str) -> &str {
    tag.strip_prefix("refs/tags/").unwrap_or(tag)
}

/// What `propose` did.
pub struct Proposed {
    /// The deploy tag's name.
    pub tag: String,
    /// Where the proposal went (`refs/signed/proposed/<tag>`).
    pub proposal: String,
    /// The proposal's tag object.
    pub object: String,
    /// The commit it deploys.
    pub commit: String,
    /// Who signed it.
    pub signer: String,
    /// The remote it was pushed to.
    pub remote: String,
}

/// What `approve` did.
pub struct Approved {
    /// The deploy tag's name.
    pub tag: String,
    /// The pushed tag object.
    pub object: String,
    /// The commit it deploys.
    pub commit: String,
    /// Who proposed it.
    pub proposers: Vec<String>,
    /// Who approved it (this user).
    pub approver: String,
    /// Everyone whose signature counts now.
    pub signers: Vec<String>,
    /// The previous deploy tag the shown commits start from.
    pub previous: Option<String>,
    /// The commits it deploys (`<short id> <author>: <subject>`), newest first, at most 100.
    pub commits: Vec<String>,
    /// The remote it was pushed to.
    pub remote: String,
}

/// What `promote` did.
pub struct Promoted {
    /// The deploy tag's name.
    pub tag: String,
    /// The pushed tag object.
    pub object: String,
    /// The tag the environment was at (`None` for a first deploy).
    pub from: Option<String>,
    /// That tag's object.
    pub from_object: Option<String>,
    /// The environment that applied and tested it.
    pub environment: String,
    /// The machine that signed.
    pub machine: String,
    /// The remote it was pushed to.
    pub remote: String,
}

/// The core's verdict on local object `id` as tag `tag` in the `push` environment, asked the
/// way `ask` shapes the request (as the mirror will judge the push, or as a proposal).
fn verify<'a>(
    policy: &Policy,
    tag: &'a str,
    id: &str,
    ask: impl FnOnce(Request<'a>) -> Request<'a>,
) -> Result<Verdict, Error> {
    let repo = context::repository()?;
    Ok(repo.verify(policy, ask(Request::new(tag, oid(id)?, PUSH_ENVIRONMENT, SystemTime::now()))))
}

fn oid(hex: &str) -> Result<gix::ObjectId, Error> {
    gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| Error::Git(format!("git named a bad object id {hex}: {e}")))
}

/// The first `n` characters of an object id, for people.
fn abbrev(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The outermost layer's signer and problem.
fn outer(verdict: &Verdict) -> (Option<&Principal>, Option<String>) {
    verdict.layers().last().map_or((None, Some("no layer".to_owned())), |l| {
        (l.signer.as_ref(), l.problem.as_ref().map(ToString::to_string))
    })
}

/// Which of `refs` the remote has (`git ls-remote`).
fn on_remote(remote: &str, refs: &[&str]) -> Result<Vec<String>, Error> {
    let mut args = vec!["ls-remote", remote];
    args.extend_from_slice(refs);
    let listed = git::output(&args, &format!("asking the remote {remote} (check it with `git remote -v`)"))?;
    Ok(listed.lines().filter_map(|l| l.split_once('\t')).map(|(_, name)| name.to_owned()).collect())
}

/// Push `args` to `remote`; a rejection becomes a message naming what the mirror said and
/// `then`, what to do next.
fn push(remote: &str, args: &[&str], what: &str, then: &str) -> Result<(), Error> {
    let mut full = vec![remote];
    full.extend_from_slice(args);
    match git::push(&full) {
        Ok(()) => Ok(()),
        Err(git::PushFailed::Rejected(said)) => {
            Err(Error::PushRejected(format!("{remote} rejected {what}:{said}\n{then}")))
        }
        Err(git::PushFailed::Failed(e)) => Err(e),
    }
}

/// `git signed propose <tag> [<commit>]`
pub fn propose(args: ProposeArgs) -> Result<Proposed, Error> {
    context::git_dir()?;
    let policy = context::policy(args.common.policy.as_deref())?;
    let tag = tag_name(&args.tag);
    let remote = args.common.remote.as_str();
    if !policy.protects(tag) {
        return refuse(format!(
            "{tag} is not a protected tag name (the policy protects {}); propose a name such as deploy/<n>",
            crate::policy_cmd::protected_globs(&policy).join(", ")
        ));
    }
    let rev = args.commit.as_deref().unwrap_or("HEAD");
    let Some(commit) = git::resolve(&format!("{rev}^{{commit}}")) else {
        return refuse(format!(
            "{rev} is not a commit here; name the commit to deploy (git log --oneline), e.g. \
             git signed propose {tag} <commit>"
        ));
    };
    let tag_ref = format!("refs/tags/{tag}");
    let proposal_ref = format!("{PROPOSED}{tag}");
    check_unused(remote, tag, &tag_ref, &proposal_ref)?;
    let message = args.message.clone().unwrap_or_else(|| format!("Deploy {tag}"));
    git::sign(&["tag", "-s", "-m", &message, tag, &commit], "signing the proposal")?;
    let id = git::output(&["rev-parse", &tag_ref], "reading the new tag")?;
    git::output(&["update-ref", &proposal_ref, &id], "storing the proposal")?;
    git::output(&["update-ref", "-d", &tag_ref], "removing the temporary tag")?;
    let drop_proposal = || git::output(&["update-ref", "-d", &proposal_ref], "removing the local proposal");

    let verdict = verify(&policy, tag, &id, |r| r.at_push(None).proposal())?;
    let (signer, problem) = outer(&verdict);
    let signer = match (signer, problem) {
        (Some(Principal::Person(name)), None) => name.clone(),
        (_, problem) => {
            drop_proposal()?;
            return refuse(format!(
                "your signature on {tag} would not count ({}); nothing was pushed. Check user.signingKey \
                 (git config user.signingKey) and that your key is listed under [people] in {}",
                problem.as_deref().unwrap_or("signed by a machine, not a person"),
                policy.path.display()
            ));
        }
    };
    let pushed = push(
        remote,
        &[&format!("{proposal_ref}:{proposal_ref}")],
        &format!("the proposal of {tag}"),
        &format!("Nothing was proposed; fix what it names, then run `git signed propose {tag}` again."),
    );
    if let Err(e) = pushed {
        drop_proposal()?;
        return Err(e);
    }
    Ok(Proposed { tag: tag.to_owned(), proposal: proposal_ref, object: id, commit, signer, remote: remote.to_owned() })
}

/// Refuse a name that is deployed or proposed on `remote`, or left behind locally.
fn check_unused(remote: &str, tag: &str, tag_ref: &str, proposal_ref: &str) -> Result<(), Error> {
    let listed = on_remote(remote, &[tag_ref, proposal_ref])?;
    if listed.iter().any(|r| r == tag_ref) {
        return refuse(format!(
            "{tag} already exists on {remote}; deploy tags are never reused, pick the next name \
             (git ls-remote --tags {remote} lists them)"
        ));
    }
    if listed.iter().any(|r| r == proposal_ref) {
        return refuse(format!(
            "{tag} is already proposed on {remote}; a reviewer approves it with: git signed approve {tag}"
        ));
    }
    if git::resolve(tag_ref).is_some() {
        return refuse(format!(
            "a local tag {tag} exists that {remote} does not have (a rejected push leaves it behind); \
             delete it with `git tag -d {tag}`, then run `git signed propose {tag}` again"
        ));
    }
    Ok(())
}

/// The newest protected tag (other than `tag`) whose commit is an ancestor of `commit`.
fn previous_deploy(policy: &Policy, tag: &str, commit: &str) -> Result<Option<String>, Error> {
    let names = git::output(
        &["for-each-ref", "--sort=-creatordate", "--format=%(refname:strip=2)", "refs/tags/"],
        "listing tags",
    )?;
    for name in names.lines().filter(|n| *n != tag && policy.protects(n)) {
        if git::succeeds(&["merge-base", "--is-ancestor", &format!("refs/tags/{name}^{{commit}}"), commit]) {
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(None)
}

/// Ask `question` on the terminal; `script` is the command a script runs instead.
pub fn confirm(question: &str, script: &str) -> Result<bool, Error> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return refuse(format!("not confirmed: stdin is not a terminal; from a script run: {script}"));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `git signed approve <tag>`
pub fn approve(args: ApproveArgs) -> Result<Approved, Error> {
    context::git_dir()?;
    let policy = context::policy(args.common.policy.as_deref())?;
    let tag = tag_name(&args.tag);
    let remote = args.common.remote.as_str();
    let tag_ref = format!("refs/tags/{tag}");
    let proposal_ref = format!("{PROPOSED}{tag}");
    fetch_proposal(remote, tag, &tag_ref, &proposal_ref)?;
    let (commit, proposers) = read_proposal(&policy, tag, &proposal_ref)?;
    let previous = previous_deploy(&policy, tag, &commit)?;
    let commits = show_commits(tag, &proposers, &commit, previous.as_deref())?;
    if !args.yes && !confirm(&format!("Sign and push {tag}?"), &format!("git signed approve {tag} --yes"))? {
        return refuse(format!("{tag} not approved; nothing was signed (run `git signed approve {tag}` again)"));
    }
    let message = args.message.clone().unwrap_or_else(|| format!("Approve {tag}"));
    git::sign(&["tag", "-s", "-m", &message, tag, &proposal_ref], "signing the approval")?;
    let undo = || git::output(&["update-ref", "-d", &tag_ref], "removing the refused tag");
    let checked = git::output(&["rev-parse", &tag_ref], "reading the new tag").and_then(|id| {
        let verdict = verify(&policy, tag, &id, |r| r.at_push(None))?;
        let approver = approver(&policy, tag, &verdict, &proposers)?;
        Ok((id, verdict, approver))
    });
    let (id, verdict, approver) = or_undo(checked, undo)?;
    let pushed = push(
        remote,
        &["--atomic", &format!("{tag_ref}:{tag_ref}"), &format!(":{proposal_ref}")],
        &tag_ref,
        &format!(
            "Nothing was pushed and the proposal is still there; fix what it names, then run \
             `git signed approve {tag}` again."
        ),
    );
    or_undo(pushed, undo)?;
    git::output(&["update-ref", "-d", &proposal_ref], "removing the local proposal")?;
    Ok(Approved {
        tag: tag.to_owned(),
        object: id,
        commit,
        proposers,
        approver,
        signers: verdict.signers(),
        previous,
        commits,
        remote: remote.to_owned(),
    })
}

/// `result`, after running `undo` when it is an error (the error stays the one reported).
fn or_undo<T>(result: Result<T, Error>, undo: impl FnOnce() -> Result<String, Error>) -> Result<T, Error> {
    if result.is_err() {
        undo()?;
    }
    result
}

/// The proposal for `tag` from `remote`, with every tag it may grow on: refused when the tag
/// is already deployed, not proposed, or a stale local tag is in the way.
fn fetch_proposal(remote: &str, tag: &str, tag_ref: &str, proposal_ref: &str) -> Result<(), Error> {
    let listed = on_remote(remote, &[proposal_ref, tag_ref])?;
    if listed.iter().any(|r| r == tag_ref) {
        return refuse(format!(
            "{tag} is already a deploy tag on {remote}; nothing to approve (check it: git signed verify {tag})"
        ));
    }
    if !listed.iter().any(|r| r == proposal_ref) {
        return refuse(format!(
            "there is no proposal for {tag} on {remote}; the committer first runs: git signed propose {tag}"
        ));
    }
    // `+`: deploy tags grow when staging promotes them; a stale local copy must not stop this.
    git::output(
        &["fetch", "-q", remote, &format!("+{proposal_ref}:{proposal_ref}"), "+refs/tags/*:refs/tags/*"],
        "fetching the proposal",
    )?;
    if git::resolve(tag_ref).is_some() {
        return refuse(format!(
            "a local tag {tag} exists; delete it with `git tag -d {tag}`, then run `git signed approve {tag}` again"
        ));
    }
    Ok(())
}

/// The commit a validly signed proposal deploys, and who proposed it.
fn read_proposal(policy: &Policy, tag: &str, proposal_ref: &str) -> Result<(String, Vec<String>), Error> {
    let proposal_id = git::output(&["rev-parse", proposal_ref], "reading the proposal")?;
    let proposal = verify(policy, tag, &proposal_id, Request::proposal)?;
    match proposal.commit().filter(|_| proposal.accepted()) {
        Some(commit) => Ok((commit.to_string(), proposal.people().to_vec())),
        None => {
            let problems: Vec<String> = proposal.problems().iter().map(ToString::to_string).collect();
            refuse(format!(
                "the proposal for {tag} is not validly signed ({}); do not approve it: ask the committer to \
                 propose it again (git signed propose {tag})",
                problems.join("; ")
            ))
        }
    }
}

/// Show the reviewer what they approve: who proposed it and the commits since `previous`.
fn show_commits(tag: &str, proposers: &[String], commit: &str, previous: Option<&str>) -> Result<Vec<String>, Error> {
    let range = match previous {
        Some(p) => format!("refs/tags/{p}^{{commit}}..{commit}"),
        None => commit.to_owned(),
    };
    let log = git::output(&["log", "--format=%h %an: %s", "-n", "100", &range], "listing the commits")?;
    eprintln!("{tag} was proposed by {} and deploys commit {}", proposers.join(", "), abbrev(commit));
    match previous {
        Some(p) => eprintln!("commits since the previous deploy tag {p}:"),
        None => eprintln!("no earlier deploy tag found; commits:"),
    }
    for line in log.lines() {
        eprintln!("  {line}");
    }
    Ok(log.lines().map(ToOwned::to_owned).collect())
}

/// The person whose new outer layer approves `tag`: valid, not a proposer, and the tag then
/// satisfies the push rules.
fn approver(policy: &Policy, tag: &str, verdict: &Verdict, proposers: &[String]) -> Result<String, Error> {
    match outer(verdict) {
        (Some(Principal::Person(name)), None) if proposers.contains(name) => refuse(format!(
            "{name} proposed {tag} and cannot also approve it: two different people must sign; nothing \
             was pushed. Another reviewer runs: git signed approve {tag}"
        )),
        (Some(Principal::Person(_)), None) if !verdict.accepted() => {
            refuse(format!("{}; nothing was pushed", verdict.summary()))
        }
        (Some(Principal::Person(name)), None) => Ok(name.clone()),
        (_, problem) => refuse(format!(
            "your signature would not count ({}); nothing was pushed. Check user.signingKey \
             (git config user.signingKey) and that your key is listed under [people] in {}",
            problem.as_deref().unwrap_or("signed by a machine, not a person"),
            policy.path.display()
        )),
    }
}

/// `git signed promote <tag> --from <previous>` or `--initial`
pub fn promote(args: PromoteArgs) -> Result<Promoted, Error> {
    context::git_dir()?;
    let policy = context::policy(args.common.policy.as_deref())?;
    policy.check_environment(&args.environment)?;
    let tag = tag_name(&args.tag);
    let from = args.from.as_deref().map(tag_name);
    let remote = args.common.remote.as_str();
    let tag_ref = format!("refs/tags/{tag}");
    let from_ref = from.map(|f| format!("refs/tags/{f}"));
    fetch_promoted(remote, tag, from)?;
    let old = git::output(&["rev-parse", &tag_ref], "reading the tag")?;
    let old_id = oid(&old)?;
    let before = verify(&policy, tag, &old, |r| r)?;
    if !before.accepted() {
        return refuse(format!(
            "{} — promote only tags the mirror accepted (see: git signed verify {tag})",
            before.summary()
        ));
    }
    let from_id = match &from_ref {
        Some(f) => Some(git::output(&["rev-parse", f], "reading the previous tag")?),
        None => None,
    };
    let message = promotion_message(&args, tag, from.zip(from_id.as_deref()));
    git::sign(&["tag", "-s", "-f", "-m", &message, tag, &tag_ref], "signing the promotion")?;
    let restore = || git::output(&["update-ref", &tag_ref, &old], "restoring the tag");
    let checked = git::output(&["rev-parse", &tag_ref], "reading the new tag").and_then(|id| {
        let verdict = verify(&policy, tag, &id, |r| r.at_push(Some(old_id)))?;
        let machine = promoting_machine(&policy, tag, &verdict, args.machine.as_deref())?;
        Ok((id, machine))
    });
    let (id, machine) = or_undo(checked, restore)?;
    let lease = format!("--force-with-lease={tag_ref}:{old}");
    let again = match from {
        Some(f) => format!("git signed promote {tag} --from {f}"),
        None => format!("git signed promote {tag} --initial"),
    };
    let pushed = push(
        remote,
        &[&lease, &format!("{tag_ref}:{tag_ref}")],
        &format!("the promotion of {tag}"),
        &format!("Nothing was pushed; fix what it names (a stale tag: fetch and test again), then run `{again}`."),
    );
    or_undo(pushed, restore)?;
    Ok(Promoted {
        tag: tag.to_owned(),
        object: id,
        from: from.map(ToOwned::to_owned),
        from_object: from_id,
        environment: args.environment.clone(),
        machine,
        remote: remote.to_owned(),
    })
}

/// Fetch `tag` (and `from`) from `remote`, refusing when either is not there.
fn fetch_promoted(remote: &str, tag: &str, from: Option<&str>) -> Result<(), Error> {
    let tag_ref = format!("refs/tags/{tag}");
    let from_ref = from.map(|f| format!("refs/tags/{f}"));
    let mut wanted = vec![tag_ref.as_str()];
    wanted.extend(from_ref.as_deref());
    let listed = on_remote(remote, &wanted)?;
    if !listed.contains(&tag_ref) {
        return refuse(format!(
            "{tag} is not on {remote}: a deploy tag is proposed and approved first (git signed approve {tag}); \
             git ls-remote --tags {remote} lists the deploy tags"
        ));
    }
    if let (Some(f), Some(f_ref)) = (from, &from_ref)
        && !listed.contains(f_ref)
    {
        return refuse(format!(
            "{f} is not on {remote}, so the environment cannot have been at it; for the environment's first \
             deploy use --initial: git signed promote {tag} --initial"
        ));
    }
    let mut fetch = vec!["fetch".to_owned(), "-q".to_owned(), remote.to_owned(), format!("+{tag_ref}:{tag_ref}")];
    fetch.extend(from_ref.as_ref().map(|f| format!("+{f}:{f}")));
    git::output(&fetch.iter().map(String::as_str).collect::<Vec<_>>(), "fetching the tags")?;
    Ok(())
}

/// The promotion layer's message: the user's (or `Promote <tag>`), then the transition
/// trailers (`from` with its object id, or the first deploy).
fn promotion_message(args: &PromoteArgs, tag: &str, from: Option<(&str, &str)>) -> String {
    let env = &args.environment;
    let mut message = args.message.clone().unwrap_or_else(|| format!("Promote {tag}"));
    message.push_str(&match from {
        Some((f, id)) => format!(
            "\n\nApplied and tested on {env} as the transition {f} -> {tag}.\n\nTransition-From: {f} {id}\nEnvironment: {env}\n"
        ),
        None => format!(
            "\n\nApplied and tested on {env} as its first deploy.\n\nTransition: initial\nEnvironment: {env}\n"
        ),
    });
    message
}

/// The machine whose new outer layer promotes `tag`: valid, and the one asked for (or one
/// the tag's rules require).
fn promoting_machine(policy: &Policy, tag: &str, verdict: &Verdict, asked: Option<&str>) -> Result<String, Error> {
    let required: Vec<&str> = policy
        .rules
        .iter()
        .filter(|r| r.matches_tag(tag))
        .flat_map(|r| r.machines.iter().map(String::as_str))
        .collect();
    match outer(verdict) {
        (Some(Principal::Machine(m)), None)
            if asked.is_none_or(|want| want == m) && (asked.is_some() || required.contains(&m.as_str())) =>
        {
            Ok(m.clone())
        }
        (Some(p), None) => {
            let wanted = asked.map_or_else(|| required.join(" or "), ToOwned::to_owned);
            refuse(format!(
                "{tag} must be promoted by machine {wanted}, but this key belongs to {p}; nothing was pushed. \
                 Run promote with the staging pipeline's signing key (git config user.signingKey)"
            ))
        }
        (_, problem) => refuse(format!(
            "the promotion signature would not count ({}); nothing was pushed. Check user.signingKey \
             (git config user.signingKey) and that the key is listed under [machines] in {}",
            problem.as_deref().unwrap_or("unknown signer"),
            policy.path.display()
        )),
    }
}

/// The chain of tag objects of local tag `name`, for `--transition-from`.
pub fn local_chain(repo: &Repo, name: &str) -> Result<Vec<gix::ObjectId>, Error> {
    let Some(id) = repo.resolve(&format!("refs/tags/{name}"))? else {
        return refuse(format!(
            "no tag {name} here to compare the transition with; if this environment can see it, \
             fetch it (git fetch origin tag {name}); for a first deploy use --initial"
        ));
    };
    Ok(layer::ids(&repo.repo.objects, repo.hash(), name, id))
}
