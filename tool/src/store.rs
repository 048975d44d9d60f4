//! Where verification remembers what it learned: a private directory holding the signature
//! facts file (see `git_signed_policy::facts`) and, per policy, the signing history
//! `inactivity` needs. The hook and the CLI keep it in the repository (`<git dir>/git-signed`),
//! the remote helper per mirror URL in its own cache.
//!
//! Everything here is a cache: losing it costs time, never correctness. So:
//! - the directory and its files must belong to this user and be writable by no one else (a
//!   shared directory could make a verifier believe a forged fact, T29);
//! - every write happens under the directory's lock, either as whole lines appended to the
//!   facts file (each line checks itself, so one cut short by a killed process or a full disk
//!   is skipped) or as a new file renamed into place (the history, a compacted facts file);
//! - anything that does not read back exactly is ignored and rebuilt, never trusted.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use git_signed_policy::facts::{self, ReadStats};
use git_signed_policy::{Activity, Facts, Policy, Repo, RepoError, SignatureFact, Verdict};
use gix::ObjectId;

use crate::progress::Progress;

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It cannot be made or read.
    #[error("cannot use the cache directory {}: {source}", dir.display())]
    Io { dir: PathBuf, source: std::io::Error },
    /// Another user could write it, and so forge what it remembers.
    #[error(
        "the cache {} is not private to this user (owner uid {owner}, mode {mode:o}, you are uid {uid}); \
         remove it (it is only a cache: what another user could write may be forged)",
        dir.display()
    )]
    NotPrivate { dir: PathBuf, owner: u32, mode: u32, uid: u32 },
}

/// Create `dir` private (0700) if missing, and refuse one that is not.
pub fn private_dir(dir: &Path) -> Result<(), Error> {
    let io = |source| Error::Io { dir: dir.to_owned(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
    private(dir)
}

/// `path` (a directory or file, not a symbolic link) belongs to this user and no one else can
/// write it.
pub fn private(path: &Path) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Io { dir: path.to_owned(), source })?;
    let uid = crate::effective_uid();
    if !meta.file_type().is_symlink() && meta.uid() == uid && meta.mode() & 0o022 == 0 {
        return Ok(());
    }
    Err(Error::NotPrivate { dir: path.to_owned(), owner: meta.uid(), mode: meta.mode() & 0o7777, uid })
}

/// More new protected tags than this are verified with the facts file loaded.
const FEW: usize = 32;

/// An opened cache directory.
pub struct Cache {
    dir: PathBuf,
    /// Shared, while a thread checks signatures beside the caller ([`Cache::shared_facts`]).
    facts: Option<Arc<Facts>>,
    learned: Vec<(ObjectId, SignatureFact)>,
}

