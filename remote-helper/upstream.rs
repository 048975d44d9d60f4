//! The mirror, as the helper talks to it: the one place that runs and reads `git ls-remote`
//! and the inner fetches (into a fetch's quarantine, into the tag cache), each with the
//! hygiene of [`crate::git`]. Nothing here decides what git sees. Objects are asked for by id,
//! never by name: the ids were advertised (so any server allows them), they pin exactly what
//! was verified, and git matches thousands of ids far faster than thousands of refspecs.

use std::path::Path;

use foldhash::{HashMap, HashMapExt};
use gix::ObjectId;

use crate::git::{self, RunError};
use crate::options::FetchOptions;
use crate::protocol::{Ref, Symref};

/// git's "infinite" depth, sent for `--unshallow`.
const INFINITE_DEPTH: u64 = 2_147_483_647;

/// What the mirror advertises, before anything is hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// Every ref, in the mirror's order, with its `^{}` value when it points at a tag object.
    pub refs: Vec<Ref>,
    /// `HEAD` and any other symbolic refs.
    pub symrefs: Vec<Symref>,
    /// The object format of the ids.
    pub hash: gix::hash::Kind,
}

/// A conversation with the mirror that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The git command itself failed.
    #[error(transparent)]
    Git(#[from] RunError),
    /// A ref name git printed is not UTF-8.
    #[error("git ls-remote printed non-UTF-8 ref names")]
    NotUtf8,
    /// A line that is neither `<id>\t<name>` nor `ref: <target>\t<name>`.
    #[error("unexpected ls-remote line {line:?}")]
    Line { line: String },
    /// A line whose id is not an object id.
    #[error("bad object id in ls-remote: {source}")]
    ObjectId { source: gix::Error },
    /// A ref advertised twice with different values: a mirror that lies.
    #[error("the mirror lists {name} twice, with different values; nothing is fetched from it")]
    Duplicate { name: String },
    /// A transfer that had failed was waited for again.
    #[error("the transfer from the mirror failed")]
    Interrupted,
    /// A `^{}` line that does not follow its ref.
    #[error("ls-remote listed {name} without its ref")]
    Peeled { name: String },
}

/// `git ls-remote --symref <url>`: the mirror's advertisement.
pub fn advertisement(url: &str, git_dir: Option<&Path>) -> Result<Advertisement, Error> {
    start_advertisement(url, git_dir)?.finish()
}

/// An [`advertisement`] being listed, and read as it comes.
pub struct Advertising(git::Running<Result<Advertisement, Error>>);

/// Start [`advertisement`], and leave it running (it is killed if dropped).
pub fn start_advertisement(url: &str, git_dir: Option<&Path>) -> Result<Advertising, Error> {
    let mut cmd = git::git(url, git_dir);
    cmd.args(["ls-remote", "--symref", url]);
    Ok(Advertising(git::spawn_reading(cmd, "git ls-remote", read_advertisement)?))
}

impl Advertising {
    /// Wait for it; what the mirror advertises.
    pub fn finish(self) -> Result<Advertisement, Error> {
        let advertisement = self.0.finish()?;
        crate::trace("ls-remote ran");
        advertisement
    }
}

/// Read `git ls-remote --symref` output as it comes, to the end (a line that does not parse
/// is the error, once the rest is read).
fn read_advertisement(out: impl std::io::Read) -> std::io::Result<Result<Advertisement, Error>> {
    use std::io::BufRead;
    let mut out = std::io::BufReader::with_capacity(1 << 16, out);
    let mut parser = Parser::default();
    let mut line = Vec::new();
    let mut failed = None;
    while out.read_until(b'\n', &mut line)? > 0 {
        if failed.is_none() {
            let text = std::str::from_utf8(&line).map_err(|_| Error::NotUtf8);
            failed = text.and_then(|text| parser.line(text.strip_suffix('\n').unwrap_or(text))).err();
        }
        line.clear();
    }
    Ok(match failed {
        Some(e) => Err(e),
        None => parser.finish(),
    })
}

/// Read `git ls-remote --symref` output.
#[cfg(test)]
fn parse_advertisement(text: &str) -> Result<Advertisement, Error> {
    let mut parser = Parser::default();
    text.lines().try_for_each(|line| parser.line(line))?;
    parser.finish()
}

