//! One session with git: read commands from stdin, answer each on stdout, keep what a later
//! command needs (the options git set, the settings and policy, the listing a fetch filters by).

use std::io::{BufRead, Lines, Write};
use std::path::PathBuf;
use std::sync::Arc;

use git_signed_policy::Policy;
use gix::ObjectId;

use crate::listing::{self, Hidden, Listing, Named, Sorted};
use crate::options::Options;
use crate::protocol::{self, Command, Ref, Reply};
use crate::settings::{Settings, Source};
use crate::upstream::{self, Advertisement};
use crate::{Error, fetch, git, pinned, push, trace, verify};

/// What the helper knows during a session.
struct Session {
    /// The remote's name, unless the fetch is anonymous (`git fetch signed::<url>`).
    remote: Option<String>,
    url: String,
    git_dir: Option<PathBuf>,
    options: Options,
    listing: Option<Listing>,
    settings: Option<(Settings, Arc<Policy>)>,
    /// Settings read ahead whose policy is pinned, so read from the listing.
    pinned_settings: Option<Settings>,
    /// A clone's transfer, made while listing, for the fetch batch to use.
    prefetched: Option<fetch::Prefetch>,
    /// Tag objects from that transfer still being copied into the tag cache.
    keeping: Option<verify::Keeping>,
}

/// Run one session: `remote` and `url` as git passed them (`url` absent when git passed only
/// the URL as `remote`).
pub fn run(remote: String, url: Option<String>) -> Result<(), Error> {
    trace("start");
    let mut session = Session::new(remote, url)?;
    let stdin = std::io::stdin();
    let mut commands = Commands { lines: stdin.lock().lines() };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while let Some(command) = commands.next()? {
        if !session.answer(command, &mut commands, &mut out)? {
            break;
        }
    }
    session.keep();
    // git waits for the helper to exit: a listing of 100,000 refs goes with the process
    // instead of being freed ref by ref.
    std::mem::forget(session.listing.take());
    trace("end");
    Ok(())
}

/// The commands git writes, one per line.
struct Commands<R> {
    lines: Lines<R>,
}

impl<R: BufRead> Commands<R> {
    /// The next command; `None` when git closed stdin.
    fn next(&mut self) -> Result<Option<Command>, Error> {
        match self.lines.next() {
            None => Ok(None),
            Some(line) => {
                let line = line.map_err(Error::Read)?;
                Ok(Some(protocol::parse(&line)?))
            }
        }
    }

    /// A `fetch` or `push` batch: `first`, then every following command `item` accepts, up to
    /// the blank line that ends the batch.
    fn batch<T>(&mut self, first: T, item: fn(Command) -> Result<T, Command>) -> Result<Vec<T>, Error> {
        let mut batch = vec![first];
        loop {
            match self.next()? {
                Some(Command::Blank) | None => return Ok(batch),
                Some(command) => match item(command) {
                    Ok(t) => batch.push(t),
                    Err(other) => return Err(Error::Batch(other)),
                },
            }
        }
    }
}

/// Tell the user what was hidden (each failed protected ref; the others counted, or listed
/// with -v), or fail when `strict` and a protected ref failed.
fn report(hidden: &[(String, Hidden)], strict: bool, verbosity: u32) -> Result<(), Error> {
    let mut failed = Vec::new();
    let mut quiet = 0;
    for (name, why) in hidden {
        match why {
            Hidden::Failed(why) => failed.push(format!("{name}: {why}")),
            Hidden::Quiet(why) => {
                quiet += 1;
                if verbosity >= 2 {
                    eprintln!("signed: hiding {name}: {why}");
                }
            }
        }
    }
    if strict && !failed.is_empty() {
        return Err(Error::Strict(failed));
    }
    if verbosity >= 1 {
        for f in &failed {
            eprintln!("signed: hiding {f}");
        }
        if quiet > 0 && verbosity < 2 {
            eprintln!(
                "signed: hid {quiet} other ref(s) (unprotected tags, replace refs, tag objects outside refs/tags/); -v lists them"
            );
        }
    }
    Ok(())
}

/// Write `reply`; false when git is no longer reading.
fn send(out: &mut impl Write, reply: Reply<'_>) -> bool {
    // In large writes: stdout is line-buffered, and a listing has thousands of lines, which
    // git reads while the rest are written.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    write!(out, "{reply}").and_then(|()| out.flush()).is_ok()
}

