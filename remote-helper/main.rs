//! `git-remote-signed`: git runs it for `signed::<url>` URLs. It speaks the remote-helper
//! protocol's `fetch`, `push`, `option` and `object-format` capabilities (never `connect`:
//! splicing the wire protocol is where verification gets bypassed or hangs), lists only the
//! refs this environment may see, and lets no unverified tag object into the repository.
//!
//! stdout is the protocol channel: nothing else may write to it. Errors go to stderr and end
//! the session with exit code 128, which git reports as a failed fetch (fail closed).

mod cache;
mod fetch;
mod git;
mod listing;
mod protocol;
mod push;
mod settings;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use git_signed_policy::Policy;
use gix::ObjectId;

use fetch::FetchOptions;
use listing::Listing;
use protocol::Command;
use push::PushOptions;
use settings::Settings;

/// Remote helper for `signed::<url>`: fetch only tags that satisfy this environment's policy.
#[derive(Parser)]
#[command(
    name = "git-remote-signed",
    version,
    about,
    after_help = "git runs this for signed:: URLs; you don't.

Examples:
  git -c signed.environment=staging -c signed.policy=/etc/git-signed/policy.toml \\
      clone signed::https://mirror.example/app.git
  git config --global signed.environment production
  git config --global signed.policy /etc/git-signed/policy.toml
  git ls-remote signed::https://mirror.example/app.git   # the refs production may see

Settings (git config, or the environment variable in brackets):
  signed.environment [GIT_SIGNED_ENVIRONMENT]  environment whose rules apply (required)
  signed.policy      [GIT_SIGNED_POLICY]       policy file (required)
  signed.strict                                fail the fetch instead of hiding a bad tag
  signed.allowUnprotectedTags                  also pass tags no rule protects
  GIT_SIGNED_TRACE=1                           print how long each phase took
Make the helper unavoidable: protocol.allow=never and protocol.signed.allow=always.

Exit status: 0 the session ended normally, 128 a fatal error (git reports the fetch or push as
failed: fail closed)."
)]
struct Args {
    /// The remote's name (or the URL as typed)
    remote: String,
    /// The URL after `signed::`
    url: Option<String>,
}

/// Fatal errors end the session; git then reports the fetch or push as failed.
type Fatal = String;

/// With `GIT_SIGNED_TRACE=1`, print how long each phase took (milliseconds since start).
pub fn trace(label: &str) {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<(Instant, bool)> = OnceLock::new();
    let (start, on) = START.get_or_init(|| (Instant::now(), std::env::var_os("GIT_SIGNED_TRACE").is_some()));
    if *on {
        eprintln!("signed: trace {:8.2} ms {label}", start.elapsed().as_secs_f64() * 1000.0);
    }
}

struct Session {
    /// The remote's name, unless the fetch is anonymous (`git fetch signed::<url>`).
    remote: Option<String>,
    url: String,
    git_dir: Option<PathBuf>,
    fetch: FetchOptions,
    push: PushOptions,
    object_format: bool,
    check_connectivity: bool,
    listing: Option<Listing>,
    settings: Option<(Settings, Policy)>,
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored here: a git child that exits before reading its stdin is an error
    // to report, and a closed stdout (git went away) already ends the session quietly in run().
    git_signed_tool::generate_if_asked(Args::command);
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fatal: signed: {e}");
            ExitCode::from(128)
        }
    }
}

