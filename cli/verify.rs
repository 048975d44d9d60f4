//! `git signed verify`: explain every layer, signer, rule and verdict for tags in this repository.

use std::time::SystemTime;

use git_signed_policy::verdict::{Request, Verdict};
use git_signed_policy::{Expected, PUSH_ENVIRONMENT};

use crate::context::{self, Format};
use crate::exit::{self, Error};

/// Arguments of `git signed verify`.
#[derive(clap::Args)]
#[command(after_help = exit::help(
    "Examples:
  git signed verify deploy/42                       # as the mirror would (environment push)
  git signed verify deploy/42 --environment production --format json
  git signed verify --all                           # every protected tag, and a summary line
  git signed verify --all --quiet                   # only the tags that fail, one line each
  git signed verify deploy/42 -e production --transition-from deploy/41   # what staging tested
  git signed verify deploy/1 -e production --initial                      # a first deploy",
    "every tag satisfies the policy",
    "some tag does not (or does not exist here)",
))]
pub struct Args {
    /// Tag names (as in refs/tags/<name>)
    #[arg(required_unless_present = "all")]
    tags: Vec<String>,
    /// Verify every tag the policy protects
    #[arg(long, conflicts_with = "tags")]
    all: bool,
    /// Environment whose rules apply (declared in the policy's `environments`, or push)
    #[arg(long, short = 'e', default_value = PUSH_ENVIRONMENT)]
    environment: String,
    /// Policy file (default: the policy pinned by git config signed.root, else signed.policy)
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    /// Also require a valid machine layer recording the tested transition from this tag
    /// (`git signed promote --from`)
    #[arg(long, value_name = "TAG", conflicts_with = "initial")]
    transition_from: Option<String>,
    /// Also require a valid machine layer recording a first deploy (`git signed promote --initial`)
    #[arg(long)]
    initial: bool,
    /// Print only the tags that fail, one line each (text format; JSON always has every tag)
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// What `verify` found.
pub struct Verified {
    /// The environment whose rules applied.
    pub environment: String,
    /// The policy file.
    pub policy: std::path::PathBuf,
    /// Whether every protected tag was asked for (`--all`).
    pub all: bool,
    /// Only failures are wanted (`--quiet`).
    pub quiet: bool,
    /// One verdict per tag, in the order asked (or the repository's, for `--all`).
    pub verdicts: Vec<Verdict>,
}

impl Verified {
    /// How many tags verified and how many were rejected.
    pub fn counts(&self) -> (usize, usize) {
        let verified = self.verdicts.iter().filter(|v| v.accepted()).count();
        (verified, self.verdicts.len() - verified)
    }

    /// Whether every tag satisfies the policy.
    pub fn accepted(&self) -> bool {
        self.verdicts.iter().all(|v| v.accepted())
    }
}

/// More tags than this are verified with the remembered signature facts read.
const FEW: usize = 16;

/// Run `git signed verify`.
pub fn run(args: Args) -> Result<Verified, Error> {
    let git_dir = context::git_dir()?;
    let policy = context::policy(args.policy.as_deref())?;
    policy.check_environment(&args.environment)?;
    let repo = git_signed_policy::Repo::open(&git_dir, &[])?;
    let now = SystemTime::now();
    let mut cache = context::cache(&repo);
    let activity = match policy.inactivity {
        Some(_) => Some(context::history(cache.as_mut(), &repo, &policy, now)?),
        None => None,
    };

    let targets: Vec<(String, Option<gix::ObjectId>)> = if args.all {
        let tags = repo.tags()?;
        tags.into_iter().filter(|(name, _)| policy.protects(name)).map(|(n, id)| (n, Some(id))).collect()
    } else {
        let mut out = Vec::new();
        for tag in &args.tags {
            let name = tag.strip_prefix("refs/tags/").unwrap_or(tag);
            out.push((name.to_owned(), repo.resolve(&format!("refs/tags/{name}"))?));
        }
        out
    };

    let from = args.transition_from.as_deref().map(|f| f.strip_prefix("refs/tags/").unwrap_or(f));
    let from_chain = match from {
        Some(from) => crate::workflow::local_chain(&repo, from)?,
        None => Vec::new(),
    };
    let transition = match from {
        Some(tag) => Some(Expected::From { tag, chain: &from_chain }),
        None if args.initial => Some(Expected::Initial),
        None => None,
    };
    let environment = args.environment.as_str();
    // Remembered signature facts are worth reading only when there are many layers to check.
    let verified = {
        let facts = cache.as_mut().filter(|_| targets.len() > FEW).map(|c| c.facts());
        let requests: Vec<Request<'_>> = targets
            .iter()
            .filter_map(|(name, id)| {
                let request =
                    Request::new(name, (*id)?, environment, now).with_activity(activity.as_ref()).with_facts(facts);
                Some(transition.map_or(request, |t| request.expect_transition(t)))
            })
            .collect();
        let progress = git_signed_tool::progress::Progress::new("verifying tags", requests.len());
        repo.verify_all_counted(&policy, &requests, &|| progress.tick())?
    };
    if let Some(cache) = cache.as_mut() {
        cache.learn(&verified);
        cache.save();
    }
    let mut verified = verified.into_iter();
    let verdicts = targets
        .iter()
        .map(|(name, id)| {
            let missing = || Verdict::no_such_tag(&policy, name, environment);
            if id.is_some() { verified.next().unwrap_or_else(missing) } else { missing() }
        })
        .collect();
    Ok(Verified {
        environment: args.environment.clone(),
        policy: policy.path.clone(),
        all: args.all,
        quiet: args.quiet,
        verdicts,
    })
}