impl Session {
    /// A session for `remote` and `url` as git passed them, in the repository git names in
    /// `GIT_DIR` (none for `git ls-remote` outside a repository).
    fn new(remote: String, url: Option<String>) -> Result<Session, Error> {
        if std::env::var_os(git::DEPTH_GUARD).is_some() {
            return Err(Error::Recursion);
        }
        let url = url.unwrap_or_else(|| remote.clone());
        // git names an anonymous remote (`git fetch signed::<url>`) after its URL.
        let anonymous = remote == url || remote.strip_prefix("signed::") == Some(url.as_str());
        let remote = (!anonymous).then_some(remote);
        let url = url.strip_prefix("signed::").map(ToOwned::to_owned).unwrap_or(url);
        if url.starts_with("signed::") || url.is_empty() {
            return Err(Error::Url(url));
        }
        let git_dir = match std::env::var_os("GIT_DIR") {
            Some(d) => Some(std::path::absolute(PathBuf::from(d)).map_err(Error::GitDir)?),
            None => None,
        };
        let options = Options::default();
        Ok(Session {
            remote,
            url,
            git_dir,
            options,
            listing: None,
            settings: None,
            pinned_settings: None,
            prefetched: None,
            keeping: None,
        })
    }

    /// Answer `command` (reading the rest of its batch); false when the session is over: git
    /// sent the blank line that ends it, or went away (EPIPE) and reads no more.
    fn answer<R: BufRead>(
        &mut self,
        command: Command,
        commands: &mut Commands<R>,
        out: &mut impl Write,
    ) -> Result<bool, Error> {
        Ok(match command {
            Command::Blank => false,
            Command::Capabilities => send(out, Reply::Capabilities),
            Command::Option { name, value } => send(out, Reply::Option(self.options.set(&name, &value))),
            Command::List => {
                let listing = self.list()?;
                let listing = self.listing.insert(listing);
                let object_format = self.options.object_format.then_some(listing.hash);
                let r = send(out, Reply::List { object_format, symrefs: &listing.symrefs, refs: &listing.refs });
                trace("sent");
                r
            }
            Command::ListForPush => {
                let refs = push::list_for_push(&self.url, self.git_dir.as_deref())?;
                send(out, Reply::List { object_format: None, symrefs: &[], refs: &refs })
            }
            Command::Fetch { id, name } => {
                let batch = commands.batch((id, name), |c| match c {
                    Command::Fetch { id, name } => Ok((id, name)),
                    other => Err(other),
                })?;
                let fetched = self.fetch_batch(&batch)?;
                // The new pack was proven connected (by the inner fetch's walk, or by
                // fetch-pack while indexing it); into a fresh clone it is self-contained, so
                // git may skip the same walk.
                let connectivity_ok =
                    self.options.fetch.cloning && self.options.check_connectivity && fetched.connected;
                send(out, Reply::Fetched { lock: fetched.lock.as_deref(), connectivity_ok })
            }
            Command::Push(spec) => {
                let specs = commands.batch(spec, |c| match c {
                    Command::Push(spec) => Ok(spec),
                    other => Err(other),
                })?;
                let statuses = self.push_batch(&specs)?;
                send(out, Reply::Pushed(&statuses))
            }
        })
    }

    /// The settings and the policy they name, read once per session.
    fn settings(&mut self, advertised: Option<&Advertisement>) -> Result<&(Settings, Arc<Policy>), Error> {
        let loaded = match self.settings.take() {
            Some(loaded) => loaded,
            None => {
                let settings = match self.pinned_settings.take() {
                    Some(settings) => settings,
                    None => Settings::load(self.git_dir.as_deref(), self.remote.as_deref())?,
                };
                self.with_policy(settings, advertised)?
            }
        };
        Ok(self.settings.insert(loaded))
    }

    /// `settings` and the policy they name: a file, or the one `signed.root` pins, read from
    /// the mirror's listing (`advertised`, or a new one).
    fn with_policy(
        &self,
        settings: Settings,
        advertised: Option<&Advertisement>,
    ) -> Result<(Settings, Arc<Policy>), Error> {
        let policy = match &settings.policy {
            Source::File(path) => Policy::load(path)?,
            Source::Root(root) => {
                let fresh;
                let advertised = match advertised {
                    Some(a) => a,
                    None => {
                        fresh = upstream::advertisement(&self.url, self.git_dir.as_deref())?;
                        &fresh
                    }
                };
                pinned::in_force(&self.url, advertised.hash, *root, advertised, settings.strict)?
            }
        };
        policy.check_environment(&settings.environment)?;
        Ok((settings, Arc::new(policy)))
    }

    /// Read the settings and a policy file ahead, while the mirror lists its refs (a pinned
    /// policy is read from that listing, so later).
    fn preload(&mut self) -> Result<(), Error> {
        if self.settings.is_none() && self.pinned_settings.is_none() {
            let settings = Settings::load(self.git_dir.as_deref(), self.remote.as_deref())?;
            match settings.policy {
                Source::File(_) => self.settings = Some(self.with_policy(settings, None)?),
                Source::Root(_) => self.pinned_settings = Some(settings),
            }
        }
        Ok(())
    }

