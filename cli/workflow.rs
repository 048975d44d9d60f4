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

use crate::Outcome;
use crate::context::{self, Error, Format, Refused};
use crate::git;

/// The namespace proposals travel in.
const PROPOSED: &str = "refs/signed/proposed/";

/// Options every workflow command takes.
#[derive(clap::Args)]
pub struct Common {
    /// The remote (the mirror) to fetch from and push to
    #[arg(long, default_value = "origin")]
    remote: String,
    /// Policy file (default: git config signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `git signed propose`
#[derive(clap::Args)]
#[command(after_help = "Example (the committer, after the pull request is merged):
  git signed propose deploy/42            # sign HEAD as deploy/42, push it as a proposal
  git signed propose deploy/42 1e61d66 -m 'Deploy the rate limiter'

It signs with your own git setup (git tag -s: user.signingKey, gpg.program, tokens) and pushes
to refs/signed/proposed/deploy/42. Then a reviewer runs: git signed approve deploy/42")]
pub struct ProposeArgs {
    /// Deploy tag name, e.g. deploy/42
    tag: String,
    /// Commit to deploy (default: HEAD)
    commit: Option<String>,
    /// Tag message
    #[arg(long, short = 'm')]
    message: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// `git signed approve`
#[derive(clap::Args)]
#[command(after_help = "Example (the reviewer):
  git signed approve deploy/42            # shows the commits it deploys, asks, signs, pushes
  git signed approve deploy/42 --yes      # for scripts

You cannot approve a tag you proposed: two different people must sign.")]
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
    common: Common,
}

/// `git signed promote`
#[derive(clap::Args)]
#[command(
    group = clap::ArgGroup::new("start").required(true).args(["from", "initial"]),
    after_help = "Examples (the staging pipeline, after applying and testing):
  git signed promote deploy/42 --from deploy/41     # tested the transition deploy/41 -> deploy/42
  git signed promote deploy/1 --initial             # the environment's first deploy

It adds the machine's signed layer with the trailers
  Transition-From: deploy/41 <object id>       (or, with --initial: Transition: initial)
  Environment: staging
and pushes it. Production checks it with: git signed verify deploy/42 --environment production
--transition-from deploy/41 (or --initial)"
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
    common: Common,
}

fn refuse<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Box::new(Refused(message.into())))
}

fn tag_name(tag: &str) -> &str {
    tag.strip_prefix("refs/tags/").unwrap_or(tag)
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
    let id = gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| format!("bad object id {id}: {e}"))?;
    Ok(repo.verify(policy, ask(Request::new(tag, id, PUSH_ENVIRONMENT, SystemTime::now()))))
}

fn oid(hex: &str) -> Result<gix::ObjectId, Error> {
    Ok(gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| format!("bad object id {hex}: {e}"))?)
}

/// The outermost layer's signer and problem.
fn outer(verdict: &Verdict) -> (Option<&Principal>, Option<String>) {
    verdict.layers.last().map_or((None, Some("no layer".to_owned())), |l| {
        (l.signer.as_ref(), l.problem.as_ref().map(ToString::to_string))
    })
}