/// `git ls-remote --symref` output, line by line.
#[derive(Default)]
struct Parser {
    refs: Vec<Ref>,
    symrefs: Vec<Symref>,
    hash: Option<gix::hash::Kind>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), Error> {
        if let Some(rest) = line.strip_prefix("ref: ") {
            if let Some((target, name)) = rest.split_once('\t') {
                self.symrefs.push(Symref { name: name.to_owned(), target: target.to_owned() });
            }
            return Ok(());
        }
        let (hex, name) = line.split_once('\t').ok_or_else(|| Error::Line { line: line.to_owned() })?;
        let id = ObjectId::from_hex(hex.as_bytes()).map_err(|source| Error::ObjectId { source })?;
        self.hash.get_or_insert(id.kind());
        if let Some(base) = name.strip_suffix("^{}") {
            match self.refs.last_mut() {
                Some(last) if last.name == base && last.peeled.is_none() => last.peeled = Some(id),
                _ => return Err(Error::Peeled { name: name.to_owned() }),
            }
        } else {
            self.refs.push(Ref { name: name.to_owned(), id, peeled: None });
        }
        Ok(())
    }

    fn finish(self) -> Result<Advertisement, Error> {
        let Parser { refs, symrefs, hash } = self;
        let hash = hash.unwrap_or(gix::hash::Kind::Sha1);
        // Listed in order (as git lists them), no name is listed twice.
        if crate::protocol::in_order(&refs) {
            return Ok(Advertisement { refs, symrefs, hash });
        }
        // A name once: the same ref repeated (git prints a helper's `HEAD` twice) is dropped;
        // the same name with another value is a lie, and every decision by name would be
        // ambiguous.
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(refs.len());
        let mut repeated = vec![false; refs.len()];
        for (i, r) in refs.iter().enumerate() {
            match seen.get(r.name.as_str()) {
                Some(&first) if refs[first] == *r => repeated[i] = true,
                Some(_) => return Err(Error::Duplicate { name: r.name.clone() }),
                None => {
                    seen.insert(&r.name, i);
                }
            }
        }
        drop(seen);
        let unique = refs.into_iter().zip(repeated).filter_map(|(r, repeated)| (!repeated).then_some(r)).collect();
        Ok(Advertisement { refs: unique, symrefs, hash })
    }
}

/// Where a fetch into the user's repository stores what arrives: a quarantine object directory
/// in front of the repository's own objects.
pub struct Destination<'a> {
    /// The user's repository.
    pub git_dir: &'a Path,
    /// The quarantine: the only place the inner fetch writes objects.
    pub quarantine: &'a Path,
    /// The repository's object directory, read as an alternate.
    pub objects: &'a Path,
    /// The repository is shallow now.
    pub shallow: bool,
}

/// Fetch `ids` into `into` with what git asked for in `opts`; returns whether the new objects
/// were proven connected (so git may skip its own walk).
pub fn fetch(url: &str, into: &Destination<'_>, ids: &[ObjectId], opts: &FetchOptions) -> Result<bool, Error> {
    start_fetch(url, into, ids, opts)?.finish()
}

/// A [`fetch`] under way.
pub struct Transfer {
    running: git::Running,
    /// Made by `git fetch-pack`, which says whether its pack is connected.
    fetch_pack: bool,
}

impl Transfer {
    /// Fetch `ids`.
    pub fn want(&mut self, ids: &[ObjectId]) -> Result<(), Error> {
        Ok(self.running.feed(lines(ids))?)
    }

    /// Wait for it; whether the new objects were proven connected.
    pub fn finish(self) -> Result<bool, Error> {
        let out = self.running.finish()?;
        // `git fetch` walked the new objects itself; `fetch-pack` says whether its pack was.
        Ok(!self.fetch_pack || String::from_utf8_lossy(&out).lines().any(|l| l == "connectivity-ok"))
    }
}

/// Start [`fetch`], and leave it running (it is killed if the [`Transfer`] is dropped).
pub fn start_fetch(
    url: &str,
    into: &Destination<'_>,
    ids: &[ObjectId],
    opts: &FetchOptions,
) -> Result<Transfer, Error> {
    let mut transfer = prepare_fetch(url, into, opts)?;
    transfer.want(ids)?;
    Ok(transfer)
}