impl Cache {
    /// The cache at `dir`, created private if missing. Every file in it must be private too
    /// (one another user left behind may hold anything, whoever owns the directory now).
    pub fn open(dir: &Path) -> Result<Cache, Error> {
        private_dir(dir)?;
        let io = |source| Error::Io { dir: dir.to_owned(), source };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            private(&entry.map_err(io)?.path())?;
        }
        Ok(Cache { dir: dir.to_owned(), facts: None, learned: Vec::new() })
    }

    /// The cache of a repository, in `<git dir>/git-signed`.
    pub fn for_repo(repo: &Repo) -> Result<Cache, Error> {
        Cache::open(&repo.common_dir().join("git-signed"))
    }

    /// The remembered signature facts and those learned since (read once; a file of another
    /// version, or lines that do not check out, are left out and the file rewritten without
    /// them).
    pub fn facts(&mut self) -> &Facts {
        self.facts.get_or_insert_with(|| {
            let (mut facts, stats) = match File::open(self.dir.join(FACTS)) {
                Ok(file) => Facts::read(std::io::BufReader::with_capacity(1 << 16, file)),
                Err(_) => Default::default(),
            };
            compact_if_needed(&self.dir, &facts, stats);
            for (id, fact) in &self.learned {
                facts.insert(*id, fact.clone());
            }
            Arc::new(facts)
        })
    }

    /// [`Cache::facts`], for a thread to read beside the caller. Facts learned while it holds
    /// them are added to a copy.
    pub fn shared_facts(&mut self) -> Arc<Facts> {
        self.facts();
        self.facts.clone().unwrap_or_default()
    }

    /// Keep the facts `verdicts` learned, to be written by [`Cache::save`].
    pub fn learn<'v>(&mut self, verdicts: impl IntoIterator<Item = &'v Verdict>) {
        for v in verdicts {
            self.learn_facts(v.learned().iter().cloned());
        }
    }

    /// Keep `learned` facts, to be written by [`Cache::save`].
    pub fn learn_facts(&mut self, learned: impl IntoIterator<Item = (ObjectId, SignatureFact)>) {
        for (id, fact) in learned {
            if let Some(facts) = self.facts.as_mut() {
                Arc::make_mut(facts).insert(id, fact.clone());
            }
            self.learned.push((id, fact));
        }
    }

    /// Make `held` known to [`Cache::facts`] without writing them: facts learned ahead of
    /// need, of which the caller then [learns](Cache::learn_facts) those it used.
    pub fn hold_facts(&mut self, held: impl IntoIterator<Item = (ObjectId, SignatureFact)>) {
        self.facts();
        if let Some(facts) = self.facts.as_mut() {
            let facts = Arc::make_mut(facts);
            held.into_iter().for_each(|(id, fact)| facts.insert(id, fact));
        }
    }

    /// Append the learned facts to the facts file, under the lock. Never fails the caller: a
    /// fact not written is learned again next time.
    pub fn save(&mut self) {
        if self.learned.is_empty() {
            return;
        }
        let lines: String = self.learned.iter().map(|(id, f)| facts::line(id, f)).collect();
        let Ok(_lock) = lock(&self.dir) else { return };
        let path = self.dir.join(FACTS);
        let fresh = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        let file = File::options().create(true).append(true).read(true).mode(0o600).open(&path);
        let Ok(mut file) = file else { return };
        let mut text = if fresh { facts::header() } else { String::new() };
        if !fresh && !ends_with_newline(&path) {
            text.push('\n');
        }
        text.push_str(&lines);
        if file.write_all(text.as_bytes()).is_ok() {
            self.learned.clear();
        }
    }

    /// The signing history of `repo`'s protected tags for `policy`, from the history stored
    /// for this policy when the repository's tags are the ones it was built from, or grown by
    /// the tags added since as loose refs (a push the hook accepted is one of them the next time:
    /// recorded only once git has written its ref, so a push that fails after the hook never
    /// counts); built again from every tag otherwise (after
    /// `git pack-refs`, a deleted or rewritten tag, a policy change, or once a verdict it rests
    /// on can have changed by time alone), reusing facts.
    pub fn activity(&mut self, repo: &Repo, policy: &Policy, now: SystemTime) -> Result<Activity, RepoError> {
        let packed = repo.packed_refs_stamp();
        let loose: Vec<(String, ObjectId)> =
            repo.loose_tags()?.into_iter().filter(|(name, _)| policy.protects(name)).collect();
        let stored = History::read(&self.dir, policy);
        // A history some of whose verdicts time has changed since (a signature expired or
        // came due) is built again.
        let current = |h: &History| h.packed == packed && h.activity.holds_until().is_none_or(|until| now < until);
        if let Some(mut history) = stored.filter(current) {
            let kept = history.loose.iter().all(|(name, id)| loose.iter().any(|(n, i)| n == name && i == id));
            let added: Vec<(String, ObjectId)> = loose.iter().filter(|t| !history.loose.contains(t)).cloned().collect();
            // A new loose ref may hide a packed one the history counted: fine when the new value
            // wraps it (a promotion adds layers), a rewrite otherwise.
            let mut hidden = Vec::new();
            for (name, _) in &added {
                hidden.push(repo.packed_tag(name)?);
            }
            if kept {
                if !added.is_empty() {
                    let facts = if added.len() > FEW { Some(self.facts()) } else { None };
                    let verdicts = repo.push_verdicts(policy, now, facts, &added, &|| {})?;
                    let wraps = |(v, old): (&Verdict, &Option<ObjectId>)| {
                        old.is_none_or(|old| v.accepted() && v.chain().contains(&old))
                    };
                    if verdicts.iter().zip(&hidden).all(wraps) {
                        verdicts.iter().for_each(|v| history.activity.record(v));
                        self.learn(&verdicts);
                        history.loose.extend(added);
                        history.write(&self.dir, policy);
                        return Ok(history.activity);
                    }
                } else {
                    return Ok(history.activity);
                }
            }
        }
        let tags: Vec<(String, ObjectId)> =
            repo.tags()?.into_iter().filter(|(name, _)| policy.protects(name)).collect();
        let progress = Progress::new("checking the signing history", tags.len());
        let (activity, learned) = repo.history_of(policy, now, Some(self.facts()), &tags, &|| progress.tick())?;
        self.learn_facts(learned);
        History { packed, loose, activity: activity.clone() }.write(&self.dir, policy);
        Ok(activity)
    }
}

impl Cache {
    /// The commit whose policy was in force when `refs/signed/policy` was at `tip`, as
    /// verified from `root` before (`git_signed_policy::chain::walk`), if remembered.
    pub fn policy_in_force(&self, root: &ObjectId, tip: &ObjectId) -> Option<ObjectId> {
        self.policy_trusted(root).filter(|(t, _)| t == tip).map(|(_, state)| state)
    }

    /// The last `refs/signed/policy` verified from `root`, and the commit whose policy was in
    /// force there, if remembered.
    pub fn policy_trusted(&self, root: &ObjectId) -> Option<(ObjectId, ObjectId)> {
        let text = std::fs::read_to_string(self.dir.join(POLICY_STATE)).ok()?;
        let (line, sum) = text.strip_suffix('\n')?.rsplit_once(' ')?;
        let mut ids = line.split(' ').map(|hex| ObjectId::from_hex(hex.as_bytes()).ok());
        let (r, t, state) = (ids.next()??, ids.next()??, ids.next()??);
        let whole = checksum(line).is_some_and(|s| s == sum);
        (whole && r == *root).then_some((t, state))
    }