fn print_json(value: &serde_json::Value) -> Result<(), Error> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `git signed propose <tag> [<commit>]`
pub fn propose(args: ProposeArgs) -> Result<Outcome, Error> {
    let policy = context::policy(args.common.policy.as_deref())?;
    let tag = tag_name(&args.tag);
    if !policy.protects(tag) {
        return refuse(format!(
            "{tag} is not a protected tag name (the policy protects {}); choose a name such as deploy/<n>",
            crate::policy_cmd::protected_globs(&policy).join(", ")
        ));
    }
    let commit = git::output(
        &["rev-parse", "--verify", &format!("{}^{{commit}}", args.commit.as_deref().unwrap_or("HEAD"))],
        "finding the commit",
    )?;
    let tag_ref = format!("refs/tags/{tag}");
    let proposal_ref = format!("{PROPOSED}{tag}");
    if git::resolve(&tag_ref).is_some() {
        return refuse(format!("{tag} already exists here; deploy tags are never reused, pick the next name"));
    }
    let remote = git::output(&["ls-remote", &args.common.remote, &tag_ref], "asking the remote")?;
    if !remote.is_empty() {
        return refuse(format!("{tag} already exists on {}; deploy tags are never reused", args.common.remote));
    }
    let message = args.message.clone().unwrap_or_else(|| format!("Deploy {tag}"));
    git::interactive(&["tag", "-s", "-m", &message, tag, &commit], "signing the proposal")?;
    let id = git::output(&["rev-parse", &tag_ref], "reading the new tag")?;
    git::output(&["update-ref", &proposal_ref, &id], "storing the proposal")?;
    git::output(&["update-ref", "-d", &tag_ref], "removing the temporary tag")?;

    let verdict = verify(&policy, tag, &id, |r| r.at_push(None).proposal())?;
    let (signer, problem) = outer(&verdict);
    let signer = match (signer, problem) {
        (Some(Principal::Person(name)), None) => name.clone(),
        (_, problem) => {
            git::output(&["update-ref", "-d", &proposal_ref], "removing the refused proposal")?;
            return refuse(format!(
                "your signature on {tag} would not count ({}); nothing was pushed. Check user.signingKey and that \
                 your key is listed under [people] in {}",
                problem.as_deref().unwrap_or("signed by a machine, not a person"),
                policy.path.display()
            ));
        }
    };
    git::interactive(
        &["push", &args.common.remote, &format!("{proposal_ref}:{proposal_ref}")],
        "pushing the proposal",
    )?;
    match args.common.format {
        Format::Json => print_json(&serde_json::json!({
            "tag": tag, "proposal": proposal_ref, "object": id, "commit": commit,
            "signer": signer, "remote": args.common.remote,
        }))?,
        Format::Text => println!(
            "proposed {tag} ({}) for commit {}, signed by {signer}.\nA reviewer now runs: git signed approve {tag}",
            &id[..12],
            &commit[..12]
        ),
    }
    Ok(Outcome::Yes)
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

fn confirm(question: &str) -> Result<bool, Error> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return refuse("not confirmed: stdin is not a terminal; pass --yes to approve from a script");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `git signed approve <tag>`
pub fn approve(args: ApproveArgs) -> Result<Outcome, Error> {
    let policy = context::policy(args.common.policy.as_deref())?;
    let tag = tag_name(&args.tag);
    let tag_ref = format!("refs/tags/{tag}");
    let proposal_ref = format!("{PROPOSED}{tag}");
    let listed = git::output(&["ls-remote", &args.common.remote, &proposal_ref, &tag_ref], "asking the remote")?;
    if listed.lines().any(|l| l.ends_with(&format!("\t{tag_ref}"))) {
        return refuse(format!("{tag} is already a deploy tag on {}; nothing to approve", args.common.remote));
    }
    if !listed.lines().any(|l| l.ends_with(&format!("\t{proposal_ref}"))) {
        return refuse(format!(
            "there is no proposal for {tag} on {}; the committer first runs: git signed propose {tag}",
            args.common.remote
        ));
    }
    // `+`: deploy tags grow when staging promotes them; a stale local copy must not stop this.
    git::output(
        &["fetch", "-q", &args.common.remote, &format!("+{proposal_ref}:{proposal_ref}"), "+refs/tags/*:refs/tags/*"],
        "fetching the proposal",
    )?;
    if git::resolve(&tag_ref).is_some() {
        return refuse(format!("a local tag {tag} exists; delete it (git tag -d {tag}) and run approve again"));
    }
    let proposal_id = git::output(&["rev-parse", &proposal_ref], "reading the proposal")?;
    let proposal = verify(&policy, tag, &proposal_id, Request::proposal)?;
    let Some(commit) = proposal.commit.filter(|_| proposal.accepted).map(|c| c.to_string()) else {
        let problems: Vec<String> = proposal.problems.iter().map(ToString::to_string).collect();
        return refuse(format!("the proposal for {tag} is not validly signed: {}", problems.join("; ")));
    };
    let proposers = proposal.people.clone();
    let previous = previous_deploy(&policy, tag, &commit)?;
    let range = match &previous {
        Some(p) => format!("refs/tags/{p}^{{commit}}..{commit}"),
        None => commit.clone(),
    };
    let log = git::output(&["log", "--format=%h %an: %s", "-n", "100", &range], "listing the commits")?;
    eprintln!("{tag} was proposed by {} and deploys commit {}", proposers.join(", "), &commit[..commit.len().min(12)]);
    match &previous {
        Some(p) => eprintln!("commits since the previous deploy tag {p}:"),
        None => eprintln!("no earlier deploy tag found; commits:"),
    }
    for line in log.lines() {
        eprintln!("  {line}");
    }
    if !args.yes && !confirm(&format!("Sign and push {tag}?"))? {
        return refuse("not approved");
    }

    let message = args.message.clone().unwrap_or_else(|| format!("Approve {tag}"));
    git::interactive(&["tag", "-s", "-m", &message, tag, &proposal_ref], "signing the approval")?;
    let id = git::output(&["rev-parse", &tag_ref], "reading the new tag")?;
    let verdict = verify(&policy, tag, &id, |r| r.at_push(None))?;
    let (signer, problem) = outer(&verdict);
    let undo = || git::output(&["update-ref", "-d", &tag_ref], "removing the refused tag");
    let approver = match (signer, problem) {
        (Some(Principal::Person(name)), None) if proposers.contains(name) => {
            undo()?;
            return refuse(format!(
                "{name} proposed {tag} and cannot also approve it: two different people must sign. \
                 Ask another reviewer; nothing was pushed"
            ));
        }
        (Some(Principal::Person(name)), None) => name.clone(),
        (_, problem) => {
            undo()?;
            return refuse(format!(
                "your signature would not count ({}); nothing was pushed",
                problem.as_deref().unwrap_or("signed by a machine, not a person")
            ));
        }
    };
    if !verdict.accepted {
        undo()?;
        return refuse(format!("{}; nothing was pushed", verdict.summary()));
    }
    let pushed = git::interactive(
        &["push", "--atomic", &args.common.remote, &format!("{tag_ref}:{tag_ref}"), &format!(":{proposal_ref}")],
        "pushing the approved tag",
    );
    if let Err(e) = pushed {
        undo()?;
        return Err(e);
    }
    git::output(&["update-ref", "-d", &proposal_ref], "removing the local proposal")?;
    let commits: Vec<&str> = log.lines().collect();
    match args.common.format {
        Format::Json => print_json(&serde_json::json!({
            "tag": tag, "object": id, "commit": commit, "proposers": proposers, "approver": approver,
            "previous": previous, "commits": commits,
        }))?,
        Format::Text => {
            println!("approved {tag}: signed by {}, pushed to {}", verdict.people.join(", "), args.common.remote)
        }
    }
    Ok(Outcome::Yes)
}

/// `git signed promote <tag> --from <previous>` or `--initial`
pub fn promote(args: PromoteArgs) -> Result<Outcome, Error> {
    let policy = context::policy(args.common.policy.as_deref())?;
    policy.check_environment(&args.environment)?;
    let tag = tag_name(&args.tag);
    let from = args.from.as_deref().map(tag_name);
    let tag_ref = format!("refs/tags/{tag}");
    let mut fetch =
        vec!["fetch".to_owned(), "-q".to_owned(), args.common.remote.clone(), format!("+{tag_ref}:{tag_ref}")];
    fetch.extend(from.map(|f| format!("+refs/tags/{f}:refs/tags/{f}")));
    if !git::succeeds(&fetch.iter().map(String::as_str).collect::<Vec<_>>()) {
        return refuse(match from {
            Some(f) => format!(
                "cannot fetch {tag} and {f} from {}; do both exist there? For the environment's first deploy \
                 use --initial instead of --from",
                args.common.remote
            ),
            None => format!("cannot fetch {tag} from {}; does it exist there?", args.common.remote),
        });
    }
    let old = git::output(&["rev-parse", &tag_ref], "reading the tag")?;
    let before = verify(&policy, tag, &old, |r| r)?;
    if !before.accepted {
        return refuse(format!("{} — promote only tags the mirror accepted", before.summary()));
    }
    let env = &args.environment;
    let from_id = match from {
        Some(f) => Some(git::output(&["rev-parse", &format!("refs/tags/{f}")], "reading the previous tag")?),
        None => None,
    };
    let mut message = args.message.clone().unwrap_or_else(|| format!("Promote {tag}"));
    message.push_str(&match (from, &from_id) {
        (Some(f), Some(id)) => format!(
            "\n\nApplied and tested on {env} as the transition {f} -> {tag}.\n\nTransition-From: {f} {id}\nEnvironment: {env}\n"
        ),
        _ => format!(
            "\n\nApplied and tested on {env} as its first deploy.\n\nTransition: initial\nEnvironment: {env}\n"
        ),
    });
    git::interactive(&["tag", "-s", "-f", "-m", &message, tag, &tag_ref], "signing the promotion")?;
    let id = git::output(&["rev-parse", &tag_ref], "reading the new tag")?;
    let restore = || git::output(&["update-ref", &tag_ref, &old], "restoring the tag");
    let old_id = oid(&old)?;
    let verdict = verify(&policy, tag, &id, |r| r.at_push(Some(old_id)))?;
    let (signer, problem) = outer(&verdict);
    let required: Vec<String> =
        policy.rules.iter().filter(|r| r.matches_tag(tag)).flat_map(|r| r.machines.clone()).collect();
    let machine = match (signer, problem) {
        (Some(Principal::Machine(m)), None)
            if args.machine.as_ref().is_none_or(|want| want == m)
                && (args.machine.is_some() || required.contains(m)) =>
        {
            m.clone()
        }
        (Some(p), None) => {
            restore()?;
            let wanted = args.machine.clone().unwrap_or_else(|| required.join(" or "));
            return refuse(format!(
                "{tag} must be promoted by machine {wanted}, but this key belongs to {p}; run promote with the \
                 staging pipeline's signing key. Nothing was pushed"
            ));
        }
        (None, problem) | (Some(_), problem) => {
            restore()?;
            return refuse(format!(
                "the promotion signature would not count ({}); nothing was pushed",
                problem.as_deref().unwrap_or("unknown signer")
            ));
        }
    };
    let lease = format!("--force-with-lease={tag_ref}:{old}");
    if let Err(e) = git::interactive(
        &["push", &lease, &args.common.remote, &format!("{tag_ref}:{tag_ref}")],
        "pushing the promotion",
    ) {
        restore()?;
        return Err(e);
    }
    match args.common.format {
        Format::Json => print_json(&serde_json::json!({
            "tag": tag, "object": id, "from": from, "from_object": from_id, "initial": from.is_none(),
            "environment": args.environment, "machine": machine,
        }))?,
        Format::Text => match from {
            Some(from) => println!("promoted {tag} from {from} on {env}, signed by machine {machine}"),
            None => println!("promoted {tag} as the first deploy on {env}, signed by machine {machine}"),
        },
    }
    Ok(Outcome::Yes)
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