/// Start the git that will [`fetch`], waiting to be told what ([`Transfer::want`]): it reads
/// the ids before it connects to the mirror.
pub fn prepare_fetch(url: &str, into: &Destination<'_>, opts: &FetchOptions) -> Result<Transfer, Error> {
    let mut cmd = git::git(url, Some(into.git_dir));
    cmd.env("GIT_OBJECT_DIRECTORY", into.quarantine).env("GIT_QUARANTINE_PATH", into.quarantine).args([
        "-c",
        "fetch.writeCommitGraph=false",
        "-c",
        "fetch.unpackLimit=1",
    ]);
    let plain_clone = opts.plain_clone(url);
    // A new clone has no objects to share, and reading its empty store as an alternate slows
    // the transfer (by a tenth at 1,000 tags); one that borrows objects (`clone --reference`)
    // is read, so the objects it can reach are not fetched again.
    if !plain_clone || into.objects.join("info").join("alternates").exists() {
        cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", into.objects);
    }
    if plain_clone {
        cmd.args(["fetch-pack", "--stdin", "--lock-pack", "--check-self-contained-and-connected", "--cloning"]);
        if opts.verbosity == 0 {
            cmd.arg("-q");
        }
        if !opts.progress {
            cmd.arg("--no-progress");
        }
    } else {
        cmd.args(["fetch", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance", "--no-recurse-submodules"])
            .args(fetch_flags(opts, into.shallow))
            .arg("--stdin");
    }
    cmd.arg(url);
    let running = git::spawn_waiting(cmd, if plain_clone { "git fetch-pack" } else { "git fetch" })?;
    Ok(Transfer { running, fetch_pack: plain_clone })
}

/// Fetch the tag objects `ids` (and their commits, without trees) into the tag cache at
/// `cache`, whose remote `upstream` is the mirror.
pub fn fetch_tags(url: &str, cache: &Path, ids: &[ObjectId]) -> Result<(), Error> {
    let mut cmd = git::git(url, Some(cache));
    cmd.args([
        "fetch",
        "-q",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-auto-maintenance",
        "--no-recurse-submodules",
        "--depth=1",
        "--filter=tree:0",
        "--stdin",
        "upstream",
    ])
    .stderr(std::process::Stdio::piped());
    git::run(cmd, Some(&lines(ids)), "fetching tag objects into the tag cache")?;
    Ok(())
}

/// Fetch the policy history ending at `tip` (whole commits, trees and key files) into the
/// repository at `into`, from the URL itself (no remote's filter applies).
pub fn fetch_policy(url: &str, into: &Path, tip: ObjectId) -> Result<(), Error> {
    let mut cmd = git::git(url, Some(into));
    cmd.args(["fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance", "--no-recurse-submodules"])
        .args([url, &tip.to_string()])
        .stderr(std::process::Stdio::piped());
    git::run(cmd, None, "fetching the policy history")?;
    Ok(())
}

/// One id per line, for `--stdin`.
fn lines(ids: &[ObjectId]) -> String {
    use std::fmt::Write;
    let mut lines = String::with_capacity(ids.first().map_or(0, |id| ids.len() * (id.kind().len_in_hex() + 1)));
    for id in ids {
        let _ = writeln!(lines, "{id}");
    }
    lines
}

/// The inner `git fetch` flags for what git asked; `shallow`: the repository is shallow now.
fn fetch_flags(opts: &FetchOptions, shallow: bool) -> Vec<String> {
    let mut f = Vec::new();
    match opts.depth {
        // --unshallow on a complete repository is an error; nothing to do then.
        Some(INFINITE_DEPTH) if shallow => f.push("--unshallow".to_owned()),
        Some(INFINITE_DEPTH) => {}
        Some(d) if d > 0 && opts.deepen_relative => f.push(format!("--deepen={d}")),
        Some(d) if d > 0 => f.push(format!("--depth={d}")),
        _ => {}
    }
    if let Some(since) = &opts.deepen_since {
        f.push(format!("--shallow-since={since}"));
    }
    f.extend(opts.deepen_not.iter().map(|not| format!("--shallow-exclude={not}")));
    let switches = [
        (opts.update_shallow, "--update-shallow"),
        (opts.refetch, "--refetch"),
        (opts.verbosity == 0, "-q"),
        (opts.verbosity >= 2, "-v"),
        (opts.progress, "--progress"),
        (opts.family.as_deref() == Some("ipv4"), "-4"),
        (opts.family.as_deref() == Some("ipv6"), "-6"),
    ];
    f.extend(switches.into_iter().filter(|(on, _)| *on).map(|(_, flag)| flag.to_owned()));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1e61d6600000000000000000000000000000000a";
    const B: &str = "1e61d6600000000000000000000000000000000b";

    #[test]
    fn reads_refs_peeled_values_and_symrefs() {
        let text = format!(
            "ref: refs/heads/main\tHEAD\n{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n"
        );
        let adv = parse_advertisement(&text).expect("valid");
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).expect("hex");
        assert_eq!(adv.symrefs, [Symref { name: "HEAD".into(), target: "refs/heads/main".into() }]);
        assert_eq!(adv.refs.len(), 3);
        assert_eq!(adv.refs[2], Ref { name: "refs/tags/v1".into(), id: id(B), peeled: Some(id(A)) });
        assert_eq!(adv.hash, gix::hash::Kind::Sha1);
    }

    #[test]
    fn refuses_what_git_would_not_print() {
        for bad in [format!("{A}\trefs/tags/v1^{{}}\n"), "nonsense\n".to_owned(), "zz\trefs/heads/x\n".to_owned()] {
            assert!(parse_advertisement(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn maps_depth_options_onto_fetch_flags() {
        let unshallow = FetchOptions { depth: Some(INFINITE_DEPTH), verbosity: 1, ..FetchOptions::default() };
        assert_eq!(fetch_flags(&unshallow, true), ["--unshallow"]);
        assert!(fetch_flags(&unshallow, false).is_empty(), "a complete repository has nothing to unshallow");
        let deepen = FetchOptions { depth: Some(2), deepen_relative: true, verbosity: 2, ..FetchOptions::default() };
        assert_eq!(fetch_flags(&deepen, true), ["--deepen=2", "-v"]);
    }
}
