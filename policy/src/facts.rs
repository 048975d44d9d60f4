//! Signature facts: what checking one layer's signature established that can never change.
//!
//! A layer's object id fixes its bytes, so its signature and the payload it covers; a
//! certificate's exact bytes fix whether that key was bound, alive, unrevoked and
//! signing-capable at the signature's time and whether the signature matches. The result —
//! which certificate and key made it, when, and until when the signature itself is valid — is
//! a [`SignatureFact`], remembered under the layer's id and the [`CertDigest`] of the
//! certificate (its owner and its bytes). A fact is only ever made by the cryptographic check
//! passing ([`signature::crypto`](crate::signature::crypto)), and only used while the policy
//! still holds a certificate with the same digest: adding a revocation to a key file, moving a
//! key to someone else, or removing it, changes or drops the digest, and the layer is checked
//! again. What depends on the time or on the rules (clock skew, the signature's expiry,
//! `expires`, push-time freshness, `inactivity`, thresholds) is judged on top of the fact every
//! time ([`signature::judge`](crate::signature::judge)).
//!
//! Failures are not remembered: a layer that does not verify is checked again each time, so a
//! remembered fact can only ever stand for a check that passed.
//!
//! [`Facts`] holds them in memory and reads and writes the text form: one fact per line, each
//! line carrying a checksum of itself, so a line cut short or altered is skipped, never
//! believed. Files, locks and where they live are the adapters' (`git_signed_tool::store`).

use std::collections::HashMap;
use std::time::SystemTime;

use crate::duration::{from_unix_seconds as time, unix_seconds as seconds};

use gix::ObjectId;
use sequoia_openpgp::Fingerprint;

use crate::ssh::Touch;

/// The first line of a facts file: the format and the version of the checks (a release that
/// changes what passes, [`crate::RULES`] or [`crate::OPENPGP`], starts from an empty cache).
pub fn header() -> String {
    format!("git-signed facts 2 rules {} {}\n", crate::RULES, crate::OPENPGP.replace(' ', "/"))
}

/// A certificate as the policy holds it: a digest of its owner and its exact bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CertDigest([u8; 20]);

impl CertDigest {
    /// The digest of `principal`'s certificate serialized as `bytes`.
    pub fn new(principal: &crate::Principal, bytes: &[u8]) -> CertDigest {
        let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
        let kind: &[u8] = match principal {
            crate::Principal::Person(_) => b"person\0",
            crate::Principal::Machine(_) => b"machine\0",
        };
        h.update(kind);
        h.update(principal.name().as_bytes());
        h.update(b"\0");
        h.update(bytes);
        CertDigest(checksum(h))
    }

    fn to_hex(self) -> String {
        hex(&self.0)
    }

    fn from_hex(text: &str) -> Option<CertDigest> {
        let mut out = [0u8; 20];
        unhex(text, &mut out).then_some(CertDigest(out))
    }
}

/// The key that made a signature: an OpenPGP (sub)key by fingerprint, or an SSH key by its
/// SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SigningKey {
    /// An OpenPGP primary key or subkey.
    OpenPgp(Fingerprint),
    /// An OpenSSH public key.
    Ssh(String),
}

impl SigningKey {
    /// The signature format the key signs in: `openpgp` or `ssh`.
    pub fn format(&self) -> &'static str {
        match self {
            SigningKey::OpenPgp(_) => "openpgp",
            SigningKey::Ssh(_) => "ssh",
        }
    }

    fn parse(text: &str) -> Option<SigningKey> {
        match text.strip_prefix("ssh:") {
            Some(fpr) => fpr.starts_with("SHA256:").then(|| SigningKey::Ssh(fpr.to_owned())),
            None => text.parse::<Fingerprint>().ok().map(SigningKey::OpenPgp),
        }
    }

    fn to_field(&self) -> String {
        match self {
            SigningKey::OpenPgp(fpr) => fpr.to_hex(),
            SigningKey::Ssh(fpr) => format!("ssh:{fpr}"),
        }
    }
}

/// The fingerprint as people compare it: hex for OpenPGP, `SHA256:…` for SSH.
impl std::fmt::Display for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::OpenPgp(fpr) => f.write_str(&fpr.to_hex()),
            SigningKey::Ssh(fpr) => f.write_str(fpr),
        }
    }
}

