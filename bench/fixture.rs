//! Benchmark fixtures and the raw-signature baseline for `bench/run.sh`.
//!
//! `fixture repo DIR N` builds, in DIR, keys for alice, bob and staging-ci (sequoia, ed25519,
//! v4 so gpg can verify them too), `policy.toml`, and a bare repository `repo.git` with
//! `N` commits and `N` deploy tags of three layers each (alice, bob, staging-ci), written
//! straight into the object store: signing 30,000 layers through `git tag -s` would take
//! longer than the benchmark itself.
//!
//! `fixture ssh-repo DIR N` builds the same with SSH signatures: ed25519 keys made by
//! `ssh-keygen` (DIR/keys/NAME and NAME.pub), each layer an SSHSIG for the namespace `git`, as
//! `git tag -s` with `gpg.format=ssh` makes it, and DIR/allowed_signers for `git verify-tag`.
//!
//! `fixture key DIR NAME` writes DIR/keys/NAME.asc: a fresh ed25519 certificate for NAME (public
//! part only), e.g. a new signer to add to a policy (`bench/scale.sh`).
//!
//! `fixture policy DIR N` adds to a fixture `repo` built: `refs/signed/policy` in DIR/repo.git,
//! a history of N commits signed by bob (the admin; `admins = 1`), each changing a comment in
//! `policy.toml`, as an admin's `git commit -S` would; writes its first commit to DIR/root.
//!
//! `fixture raw DIR` measures the bare cost of the signature checks for every layer of every
//! tag in DIR/repo.git: everything is read and parsed first, then only sequoia's verification
//! of each signature over its payload is timed. Prints seconds.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use gix::objs::Write as _;
use openpgp::cert::prelude::*;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::types::SignatureType;
use sequoia_openpgp as openpgp;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const SIGNERS: [&str; 3] = ["alice", "bob", "staging-ci"];

fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Result<String> {
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .spawn()?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(data)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("git {args:?} failed").into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn armor(sig: openpgp::packet::Signature) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = openpgp::armor::Writer::new(&mut out, openpgp::armor::Kind::Signature)?;
    w.write_all(&openpgp::Packet::from(sig).to_vec()?)?;
    w.finalize()?;
    Ok(out)
}

/// A fresh certificate for `name`: ed25519 primary key and signing subkey, v4.
fn new_cert(name: &str, created: SystemTime) -> Result<Cert> {
    let (cert, _) = CertBuilder::new()
        .add_userid(format!("{name} <{name}@example.org>"))
        .add_signing_subkey()
        .set_creation_time(created)
        .generate()?;
    Ok(cert)
}

/// `fixture key DIR NAME`: DIR/keys/NAME.asc, a new certificate (public part only).
fn key(dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(dir.join("keys"))?;
    let cert = new_cert(name, SystemTime::now() - Duration::from_secs(86_400))?;
    std::fs::write(dir.join(format!("keys/{name}.asc")), cert.armored().to_vec()?)?;
    Ok(())
}

/// Signs a layer's payload; returns the armored signature to append.
type Signer = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>>>;

/// OpenPGP signers (sequoia), their certificates in DIR/keys/NAME.asc.
fn openpgp_signers(dir: &Path, t: SystemTime) -> Result<Vec<Signer>> {
    let created = t - Duration::from_secs(86_400);
    let mut signers: Vec<Signer> = Vec::new();
    for name in SIGNERS {
        let cert = new_cert(name, created)?;
        std::fs::write(dir.join(format!("keys/{name}.asc")), cert.armored().to_vec()?)?;
        std::fs::write(dir.join(format!("keys/{name}.secret.asc")), cert.as_tsk().armored().to_vec()?)?;
        let key = cert.keys().subkeys().unencrypted_secret().next().ok_or("no signing subkey")?;
        let mut keypair = key.key().clone().role_into_unspecified().into_keypair()?;
        signers.push(Box::new(move |payload: &[u8]| {
            let sig = SignatureBuilder::new(SignatureType::Binary)
                .set_signature_creation_time(t)?
                .sign_message(&mut keypair, payload)?;
            armor(sig)
        }));
    }
    Ok(signers)
}