fn run(args: Args) -> Result<(), Fatal> {
    trace("start");
    if std::env::var_os(git::DEPTH_GUARD).is_some() {
        return Err("git-remote-signed was invoked by itself (a url.*.insteadOf rule or a lazy fetch points back at \
                    signed::); refusing to recurse"
            .into());
    }
    let url = args.url.unwrap_or_else(|| args.remote.clone());
    // git names an anonymous remote (`git fetch signed::<url>`) after its URL.
    let anonymous = args.remote == url || args.remote.strip_prefix("signed::") == Some(url.as_str());
    let remote = (!anonymous).then_some(args.remote);
    let url = url.strip_prefix("signed::").map(ToOwned::to_owned).unwrap_or(url);
    if url.starts_with("signed::") || url.is_empty() {
        return Err(format!("invalid URL {url:?}"));
    }
    let git_dir = match std::env::var_os("GIT_DIR") {
        Some(d) => Some(std::path::absolute(PathBuf::from(d)).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut session = Session {
        remote,
        url,
        git_dir,
        fetch: FetchOptions { verbosity: 1, ..FetchOptions::default() },
        push: PushOptions { verbosity: 1, ..PushOptions::default() },
        object_format: false,
        check_connectivity: false,
        listing: None,
        settings: None,
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut next = || -> Result<Option<Command>, Fatal> {
        match lines.next() {
            None => Ok(None),
            Some(line) => protocol::parse(&line.map_err(|e| format!("reading from git: {e}"))?).map(Some),
        }
    };
    while let Some(command) = next()? {
        let reply = match command {
            Command::Blank => return Ok(()),
            Command::Capabilities => "option\nfetch\npush\nobject-format\ncheck-connectivity\n\n".to_owned(),
            Command::Option { name, value } => format!("{}\n", session.option(&name, value)),
            Command::List => session.list()?,
            Command::ListForPush => format!("{}\n", push::list_for_push(&session.url, session.git_dir.as_deref())?),
            Command::Fetch { id, name } => {
                let batch = rest_of_batch((id, name), &mut next, |c| match c {
                    Command::Fetch { id, name } => Ok((id, name)),
                    other => Err(other),
                })?;
                session.fetch_batch(&batch)?
            }
            Command::Push(spec) => {
                let specs = rest_of_batch(spec, &mut next, |c| match c {
                    Command::Push(spec) => Ok(spec),
                    other => Err(other),
                })?;
                session.push_batch(&specs)?
            }
        };
        if out.write_all(reply.as_bytes()).and_then(|()| out.flush()).is_err() {
            // git went away (EPIPE): nothing left to answer.
            return Ok(());
        }
    }
    Ok(())
}

/// Collect a `fetch` or `push` batch: `first`, then every following command `item` accepts,
/// up to the blank line that ends the batch.
fn rest_of_batch<T>(
    first: T,
    next: &mut impl FnMut() -> Result<Option<Command>, Fatal>,
    item: fn(Command) -> Result<T, Command>,
) -> Result<Vec<T>, Fatal> {
    let mut batch = vec![first];
    loop {
        match next()? {
            Some(Command::Blank) | None => return Ok(batch),
            Some(command) => match item(command) {
                Ok(t) => batch.push(t),
                Err(other) => return Err(format!("unexpected {other:?} inside a batch")),
            },
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

impl Session {
    /// Answer `option <name> <value>`: `ok`, `unsupported` or `error …`.
    fn option(&mut self, name: &str, value: String) -> String {
        let boolean = |v: &str| parse_bool(v).ok_or_else(|| "error invalid value".to_owned());
        let result: Result<(), String> = match name {
            "verbosity" => value
                .parse()
                .map(|v| {
                    self.fetch.verbosity = v;
                    self.push.verbosity = v;
                })
                .map_err(|_| "error invalid value".into()),
            "progress" => boolean(&value).map(|b| {
                self.fetch.progress = b;
                self.push.progress = b;
            }),
            "depth" => value
                .parse()
                .map(|d: u64| self.fetch.depth = if d == 0 { None } else { Some(d) })
                .map_err(|_| "error invalid value".into()),
            "deepen-relative" => boolean(&value).map(|b| self.fetch.deepen_relative = b),
            "deepen-since" => {
                self.fetch.deepen_since = Some(value);
                Ok(())
            }
            "deepen-not" => {
                self.fetch.deepen_not.push(value);
                Ok(())
            }
            "update-shallow" => boolean(&value).map(|b| self.fetch.update_shallow = b),
            "refetch" => boolean(&value).map(|b| self.fetch.refetch = b),
            "followtags" => boolean(&value).map(|b| self.fetch.followtags = b),
            "family" => {
                self.fetch.family = Some(value);
                Ok(())
            }
            "cloning" => boolean(&value).map(|b| self.fetch.cloning = b),
            "check-connectivity" => boolean(&value).map(|b| self.check_connectivity = b),
            "object-format" => {
                self.object_format = true;
                Ok(())
            }
            "cas" => {
                self.push.cas.push(value);
                Ok(())
            }
            "force-if-includes" => boolean(&value).map(|b| self.push.force_if_includes = b),
            "atomic" => boolean(&value).map(|b| self.push.atomic = b),
            "push-option" => {
                self.push.push_options.push(value);
                Ok(())
            }
            "dry-run" => boolean(&value).map(|b| self.push.dry_run = b),
            "pushcert" => {
                self.push.signed = match value.as_str() {
                    "true" => Some("yes".into()),
                    "if-asked" => Some("if-asked".into()),
                    _ => None,
                };
                Ok(())
            }
            // Partial clones are not passed on yet: the clone is complete instead.
            _ => Err("unsupported".into()),
        };
        match result {
            Ok(()) => "ok".into(),
            Err(e) => e,
        }
    }

    fn settings(&mut self) -> Result<&(Settings, Policy), Fatal> {
        if self.settings.is_none() {
            let dir = self.git_dir.as_deref();
            let settings = Settings::load(dir, self.remote.as_deref())?;
            let policy = Policy::load(&settings.policy).map_err(|e| format!("policy error: {e}"))?;
            policy.check_environment(&settings.environment).map_err(|e| e.to_string())?;
            self.settings = Some((settings, policy));
        }
        self.settings.as_ref().ok_or_else(|| "settings unavailable".to_owned())
    }

    fn list(&mut self) -> Result<String, Fatal> {
        let url = self.url.clone();
        let git_dir = self.git_dir.clone();
        let verbosity = self.fetch.verbosity;
        let upstream = listing::ls_remote(&url, git_dir.as_deref())?;
        trace("ls-remote");
        let (settings, policy) = self.settings()?;
        trace("settings and policy");
        let judge = listing::Judge {
            policy,
            environment: &settings.environment,
            strict: settings.strict,
            allow_unprotected: settings.allow_unprotected,
            refspecs: &settings.refspecs,
            url: &url,
            verbosity,
        };
        let listing = listing::filter(upstream, &judge)?;
        let mut reply = String::new();
        if self.object_format {
            reply.push_str(&format!(":object-format {}\n", listing.hash));
        }
        for (name, target) in &listing.symrefs {
            reply.push_str(&format!("@{target} {name}\n"));
        }
        for r in &listing.refs {
            if listing.symrefs.iter().any(|(n, _)| *n == r.name) {
                continue;
            }
            reply.push_str(&format!("{} {}\n", r.id, r.name));
            if let Some(p) = r.peeled {
                reply.push_str(&format!("{p} {}^{{}}\n", r.name));
            }
        }
        reply.push('\n');
        trace("list");
        self.listing = Some(listing);
        Ok(reply)
    }

    fn fetch_batch(&mut self, batch: &[(ObjectId, String)]) -> Result<String, Fatal> {
        if self.listing.is_none() {
            self.list()?;
        }
        let git_dir = self.git_dir.clone().ok_or("fetch outside a repository")?;
        let listing = self.listing.as_ref().ok_or("no ref listing")?;
        let fetched = fetch::fetch(&self.url, &git_dir, listing, batch, &self.fetch)?;
        trace("fetch");
        Ok(match fetched.lock {
            // The new pack was proven connected (by the inner fetch's walk, or by fetch-pack
            // while indexing it); into a fresh clone it is self-contained, so git may skip
            // the same walk.
            Some(path) if self.fetch.cloning && self.check_connectivity && fetched.connected => {
                format!("lock {}\nconnectivity-ok\n\n", path.display())
            }
            Some(path) => format!("lock {}\n\n", path.display()),
            None => "\n".to_owned(),
        })
    }

    fn push_batch(&mut self, specs: &[String]) -> Result<String, Fatal> {
        let git_dir = self.git_dir.clone().ok_or("push outside a repository")?;
        let mut reply = push::push(&self.url, &git_dir, specs, &self.push).join("\n");
        reply.push_str("\n\n");
        self.push.cas.clear();
        self.push.push_options.clear();
        Ok(reply)
    }
}