/// What a passing cryptographic check of one layer's signature established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFact {
    /// The certificate (OpenPGP) or public key (SSH) that made it.
    pub cert: CertDigest,
    /// The key that made it.
    pub key: SigningKey,
    /// The signature's creation time; `None` for SSH signatures, which carry none.
    pub created: Option<SystemTime>,
    /// When the signature itself stops being valid, if it says so.
    pub expires: Option<SystemTime>,
    /// What a FIDO authenticator claimed when it made the signature (`sk-*` SSH keys).
    pub touch: Option<Touch>,
}

/// The fact a tag object's own signature establishes under `policy`, from its bytes alone
/// (`object`, as stored, without git's `tag <size>` header): its id, their hash, and the fact,
/// if the cryptographic check passes and `known` has none the policy still accepts for it.
/// Made before the object is in any repository (while a clone's pack arrives); whether the
/// layer counts for anything is judged later, on the walk, as for any remembered fact.
pub fn learn(
    policy: &crate::Policy,
    hash: gix::hash::Kind,
    object: &[u8],
    known: &Facts,
) -> Option<(ObjectId, SignatureFact)> {
    let layer = crate::layer::Layer::from_object(hash, object).ok()?;
    if known.get(&layer.id).is_some_and(|f| policy.known_for_fact(f).is_some()) {
        return None;
    }
    let fact = crate::signature::crypto(policy, layer.signature(), layer.payload()).ok()?;
    Some((layer.id, fact))
}

/// Facts by layer object id.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    by_layer: HashMap<ObjectId, SignatureFact>,
}

/// What reading a facts file found besides the facts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines that were cut short, altered, or of another version, and were skipped.
    pub rejected: usize,
    /// Lines repeating a fact already read.
    pub repeated: usize,
}

impl ReadStats {
    /// Whether the file should be rewritten: it holds as many useless lines as facts.
    pub fn worth_compacting(&self, facts: usize) -> bool {
        self.rejected + self.repeated > facts.max(64)
    }
}

impl Facts {
    /// The fact remembered for layer `id`.
    pub fn get(&self, id: &ObjectId) -> Option<&SignatureFact> {
        self.by_layer.get(id)
    }

    /// Remember `fact` for layer `id`.
    pub fn insert(&mut self, id: ObjectId, fact: SignatureFact) {
        self.by_layer.insert(id, fact);
    }

    /// How many facts there are.
    pub fn len(&self) -> usize {
        self.by_layer.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_layer.is_empty()
    }

    /// Keep only facts `keep` accepts (compaction: facts of certificates no policy holds).
    pub fn retain(&mut self, mut keep: impl FnMut(&SignatureFact) -> bool) {
        self.by_layer.retain(|_, f| keep(f));
    }

    /// Read the text of a facts file. A file of another version gives nothing; each line that
    /// does not check out is counted and skipped.
    pub fn parse(text: &str) -> (Facts, ReadStats) {
        Facts::read(text.as_bytes())
    }

    /// [`Facts::parse`] the text `input` reads, a line at a time (a facts file of 300,000
    /// facts is 46 MB). A read error ends it: what was read so far is kept.
    pub fn read(mut input: impl std::io::BufRead) -> (Facts, ReadStats) {
        let mut facts = Facts::default();
        let mut stats = ReadStats::default();
        let mut line = Vec::new();
        let mut next = |line: &mut Vec<u8>| {
            line.clear();
            input.read_until(b'\n', line).is_ok_and(|n| n > 0)
        };
        let whole = next(&mut line) && line == header().as_bytes();
        if !whole {
            stats.rejected = usize::from(!line.is_empty());
        }
        while next(&mut line) {
            if !whole {
                stats.rejected += 1;
                continue;
            }
            let parsed = std::str::from_utf8(&line).ok().and_then(|l| l.strip_suffix('\n')).and_then(parse_line);
            match parsed {
                Some((id, fact)) => {
                    if facts.by_layer.insert(id, fact).is_some() {
                        stats.repeated += 1;
                    }
                }
                None => stats.rejected += 1,
            }
        }
        (facts, stats)
    }

    /// The whole file: the header and one line per fact.
    pub fn to_text(&self) -> String {
        let mut out = header();
        for (id, fact) in &self.by_layer {
            out.push_str(&line(id, fact));
        }
        out
    }
}

/// One fact as a line of a facts file, newline included: `<layer id> <cert digest> <key>
/// <created or -> <expires or -> <FIDO flags:counter or -> <checksum>`, the key as an OpenPGP
/// fingerprint in hex or `ssh:SHA256:…`.
pub fn line(id: &ObjectId, fact: &SignatureFact) -> String {
    let time = |t: Option<SystemTime>| t.map_or_else(|| "-".to_owned(), |t| seconds(t).to_string());
    let touch = fact.touch.map_or_else(|| "-".to_owned(), |t| format!("{:02x}:{}", t.flags, t.counter));
    let (cert, key, created, expires) =
        (fact.cert.to_hex(), fact.key.to_field(), time(fact.created), time(fact.expires));
    let body = format!("{id} {cert} {key} {created} {expires} {touch}");
    let sum = line_sum(&body);
    format!("{body} {sum}\n")
}