    /// List the refs this environment sees, for `list` and for the fetches after it. A plain
    /// clone fetches first, everything the listing may offer, so it transfers once: the tag
    /// objects verification reads arrive with the rest.
    fn list(&mut self) -> Result<Listing, Error> {
        // The tag cache stays locked until a clone's tag objects are in it.
        self.keep();
        // What needs no listing is done while the mirror lists its refs.
        let advertising = upstream::start_advertisement(&self.url, self.git_dir.as_deref())?;
        self.preload()?;
        let url = self.url.clone();
        let opts = self.options.fetch.clone();
        // `git clone` names its remote; `ls-remote` and `git fetch <url>` do not, and want
        // no transfer (or not one of everything).
        let named = self.remote.is_some();
        let git_dir = self.git_dir.clone().filter(|dir| named && fetch::Prefetch::wanted(dir, &opts));
        // Its transfer starts now, to be told what to fetch once the listing is judged.
        let mut prefetched = git_dir.map(|dir| fetch::Prefetch::prepare(&url, &dir, &opts)).transpose()?;
        let advertised = advertising.finish()?;
        trace("ls-remote");
        let (settings, policy) = self.settings(Some(&advertised))?;
        trace("settings and policy");
        let by_name =
            listing::ByName { policy, allow_unprotected: settings.allow_unprotected, refspecs: &settings.refspecs };
        let Sorted { named, protected, unprotected } = listing::sort(&advertised, &by_name);
        if let Some(prefetch) = prefetched.as_mut() {
            // What a clone fetches (`--mirror` wants more, and fetches it afterwards).
            let cloned = |(r, named): &(&Ref, &Named)| {
                !matches!(named, Named::Hidden(_))
                    && (r.name == "HEAD" || r.name.starts_with("refs/heads/") || r.name.starts_with("refs/tags/"))
            };
            let ids: Vec<ObjectId> = advertised.refs.iter().zip(&named).filter(cloned).map(|(r, _)| r.id).collect();
            match ids.is_empty() {
                true => prefetched = None,
                false => prefetch.want(&ids)?,
            }
            trace("prefetch started");
        }
        let tags = verify::Tags {
            policy,
            environment: &settings.environment,
            url: &url,
            hash: advertised.hash,
            progress: opts.progress,
            arrived: prefetched.as_ref(),
        };
        trace("sorted");
        let verify::Verdicts { protected, unprotected, keeping } = tags.verdicts(&protected, &unprotected)?;
        trace("verdicts");
        let (listing, hidden) = listing::decide(advertised, policy, named, protected, unprotected);
        report(&hidden, settings.strict, opts.verbosity)?;
        self.prefetched = prefetched;
        self.keeping = keeping;
        trace("list");
        Ok(listing)
    }

    /// Fetch `batch`, filtered by the session's listing (listing first if git did not).
    fn fetch_batch(&mut self, batch: &[(ObjectId, String)]) -> Result<fetch::Fetched, Error> {
        let mut listing = match self.listing.take() {
            Some(listing) => listing,
            None => self.list()?,
        };
        // A transfer made while listing that does not hold what git asks for is dropped now,
        // and the tag cache is not filled from it (nor kept locked for it).
        if !self.prefetched.as_ref().is_some_and(|p| p.holds(batch, &self.options.fetch)) {
            self.prefetched = None;
            self.keep();
        }
        if listing.unresolved() {
            let url = self.url.clone();
            let (settings, policy) = self.settings(None)?;
            let (environment, hash) = (&settings.environment, listing.hash);
            let tags = verify::Tags { policy, environment, url: &url, hash, progress: false, arrived: None };
            tags.resolve(&mut listing)?;
            trace("chains");
        }
        let listing = self.listing.insert(listing);
        let git_dir = self.git_dir.as_deref().ok_or(Error::NoRepository("fetch"))?;
        let prefetched = self.prefetched.take();
        let fetched = fetch::fetch(&self.url, git_dir, listing, batch, &self.options.fetch, prefetched)?;
        if let (true, Some(keeping)) = (fetched.prefetched, self.keeping.as_mut()) {
            keeping.stored(git_dir);
        }
        trace("fetch");
        Ok(fetched)
    }

    /// Finish copying a clone's verified tag objects into the tag cache. Failing costs only
    /// time: the next listing verifies them again.
    fn keep(&mut self) {
        let Some(keeping) = self.keeping.take() else { return };
        if let Err(e) = keeping.finish() {
            eprintln!("signed: warning: {e}; the next fetch verifies those tags again");
        }
        trace("kept");
    }

    /// Push `specs` (`[+]<src>:<dst>`); the push options git set apply to this batch only.
    fn push_batch(&mut self, specs: &[String]) -> Result<Vec<protocol::PushStatus>, Error> {
        let git_dir = self.git_dir.as_deref().ok_or(Error::NoRepository("push"))?;
        let statuses = push::push(&self.url, git_dir, specs, &self.options.push);
        self.options.push.cas.clear();
        self.options.push.push_options.clear();
        Ok(statuses)
    }
}
