//! One session with git: read commands from stdin, answer each on stdout, keep what a later
//! command needs (the options git set, the settings and policy, the listing a fetch filters by).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use git_signed_policy::Policy;
use gix::ObjectId;

use crate::fetch::{self, FetchOptions};
use crate::listing::{self, Listing};
use crate::protocol::{self, Command};
use crate::push::{self, PushOptions};
use crate::settings::Settings;
use crate::{git, trace};

/// Fatal errors end the session; git then reports the fetch or push as failed.
pub type Fatal = String;

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

/// Run one session: `remote` and `url` as git passed them (`url` absent when git passed only
/// the URL as `remote`).
pub fn run(remote: String, url: Option<String>) -> Result<(), Fatal> {
    trace("start");
    if std::env::var_os(git::DEPTH_GUARD).is_some() {
        return Err("git-remote-signed was invoked by itself (a url.*.insteadOf rule or a lazy fetch points back at \
                    signed::); refusing to recurse"
            .into());
    }
    let url = url.unwrap_or_else(|| remote.clone());
    // git names an anonymous remote (`git fetch signed::<url>`) after its URL.
    let anonymous = remote == url || remote.strip_prefix("signed::") == Some(url.as_str());
    let remote = (!anonymous).then_some(remote);
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
