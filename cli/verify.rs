//! `git signed verify`: explain every layer, signer, rule and verdict for tags in this repository.

use std::time::SystemTime;

use git_signed_policy::verdict::{Request, Verdict};
use git_signed_policy::{PUSH_ENVIRONMENT, Policy};

use crate::Outcome;
use crate::context::{self, Error, Format};

/// Arguments of `git signed verify`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  git signed verify deploy/42                       # as the mirror would (environment push)
  git signed verify deploy/42 --environment production --format json
  git signed verify --all                           # every protected tag in the repository
  git signed verify deploy/42 -e production --transition-from deploy/41   # what staging tested

Exit status: 0 every tag satisfies the policy, 1 some tag does not, 2 usage or internal error.")]
pub struct Args {
    /// Tag names (as in refs/tags/<name>)
    #[arg(required_unless_present = "all")]
    tags: Vec<String>,
    /// Verify every tag the policy protects
    #[arg(long, conflicts_with = "tags")]
    all: bool,
    /// Environment whose rules apply
    #[arg(long, short = 'e', default_value = PUSH_ENVIRONMENT)]
    environment: String,
    /// Policy file (default: git config signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Also require a valid machine layer recording the tested transition from this tag
    /// (`git signed promote --from`)
    #[arg(long, value_name = "TAG")]
    transition_from: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    environment: &'a str,
    accepted: bool,
    tags: &'a [Verdict],
}

/// Run `git signed verify`.
pub fn run(args: Args) -> Result<Outcome, Error> {
    let policy = context::policy(args.policy.as_deref())?;
    let repo = context::repository()?;
    warn_unknown_environment(&policy, &args.environment);
    let now = SystemTime::now();
    let activity = repo.activity(&policy, now)?;

    let targets: Vec<(String, Option<gix::ObjectId>)> = if args.all {
        let tags = repo.tags()?;
        let protected: Vec<_> =
            tags.into_iter().filter(|(name, _)| policy.protects(name)).map(|(n, id)| (n, Some(id))).collect();
        if protected.is_empty() {
            eprintln!("git-signed: no tag in this repository is protected by {}", policy.path.display());
        }
        protected
    } else {
        let mut out = Vec::new();
        for tag in &args.tags {
            let name = tag.strip_prefix("refs/tags/").unwrap_or(tag);
            out.push((name.to_owned(), repo.resolve(&format!("refs/tags/{name}"))?));
        }
        out
    };

    let from_chain = match &args.transition_from {
        Some(from) => Some(crate::workflow::local_chain(&repo, from.strip_prefix("refs/tags/").unwrap_or(from))?),
        None => None,
    };
    let git_dir = context::git_dir()?;
    let mut verdicts = verify_parallel(&git_dir, &policy, &targets, &args.environment, now, activity.as_ref())?;
    if let (Some(from), Some(chain)) = (&args.transition_from, &from_chain) {
        let from = from.strip_prefix("refs/tags/").unwrap_or(from);
        for v in verdicts.iter_mut().filter(|v| v.accepted) {
            if let Err(why) = v.check_transition(from, chain) {
                v.accepted = false;
                v.problems.push(why.clone());
                v.structure = Some(why);
            }
        }
    }
    let accepted = verdicts.iter().all(|v| v.accepted);
    match args.format {
        Format::Json => {
            let report = Report { environment: &args.environment, accepted, tags: &verdicts };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => {
            for v in &verdicts {
                print_text(v);
            }
        }
    }
    Ok(if accepted { Outcome::Yes } else { Outcome::No })
}

/// Verify `targets` on every core: each thread opens its own view of the repository (gix
/// repositories are per-thread here) and takes an equal share; results keep their order.
fn verify_parallel(
    git_dir: &std::path::Path,
    policy: &Policy,
    targets: &[(String, Option<gix::ObjectId>)],
    environment: &str,
    now: SystemTime,
    activity: Option<&git_signed_policy::Activity>,
) -> Result<Vec<Verdict>, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(targets.len().max(1));
    let chunk = targets.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Verdict>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let repo = git_signed_policy::Repo::open(git_dir, &[]).map_err(|e| e.to_string())?;
                    Ok(part
                        .iter()
                        .map(|(name, id)| match id {
                            Some(id) => {
                                repo.verify(policy, Request::new(name, *id, environment, now).with_activity(activity))
                            }
                            None => missing(name, environment),
                        })
                        .collect())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a verification thread failed".into()))).collect()
    });
    let mut out = Vec::with_capacity(targets.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn missing(name: &str, environment: &str) -> Verdict {
    Verdict {
        tag: name.to_owned(),
        object: String::new(),
        environment: environment.to_owned(),
        protected: false,
        accepted: false,
        commit: None,
        layers: Vec::new(),
        rules: Vec::new(),
        people: Vec::new(),
        machines: Vec::new(),
        structure: Some(format!("no tag refs/tags/{name} in this repository (git fetch --tags?)")),
        problems: vec![format!("no tag refs/tags/{name} in this repository (git fetch --tags?)")],
        chain: Vec::new(),
    }
}

/// Say once that an environment no rule names gets only the rules that apply everywhere.
pub fn warn_unknown_environment(policy: &Policy, environment: &str) {
    if !policy.knows_environment(environment) {
        eprintln!("git-signed: no rule names environment {environment:?}; only rules without `environments` apply");
    }
}

fn print_text(v: &Verdict) {
    let head = if v.accepted { "ACCEPTED" } else { "REJECTED" };
    let commit = v.commit.as_deref().map(|c| format!(" -> commit {}", &c[..c.len().min(12)])).unwrap_or_default();
    println!("{}: {head} for environment {}{commit}", v.tag, v.environment);
    for l in &v.layers {
        let who = l.signer.as_ref().map_or_else(|| "unknown signer".to_owned(), ToString::to_string);
        let when = l.signed_at.as_deref().unwrap_or("-");
        let status = match &l.problem {
            None => "ok".to_owned(),
            Some(p) => format!("INVALID: {p}"),
        };
        println!("  layer {} {} {who}, signed {when}: {status}", l.number, &l.id[..l.id.len().min(12)]);
    }
    for r in &v.rules {
        let mark = if r.holds { "ok" } else { "FAILS" };
        println!("  {} [line {}]: {mark}: {}", r.description, r.line, r.reason);
    }
    if let Some(s) = &v.structure {
        println!("  {s}");
    }
}