/// SSH signers: ed25519 keys made by ssh-keygen in DIR/keys/NAME(.pub), signing as `git tag -s`
/// with `gpg.format=ssh` does (`ssh-keygen -Y sign -n git`: SHA-512, namespace `git`).
fn ssh_signers(dir: &Path) -> Result<Vec<Signer>> {
    let mut signers: Vec<Signer> = Vec::new();
    let mut allowed = String::new();
    for name in SIGNERS {
        let path = dir.join(format!("keys/{name}"));
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("{name}@example.org"), "-f"])
            .arg(&path)
            .status()?;
        if !status.success() {
            return Err("ssh-keygen failed".into());
        }
        let key = ssh_key::PrivateKey::read_openssh_file(&path)?;
        allowed.push_str(&format!("{name}@example.org {}\n", key.public_key().to_openssh()?));
        signers.push(Box::new(move |payload: &[u8]| {
            let sig = ssh_key::SshSig::sign(&key, "git", ssh_key::HashAlg::Sha512, payload)?;
            Ok(sig.to_pem(ssh_key::LineEnding::LF)?.into_bytes())
        }));
    }
    std::fs::write(dir.join("allowed_signers"), allowed)?;
    Ok(signers)
}

fn build(dir: &Path, n: usize, ssh: bool) -> Result<()> {
    std::fs::create_dir_all(dir.join("keys"))?;
    let t = SystemTime::now();
    let (mut signers, ext) = if ssh { (ssh_signers(dir)?, "pub") } else { (openpgp_signers(dir, t)?, "asc") };
    std::fs::write(
        dir.join("policy.toml"),
        format!(
            "version = 1\nenvironments = [\"ci\", \"staging\", \"production\"]\n\n[people.alice]\nkeys = [\"keys/alice.{ext}\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n\n\
         [people.bob]\nkeys = [\"keys/bob.{ext}\"]\naccess = \"admin\"\n\n[machines.staging-ci]\n\
         keys = [\"keys/staging-ci.{ext}\"]\n\n[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\n\n[[rule]]\n\
         tags = [\"deploy/*\"]\nenvironments = [\"production\"]\nmachines = [\"staging-ci\"]\n"
        ),
    )?;

    let repo = dir.join("repo.git");
    git(dir, &["init", "-q", "--bare", "-b", "main", repo.to_str().ok_or("path")?], None)?;
    // N commits, each changing one file, through fast-import.
    let mut stream = String::new();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    for i in 0..n {
        let body = format!("change {i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter Dev <dev@example.org> {} +0000\ndata 9\nchange {:<2}\n",
            i + 1,
            now - (n - i) as u64,
            i % 100
        ));
        if i > 0 {
            stream.push_str(&format!("from :{i}\n"));
        }
        stream.push_str(&format!("M 644 inline file{}.txt\ndata {}\n{body}\n", i % 50, body.len()));
    }
    git(&repo, &["fast-import", "--quiet", "--export-marks=marks"], Some(stream.as_bytes()))?;
    let marks = std::fs::read_to_string(repo.join("marks"))?;
    let commits: Vec<String> = marks.lines().filter_map(|l| l.split_once(' ').map(|(_, id)| id.to_owned())).collect();

    let store = gix::odb::loose::Store::at(repo.join("objects"), gix::hash::Kind::Sha1);
    let mut updates = String::new();
    let secs = t.duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    for (i, commit) in commits.iter().enumerate() {
        let name = format!("deploy/{i}");
        let mut target = commit.clone();
        let mut kind = "commit";
        for (signer, sign) in SIGNERS.iter().zip(signers.iter_mut()) {
            let mut object = format!(
                "object {target}\ntype {kind}\ntag {name}\ntagger {signer} <{signer}@example.org> {secs} +0000\n\nsigned by {signer}\n"
            )
            .into_bytes();
            let signature = sign(&object)?;
            object.extend_from_slice(&signature);
            target = store.write_buf(gix::objs::Kind::Tag, &object)?.to_string();
            kind = "tag";
        }
        updates.push_str(&format!("create refs/tags/{name} {target}\n"));
    }
    git(&repo, &["update-ref", "--stdin"], Some(updates.as_bytes()))?;
    git(&repo, &["pack-refs", "--all"], None)?;
    git(&repo, &["repack", "-adq"], None)?;
    std::fs::remove_file(repo.join("marks"))?;
    Ok(())
}

