//! Shared fixtures for the fuzz targets: a policy with one person and an in-memory object
//! store, so targets exercise parsing and verification without touching git.

use std::collections::HashMap;
use std::sync::OnceLock;

use git_signed_policy::Policy;
use gix::ObjectId;
use gix::objs::Kind;
use sequoia_openpgp::cert::CertBuilder;
use sequoia_openpgp::serialize::SerializeInto;

/// An OpenSSH public key in the fuzz policy, so SSH signatures reach the verification itself.
const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHUT+xC2fa2nDN6VmDuKrD1Z3yQTIhVVseT/iPbVv1aW fuzz@example.org\n";

/// A valid policy (one person with an OpenPGP and an SSH key, one rule), its key files in a
/// temporary directory.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<(tempfile::TempDir, Policy)> = OnceLock::new();
    &POLICY
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let (cert, _) = CertBuilder::general_purpose(Some("fuzz <fuzz@example.org>")).generate().expect("cert");
            std::fs::write(dir.path().join("fuzz.asc"), cert.armored().to_vec().expect("armor")).expect("write");
            // The key that signed fuzz/seeds/ssh_signature/ed25519-tag.
            std::fs::write(dir.path().join("fuzz.pub"), SSH_KEY).expect("write");
            let text = "version = 1\n[people.fuzz]\nkeys = [\"fuzz.asc\", \"fuzz.pub\"]\naccess = \"admin\"\n\
                        [[rule]]\ntags = [\"deploy/*\"]\npeople = 1\n";
            let policy = Policy::parse(&dir.path().join("policy.toml"), text).expect("policy");
            (dir, policy)
        })
        .1
}

/// Objects held in memory, addressed by their real hash.
#[derive(Default)]
pub struct Memory(pub HashMap<ObjectId, (Kind, Vec<u8>)>);

impl Memory {
    /// Store `data` as an object of `kind`; returns its id.
    pub fn insert(&mut self, kind: Kind, data: Vec<u8>) -> ObjectId {
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, &data).expect("hash");
        self.0.insert(id, (kind, data));
        id
    }
}

impl gix::objs::Find for Memory {
    fn try_find<'a>(&self, id: &gix::oid, buffer: &'a mut Vec<u8>) -> gix::Result<Option<gix::objs::Data<'a>>> {
        Ok(self.0.get(id).map(|(kind, data)| {
            buffer.clear();
            buffer.extend_from_slice(data);
            gix::objs::Data { kind: *kind, object_hash: gix::hash::Kind::Sha1, data: buffer.as_slice() }
        }))
    }
}

impl gix::objs::FindHeader for Memory {
    fn try_header(&self, id: &gix::oid) -> gix::Result<Option<gix::objs::Header>> {
        Ok(self.0.get(id).map(|(kind, data)| gix::objs::Header { kind: *kind, size: data.len() as u64 }))
    }
}
