//! The push's certificate (`git push --signed`), as receive-pack hands it to the hook: the
//! blob `GIT_PUSH_CERT` names (read through the quarantine) and what receive-pack says of its
//! nonce. The core checks it against the policy ([`Certificate::check`]).

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use git_signed_policy::duration::{from_unix_seconds, unix_seconds};
use git_signed_policy::push_cert::{self, CertProblem, Certificate, Presented, Pusher};
use git_signed_policy::{Policy, Repo};
use gix::ObjectId;

use crate::decide::Update;

/// A push certificate and what it proves.
pub struct SignedPush {
    /// The blob receive-pack stored it in.
    pub id: String,
    /// The certificate, when it could be read.
    pub certificate: Option<Certificate>,
    /// Who it proves pushed, or why it proves nothing.
    pub outcome: Result<Pusher, CertProblem>,
}

/// The push's certificate, when it carries one.
pub fn presented(repo: &Repo, policy: &Policy, updates: &[Update], now: SystemTime) -> Option<SignedPush> {
    let id = std::env::var("GIT_PUSH_CERT").ok().filter(|v| !v.is_empty())?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let said = Presented { nonce: env("GIT_PUSH_CERT_NONCE"), nonce_status: env("GIT_PUSH_CERT_NONCE_STATUS") };
    let lines: Vec<String> = updates.iter().map(|u| format!("{} {} {}", u.old, u.new, u.refname)).collect();
    let certificate = read(repo, &id).and_then(Certificate::parse);
    let outcome = certificate.as_ref().map_err(Clone::clone).and_then(|c| {
        let pusher = c.check(policy, &said, &lines, now)?;
        first_time(repo.common_dir(), &signed_digest(c), now)?;
        Ok(pusher)
    });
    Some(SignedPush { id, certificate: certificate.ok(), outcome })
}

/// What a certificate signed, as a digest: the same signed certificate however its signature
/// block is written (an armor comment, the base64's line breaks, unhashed subpackets give it
/// another blob id, not another digest).
fn signed_digest(cert: &Certificate) -> String {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(cert.payload());
    hasher.try_finalize().map_or_else(|e| format!("unhashable: {e}"), |id| id.to_hex().to_string())
}

/// The valid certificates seen, for [`push_cert::MAX_AGE`] (older ones fail on their own):
/// `<digest of what they signed> <seconds>` lines, under `<git dir>/git-signed`.
const SEEN: &str = "push-certificates";

/// Refuse a certificate an earlier push presented (`digest`: what it signed), and remember this one. A replay of a
/// certificate receive-pack still calls fresh (stateless HTTP within receive.certNonceSlop,
/// or within the nonce's second) ends here. Fails closed: a record that cannot be kept
/// refuses the certificate.
fn first_time(git_dir: &Path, digest: &str, now: SystemTime) -> Result<(), CertProblem> {
    let cannot = |e: &dyn std::fmt::Display| CertProblem::Unreadable(format!("cannot record it as seen: {e}"));
    let dir = git_dir.join("git-signed");
    git_signed_tool::store::private_dir(&dir).map_err(|e| cannot(&e))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(SEEN))
        .map_err(|e| cannot(&e))?;
    file.lock().map_err(|e| cannot(&e))?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| cannot(&e))?;
    let mut kept = String::new();
    for line in text.lines() {
        let Some((seen, at)) = line.split_once(' ') else { continue };
        let Some(when) = from_unix_seconds(at) else { continue };
        if now.duration_since(when).unwrap_or_default() > push_cert::MAX_AGE {
            continue;
        }
        if seen == digest {
            return Err(CertProblem::Replayed(when));
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept.push_str(&format!("{digest} {}\n", unix_seconds(now)));
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(kept.as_bytes()))
        .and_then(|()| file.sync_data());
    written.map_err(|e| cannot(&e))
}

fn read(repo: &Repo, id: &str) -> Result<Vec<u8>, CertProblem> {
    let unreadable = |why: String| CertProblem::Unreadable(format!("GIT_PUSH_CERT={id}: {why}"));
    let oid = ObjectId::from_hex(id.as_bytes()).map_err(|e| unreadable(e.to_string()))?;
    // What it is and how large, before anything is read.
    let header = repo.repo.find_header(oid).map_err(|e| unreadable(e.to_string()))?;
    if header.kind() != gix::objs::Kind::Blob {
        return Err(unreadable(format!("a {}, not a blob", header.kind())));
    }
    if header.size() > push_cert::MAX_SIZE as u64 {
        return Err(CertProblem::Malformed(format!(
            "{} bytes, more than the {}-byte limit",
            header.size(),
            push_cert::MAX_SIZE
        )));
    }
    let object = repo.repo.find_object(oid).map_err(|e| unreadable(e.to_string()))?;
    Ok(object.data.clone())
}