/// `fixture policy DIR N`: a policy history of `n` commits on `refs/signed/policy`.
fn policy_history(dir: &Path, n: usize) -> Result<()> {
    let repo = dir.join("repo.git");
    let tsk = Cert::from_bytes(&std::fs::read(dir.join("keys/bob.secret.asc"))?)?;
    let key = tsk.keys().subkeys().unencrypted_secret().next().ok_or("no signing subkey")?;
    let mut bob = key.key().clone().role_into_unspecified().into_keypair()?;
    let base =
        std::fs::read_to_string(dir.join("policy.toml"))?.replacen("version = 1\n", "version = 1\nadmins = 1\n", 1);
    let mut keys = String::new();
    for name in SIGNERS {
        let blob =
            git(&repo, &["hash-object", "-w", "--stdin"], Some(&std::fs::read(dir.join(format!("keys/{name}.asc")))?))?;
        keys.push_str(&format!("100644 blob {blob}\t{name}.asc\n"));
    }
    let keys_tree = git(&repo, &["mktree"], Some(keys.as_bytes()))?;
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs() - n as u64;
    let mut parent: Option<String> = None;
    let mut root = None;
    for i in 0..n {
        let text = format!("{base}# change {i}\n");
        let blob = git(&repo, &["hash-object", "-w", "--stdin"], Some(text.as_bytes()))?;
        let tree = git(
            &repo,
            &["mktree"],
            Some(format!("040000 tree {keys_tree}\tkeys\n100644 blob {blob}\tpolicy.toml\n").as_bytes()),
        )?;
        let who = format!("bob <bob@example.org> {} +0000", secs + i as u64);
        let parents = parent.as_ref().map(|p| format!("parent {p}\n")).unwrap_or_default();
        let head = format!("tree {tree}\n{parents}author {who}\ncommitter {who}\n");
        let payload = format!("{head}\npolicy change {i}\n");
        let sig = SignatureBuilder::new(SignatureType::Binary).sign_message(&mut bob, payload.as_bytes())?;
        let armored = String::from_utf8(armor(sig)?)?;
        let gpgsig = armored.trim_end().replace('\n', "\n ");
        let object = format!("{head}gpgsig {gpgsig}\n\npolicy change {i}\n");
        let id = git(&repo, &["hash-object", "-t", "commit", "-w", "--stdin"], Some(object.as_bytes()))?;
        root.get_or_insert_with(|| id.clone());
        parent = Some(id);
    }
    let tip = parent.ok_or("N must be at least 1")?;
    git(&repo, &["update-ref", "refs/signed/policy", &tip], None)?;
    std::fs::write(dir.join("root"), format!("{}\n", root.ok_or("no root")?))?;
    Ok(())
}

fn raw(dir: &Path) -> Result<()> {
    let policy = git_signed_policy::Policy::load(&dir.join("policy.toml"))?;
    let repo = git_signed_policy::Repo::open(&dir.join("repo.git"), &[])?;
    let mut work = Vec::new();
    for (name, id) in repo.tags()? {
        let chain = git_signed_policy::layer::walk(&repo.repo.objects, repo.hash(), &name, id)
            .map_err(|(_, e)| format!("{name}: {e}"))?;
        for layer in chain.layers {
            let (_, block) = layer.signature().ok_or("unsigned layer")?;
            let sig = git_signed_policy::signature::parse_single(block)?;
            let issuers = sig.get_issuers();
            let cert = policy.certs_for(&issuers).first().map(|k| k.cert.clone()).ok_or("unknown key")?;
            work.push((sig, cert, layer.payload().to_vec()));
        }
    }
    let p = StandardPolicy::new();
    let start = Instant::now();
    for (sig, cert, payload) in &work {
        let ka = cert
            .keys()
            .with_policy(&p, sig.signature_creation_time())
            .key_handles(sig.get_issuers())
            .next()
            .ok_or("no key")?;
        sig.verify_message(ka.key(), payload)?;
    }
    let elapsed = start.elapsed();
    println!(
        "{:.4} s for {} signatures ({:.1} µs each)",
        elapsed.as_secs_f64(),
        work.len(),
        elapsed.as_secs_f64() * 1e6 / work.len().max(1) as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1..).unwrap_or_default() {
        [cmd, dir, n] if cmd == "repo" => build(Path::new(dir), n.parse()?, false),
        [cmd, dir, n] if cmd == "ssh-repo" => build(Path::new(dir), n.parse()?, true),
        [cmd, dir, name] if cmd == "key" => key(Path::new(dir), name),
        [cmd, dir, n] if cmd == "policy" => policy_history(Path::new(dir), n.parse()?),
        [cmd, dir] if cmd == "raw" => raw(Path::new(dir)),
        _ => Err("usage: fixture repo DIR N | fixture ssh-repo DIR N | fixture key DIR NAME | fixture policy DIR N | fixture raw DIR".into()),
    }
}