fn parse_line(line: &str) -> Option<(ObjectId, SignatureFact)> {
    let (body, sum) = line.rsplit_once(' ')?;
    if line_sum(body) != sum {
        return None;
    }
    let mut f = body.split(' ');
    let id = ObjectId::from_hex(f.next()?.as_bytes()).ok()?;
    let cert = CertDigest::from_hex(f.next()?)?;
    let key = SigningKey::parse(f.next()?)?;
    let optional = |t: &str| match t {
        "-" => Some(None),
        t => time(t).map(Some),
    };
    let created = optional(f.next()?)?;
    let expires = optional(f.next()?)?;
    let touch = match f.next()? {
        "-" => None,
        t => {
            let (flags, counter) = t.split_once(':')?;
            Some(Touch { flags: u8::from_str_radix(flags, 16).ok()?, counter: counter.parse().ok()? })
        }
    };
    let fact = SignatureFact { cert, key, created, expires, touch };
    f.next().is_none().then_some((id, fact))
}

/// The first 16 hex digits of the SHA-1 of a line's body.
fn line_sum(body: &str) -> String {
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(body.as_bytes());
    hex(&checksum(h)[..8])
}

fn checksum(h: gix::hash::Hasher) -> [u8; 20] {
    let mut out = [0u8; 20];
    // SHA-1 over data we chose ourselves cannot hit the collision detector; if it ever did,
    // the all-zero digest only makes the line or certificate unrecognised, never believed.
    if let Ok(id) = h.try_finalize() {
        out.copy_from_slice(&id.as_bytes()[..20]);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str, out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        match u8::from_str_radix(text.get(i * 2..i * 2 + 2).unwrap_or("zz"), 16) {
            Ok(b) => *byte = b,
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn fact() -> (ObjectId, SignatureFact) {
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").expect("hex");
        let fact = SignatureFact {
            cert: CertDigest::new(&crate::Principal::Person("alice".into()), b"cert bytes"),
            key: SigningKey::OpenPgp("C9A4 B5D6 7E8F 9012 3456 7890 ABCD EF01 2345 6789".parse().expect("fingerprint")),
            created: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            touch: None,
        };
        (id, fact)
    }

    #[test]
    fn a_fact_reads_back_as_written() {
        let (id, f) = fact();
        let text = header() + &line(&id, &f);
        let (facts, stats) = Facts::parse(&text);
        assert_eq!(facts.get(&id), Some(&f));
        assert_eq!(stats, ReadStats::default());
        assert_eq!(Facts::parse(&facts.to_text()).0.get(&id), Some(&f));
    }

    #[test]
    fn an_ssh_fact_reads_back_with_its_touch_and_no_time() {
        let (id, f) = fact();
        let f = SignatureFact {
            key: SigningKey::Ssh("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into()),
            created: None,
            expires: None,
            touch: Some(Touch { flags: 0x05, counter: 7 }),
            ..f
        };
        let (facts, stats) = Facts::parse(&(header() + &line(&id, &f)));
        assert_eq!((facts.get(&id), stats), (Some(&f), ReadStats::default()));
    }

    #[test]
    fn altered_cut_or_foreign_lines_are_never_believed() {
        let (id, f) = fact();
        let good = line(&id, &f);
        let mut altered = good.clone().into_bytes();
        altered[3] = if altered[3] == b'4' { b'5' } else { b'4' };
        let altered = String::from_utf8(altered).expect("text");
        let later = good.replace("1700000000", "1700000001");
        for text in [
            header() + &good[..good.len() - 1],
            header() + &good[..good.len() / 2] + "\n",
            header() + &altered,
            header() + &later,
            header().replace("facts 2", "facts 9") + &good,
            good.clone(),
        ] {
            let (facts, stats) = Facts::parse(&text);
            assert!(facts.is_empty(), "{text}");
            assert!(stats.rejected >= 1, "{text}");
        }
        // Read from a file: a line that is not UTF-8 is skipped, the next one still read.
        let bytes = [header().as_bytes(), b"\xff\xfe not text\n", good.as_bytes()].concat();
        let (facts, stats) = Facts::read(bytes.as_slice());
        assert_eq!((facts.len(), stats.rejected), (1, 1));
    }
}