    /// Remember that the policy of `state` is in force when `refs/signed/policy` is at `tip`.
    pub fn remember_policy_in_force(&self, root: &ObjectId, tip: &ObjectId, state: &ObjectId) {
        let line = format!("{root} {tip} {state}");
        if let Some(sum) = checksum(&line) {
            let _ = replace(&self.dir, POLICY_STATE, &format!("{line} {sum}\n"));
        }
    }

    /// [`Cache::remember_policy_in_force`], only if what is remembered for `root` is still
    /// `was` (what the caller followed the history from): a verifier that ran meanwhile and
    /// trusted more is never moved back.
    pub fn advance_policy_trusted(
        &self,
        root: &ObjectId,
        was: Option<(ObjectId, ObjectId)>,
        tip: &ObjectId,
        state: &ObjectId,
    ) {
        let Ok(_lock) = lock(&self.dir) else { return };
        if self.policy_trusted(root) != was {
            return;
        }
        let line = format!("{root} {tip} {state}");
        if let Some(sum) = checksum(&line) {
            let _ = write_private(&self.dir.join(POLICY_STATE), &format!("{line} {sum}\n"));
        }
    }
}

const POLICY_STATE: &str = "policy-in-force";
const FACTS: &str = "facts";
const LOCK: &str = "lock";

fn lock(dir: &Path) -> std::io::Result<File> {
    let file = File::options().create(true).truncate(false).write(true).mode(0o600).open(dir.join(LOCK))?;
    file.lock()?;
    Ok(file)
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else { return false };
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1)).and_then(|_| f.read_exact(&mut last)).is_ok_and(|()| last[0] == b'\n')
}

/// Write `text` to `dir/name` through a new file renamed into place, under the lock.
fn replace(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let _lock = lock(dir)?;
    write_private(&dir.join(name), text)
}

/// Write `text` to `path` (mode 0600) through a new file beside it, synced and renamed into
/// place: a reader sees the old file or the new one, never half of one. The caller holds
/// whatever lock serialises writers.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let scratch = path.with_extension(format!("new.{}", std::process::id()));
    let mut f = File::options().create(true).write(true).truncate(true).mode(0o600).open(&scratch)?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
    match written.and_then(|()| std::fs::rename(&scratch, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&scratch);
            Err(e)
        }
    }
}

/// Rewrite the facts file with only its good, distinct lines when most of it is waste.
fn compact_if_needed(dir: &Path, facts: &Facts, stats: ReadStats) {
    if stats.worth_compacting(facts.len()) {
        let _ = replace(dir, FACTS, &facts.to_text());
    }
}

/// The stored history for one policy, and the refs it was built from: the `packed-refs`
/// file then, and the protected tags that were loose refs.
struct History {
    packed: String,
    loose: Vec<(String, ObjectId)>,
    activity: Activity,
}

impl History {
    fn file(policy: &Policy) -> String {
        format!("history-{}", policy.fingerprint.get(..16).unwrap_or(&policy.fingerprint))
    }

    fn header(policy: &Policy) -> String {
        format!("git-signed history 1 rules {}\npolicy {}\n", git_signed_policy::RULES, policy.fingerprint)
    }

    /// The stored history, if it is whole, for this very policy, and reads back exactly.
    fn read(dir: &Path, policy: &Policy) -> Option<History> {
        let text = std::fs::read_to_string(dir.join(History::file(policy))).ok()?;
        let (body, sum) = text.strip_suffix('\n')?.rsplit_once("\nsum ")?;
        let body = format!("{body}\n");
        if checksum(&body)? != sum {
            return None;
        }
        let rest = body.strip_prefix(&History::header(policy))?;
        let (packed, rest) = rest.strip_prefix("packed ")?.split_once('\n')?;
        let (count, mut rest) = rest.strip_prefix("loose ")?.split_once('\n')?;
        let mut loose = Vec::new();
        for _ in 0..count.parse::<usize>().ok()? {
            let (line, more) = rest.split_once('\n')?;
            let (id, name) = line.split_once(' ')?;
            loose.push((name.to_owned(), ObjectId::from_hex(id.as_bytes()).ok()?));
            rest = more;
        }
        let activity = Activity::from_text(rest)?;
        Some(History { packed: packed.to_owned(), loose, activity })
    }

    /// Store it; a history not written is built again next time.
    fn write(&self, dir: &Path, policy: &Policy) {
        let mut body = History::header(policy);
        body.push_str(&format!("packed {}\nloose {}\n", self.packed, self.loose.len()));
        for (name, id) in &self.loose {
            body.push_str(&format!("{id} {name}\n"));
        }
        body.push_str(&self.activity.to_text());
        if let Some(sum) = checksum(&body) {
            let _ = replace(dir, &History::file(policy), &format!("{body}sum {sum}\n"));
        }
    }
}

fn checksum(text: &str) -> Option<String> {
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(text.as_bytes());
    h.try_finalize().ok().map(|id| id.to_string())
}
