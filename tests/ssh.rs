//! SSH signatures (`gpg.format=ssh`) and FIDO security keys, end to end: keys made by the real
//! `ssh-keygen`, layers signed by the real `git tag -s`, the hook installed by install.sh, a
//! real push and a `signed::` clone. FIDO (`sk-*`) signatures need a token this machine does
//! not have, so they are built here byte by byte as PROTOCOL.sshsig and PROTOCOL.u2f describe,
//! signed with an in-process key, and `ssh-keygen -Y verify` checks every one of them: the
//! fixtures are signatures OpenSSH itself accepts. T34–T38 (docs/threats.md).

mod support;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256, Sha512};
use support::*;

/// A policy where alice signs with SSH, bob with OpenPGP, carol with a FIDO key (made by
/// [`SkKey`]), and the standard rules: two people everywhere, staging-ci too in production.
/// `extra` goes into alice's table; `rules` replace the standard ones when given.
fn ssh_policy(w: &World, alice: &str, rules: Option<&str>) -> PathBuf {
    w.write(
        "policy.toml",
        &format!(
            r#"version = 1
environments = ["ci", "staging", "production"]

[people.alice]
keys = ["keys/alice.pub"]
access = "deploy"
sponsor = "bob"
{alice}

[people.bob]
keys = ["keys/bob.asc"]
access = "admin"

[people.carol]
keys = ["keys/carol-sk.pub"]
access = "deploy"
sponsor = "bob"

[machines.staging-ci]
keys = ["keys/staging-ci.asc"]

{}"#,
            rules.unwrap_or(DEPLOY_RULES)
        ),
    )
}

/// A world with alice's SSH key (ed25519, by ssh-keygen) and carol's FIDO key in keys/, a
/// policy, and a repository.
fn setup(alice: &str, rules: Option<&str>) -> (World, PathBuf, PathBuf) {
    let w = World::new();
    let alice_key = ssh_keygen(&w, "alice", &["-t", "ed25519"]);
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    ssh_policy(&w, alice, rules);
    let repo = w.repo("work");
    (w, repo, alice_key)
}

/// A key made by `ssh-keygen -t …` (no passphrase); its public half is copied to
/// `keys/<name>.pub`. Returns the private key's path, as `user.signingKey` names it.
fn ssh_keygen(w: &World, name: &str, kind: &[&str]) -> PathBuf {
    let dir = w.path().join("ssh");
    std::fs::create_dir_all(&dir).expect("ssh dir");
    let key = dir.join(name);
    run_ok(w.cmd("ssh-keygen").args(["-q", "-N", "", "-C", &format!("{name}@laptop")]).args(kind).arg("-f").arg(&key));
    std::fs::copy(key.with_extension("pub"), w.path().join(format!("keys/{name}.pub"))).expect("copy public key");
    key
}

/// `git tag -s` with `gpg.format=ssh` and `user.signingKey=<key>`: a new layer of `tag` over
/// `target`, as an engineer who signs with SSH makes it.
fn sign_ssh(w: &World, repo: &Path, key: &Path, who: &str, tag: &str, target: &str) {
    sign_ssh_dated(w, repo, key, who, tag, target, None);
}

/// [`sign_ssh`] with the tagger date `date` (`@<seconds> +0000`), which the signer chooses.
fn sign_ssh_dated(w: &World, repo: &Path, key: &Path, who: &str, tag: &str, target: &str, date: Option<&str>) {
    let email = format!("{who}@example.org");
    let mut git = w.git(repo);
    if let Some(date) = date {
        git.env("GIT_COMMITTER_DATE", date);
    }
    run_ok(git.env("GIT_COMMITTER_NAME", who).env("GIT_COMMITTER_EMAIL", &email).args([
        "-c",
        "gpg.format=ssh",
        "-c",
        &format!("user.signingKey={}", key.display()),
        "tag",
        "-s",
        "-f",
        "-m",
        &format!("signed by {who}"),
        tag,
        target,
    ]));
}

/// `git signed verify <tag> --format json` in `env`: the exit code and the tag's verdict.
fn verify_json(w: &World, repo: &Path, tag: &str, env: &str) -> (i32, serde_json::Value) {
    let (code, out, err) = w.verify(repo, tag, &["--format", "json", "--environment", env]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v["result"]["tags"][0].clone())
}

/// What a tag layer's signature covers: the tag object without its signature. `kind` is the
/// type of `target` (`commit`, or `tag` for an outer layer).
fn tag_payload(target: &str, kind: &str, tag: &str, who: &str, time: SystemTime) -> Vec<u8> {
    let secs = time.duration_since(UNIX_EPOCH).expect("time").as_secs();
    format!(
        "object {target}\ntype {kind}\ntag {tag}\ntagger {who} <{who}@example.org> {secs} +0000\n\nsigned by {who}\n"
    )
    .into_bytes()
}

/// `ssh-keygen -Y verify` of `armored` over `payload` for `principal` holding `public`: what
/// git's own `verify-tag` would run with an allowed signers file.
fn openssh_accepts(w: &World, principal: &str, public: &str, namespace: &str, payload: &[u8], armored: &str) -> bool {
    let allowed = w.write("allowed_signers", &format!("{principal} {public}\n"));
    let sig = w.write("payload.sig", armored);
    let mut child = w
        .cmd("ssh-keygen")
        .args(["-Y", "verify", "-n", namespace, "-I", principal, "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh-keygen");
    use std::io::Write;
    // ssh-keygen may refuse the signature and exit before it reads the payload: then the write
    // fails with a closed pipe, and its exit status is the answer.
    let _ = child.stdin.take().expect("stdin").write_all(payload);
    child.wait().expect("ssh-keygen").success()
}

/// A FIDO security key's signing half, in-process: ed25519 with the application `ssh:`, as
/// `ssh-keygen -t ed25519-sk` makes on a token.
struct SkKey {
    secret: ed25519_dalek::SigningKey,
}

const APPLICATION: &str = "ssh:";

impl SkKey {
    fn carol() -> SkKey {
        SkKey { secret: ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]) }
    }

    fn key_data(&self) -> ssh_key::public::KeyData {
        let public = ssh_key::public::Ed25519PublicKey(self.secret.verifying_key().to_bytes());
        ssh_key::public::KeyData::SkEd25519(ssh_key::public::SkEd25519::new(public, APPLICATION.to_owned()))
    }

    /// The OpenSSH public key line (`sk-ssh-ed25519@openssh.com AAAA… carol@token`).
    fn public(&self) -> String {
        let mut key = ssh_key::PublicKey::from(self.key_data());
        key.set_comment("carol@token");
        key.to_openssh().expect("openssh public key") + "\n"
    }

    /// An armored SSHSIG over `message` for `namespace`, made as a token makes it: the token
    /// signs SHA-256(application) ‖ flags ‖ counter ‖ SHA-256(the SSHSIG signed data), and the
    /// signature carries the flags and the counter after the ed25519 signature.
    fn sign(&self, message: &[u8], namespace: &str, flags: u8, counter: u32) -> String {
        use ed25519_dalek::Signer;
        fn string(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&u32::try_from(bytes.len()).expect("len").to_be_bytes());
            out.extend_from_slice(bytes);
        }
        // PROTOCOL.sshsig: the data a signature covers.
        let mut signed = b"SSHSIG".to_vec();
        string(&mut signed, namespace.as_bytes());
        string(&mut signed, b"");
        string(&mut signed, b"sha512");
        string(&mut signed, &Sha512::digest(message));
        // PROTOCOL.u2f: what the authenticator signs for an sk-ssh-ed25519 key.
        let mut fido = Sha256::digest(APPLICATION.as_bytes()).to_vec();
        fido.push(flags);
        fido.extend_from_slice(&counter.to_be_bytes());
        fido.extend_from_slice(&Sha256::digest(&signed));
        let mut data = self.secret.sign(&fido).to_bytes().to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        let signature =
            ssh_key::Signature::new(ssh_key::Algorithm::SkEd25519, data).expect("an sk-ssh-ed25519 signature");
        ssh_key::SshSig::new(self.key_data(), namespace, ssh_key::HashAlg::Sha512, signature)
            .expect("sshsig")
            .to_pem(ssh_key::LineEnding::LF)
            .expect("armor")
    }
}

/// carol's FIDO layer with `flags` over `target` as `tag`, checked by `ssh-keygen -Y verify`
/// first; the ref points at it afterwards. Returns the layer's id.
fn sk_layer(w: &World, repo: &Path, tag: &str, target: &str, flags: u8) -> String {
    let key = SkKey::carol();
    let kind = w.git_ok(repo, &["cat-file", "-t", target]);
    let payload = tag_payload(target, &kind, tag, "carol", SystemTime::now());
    let armored = key.sign(&payload, "git", flags, 41);
    assert!(
        openssh_accepts(w, "carol", key.public().trim(), "git", &payload, &armored),
        "ssh-keygen -Y verify refuses the constructed sk signature with flags {flags:#04x}"
    );
    let id = w.mktag(repo, &[payload, armored.into_bytes()].concat());
    w.git_ok(repo, &["update-ref", &format!("refs/tags/{tag}"), &id]);
    id
}

#[test]
fn an_ssh_layer_counts_and_with_an_openpgp_layer_makes_two_people() {
    let (w, repo, alice) = setup("", None);
    sign_ssh(&w, &repo, &alice, "alice", "deploy/1", "HEAD");
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, tag) = verify_json(&w, &repo, "deploy/1", "ci");
    assert_eq!(code, 0, "{tag}");
    assert_eq!(tag["people"], serde_json::json!(["alice", "bob"]));
    let ssh = &tag["layers"][0];
    assert_eq!((&ssh["format"], &ssh["key_type"], &ssh["valid"]), (&"ssh".into(), &"ssh-ed25519".into(), &true.into()));
    assert!(ssh["key"].as_str().is_some_and(|k| k.starts_with("SHA256:")), "{ssh}");
    assert!(ssh["signed_at"].is_null() && ssh["touch"].is_null(), "an SSH signature has no time: {ssh}");
    assert_eq!(tag["layers"][1]["format"], "openpgp");
    // The same SSH layer alone is one person.
    sign_ssh(&w, &repo, &alice, "alice", "deploy/2", "HEAD");
    let (code, out, _) = w.verify(&repo, "deploy/2", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("needs 2 people, has 1 (alice)"), "{out}");
    assert!(out.contains("alice, signed (SSH: no time): ok"), "{out}");
}

/// One person may hold OpenPGP and SSH keys side by side; two layers of one person, one of
/// each format, are still one person.
#[test]
fn one_person_with_an_openpgp_and_an_ssh_key_counts_once() {
    let (w, repo, alice) = setup("", None);
    let text = std::fs::read_to_string(w.path().join("policy.toml")).expect("policy");
    w.write(
        "policy.toml",
        &text.replace("keys = [\"keys/alice.pub\"]", "keys = [\"keys/alice.asc\", \"keys/alice.pub\"]"),
    );
    sign_ssh(&w, &repo, &alice, "alice", "deploy/1", "HEAD");
    w.sign(&repo, "alice", "deploy/1", "deploy/1");
    let (code, tag) = verify_json(&w, &repo, "deploy/1", "ci");
    assert_eq!(code, 1, "{tag}");
    assert_eq!(tag["people"], serde_json::json!(["alice"]));
    assert!(tag["layers"].as_array().is_some_and(|l| l.iter().all(|l| l["valid"] == true)), "{tag}");
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    assert_eq!(verify_json(&w, &repo, "deploy/1", "ci").0, 0);
}

#[test]
fn rsa_and_ecdsa_ssh_keys_sign_too() {
    let w = World::new();
    let rsa = ssh_keygen(&w, "alice", &["-t", "rsa", "-b", "3072"]);
    let ecdsa = ssh_keygen(&w, "carol", &["-t", "ecdsa", "-b", "256"]);
    w.write("keys/carol-sk.pub", &std::fs::read_to_string(w.path().join("keys/carol.pub")).expect("carol.pub"));
    ssh_policy(&w, "", None);
    let repo = w.repo("work");
    sign_ssh(&w, &repo, &rsa, "alice", "deploy/1", "HEAD");
    sign_ssh(&w, &repo, &ecdsa, "carol", "deploy/1", "deploy/1");
    let (code, tag) = verify_json(&w, &repo, "deploy/1", "ci");
    assert_eq!(code, 0, "{tag}");
    assert_eq!(tag["layers"][0]["key_type"], "ssh-rsa");
    assert_eq!(tag["layers"][1]["key_type"], "ecdsa-sha2-nistp256");
}

#[test]
fn an_ssh_key_not_in_the_policy_and_a_tampered_payload_fail() {
    let (w, repo, alice) = setup("", None);
    let mallory = ssh_keygen(&w, "mallory", &["-t", "ed25519"]);
    sign_ssh(&w, &repo, &mallory, "mallory", "deploy/1", "HEAD");
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("is signed by SSH key SHA256:") && out.contains("(ssh-ed25519), which is not in the policy"),
        "{out}"
    );

    // alice's real layer with one byte of its message changed (written without git's checks).
    sign_ssh(&w, &repo, &alice, "alice", "deploy/2", "HEAD");
    let id = w.git_ok(&repo, &["rev-parse", "deploy/2"]);
    let bytes = String::from_utf8(w.cat(&repo, &id)).expect("text").replace("signed by alice", "signed by alicf");
    let forged = w.hash_literally(&repo, "tag", bytes.as_bytes());
    w.force_tag_ref(&repo, "deploy/2", &forged);
    w.sign(&repo, "bob", "deploy/2", "deploy/2");
    let (code, out, _) = w.verify(&repo, "deploy/2", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("alice's signature does not match the tag's bytes"), "{out}");
}

#[test]
fn unsupported_ssh_key_types_are_refused_by_name() {
    let w = World::new();
    let p384 = ssh_keygen(&w, "alice", &["-t", "ecdsa", "-b", "384"]);
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    ssh_policy(&w, "", None);
    let repo = w.repo("work");
    let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keys/alice.pub line 1: the key type ecdsa-sha2-nistp384 is not supported"), "{err}");

    // A signature made with that key, its key not listed: refused for its algorithm.
    ssh_keygen(&w, "alice-new", &["-t", "ed25519"]);
    std::fs::copy(w.path().join("keys/alice-new.pub"), w.path().join("keys/alice.pub")).expect("copy");
    sign_ssh(&w, &repo, &p384, "alice", "deploy/1", "HEAD");
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("made with \"ecdsa-sha2-nistp384\", which is not accepted"), "{out}");
}

/// T34: a signature OpenSSH made for another namespace (`ssh-keygen -Y sign -n file`, as for
/// signing a release file) over exactly a tag's payload, put into a tag: not a tag signature.
#[test]
fn t34_a_signature_for_another_namespace_is_not_a_tag_signature() {
    let (w, repo, alice) = setup("", None);
    let target = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let payload = tag_payload(&target, "commit", "deploy/1", "alice", SystemTime::now());
    let file = w.path().join("payload");
    std::fs::write(&file, &payload).expect("payload");
    run_ok(w.cmd("ssh-keygen").args(["-q", "-Y", "sign", "-n", "file", "-f"]).arg(&alice).arg(&file));
    let armored = std::fs::read(file.with_extension("sig")).expect("signature");
    let public = std::fs::read_to_string(w.path().join("keys/alice.pub")).expect("alice.pub");
    let text = String::from_utf8(armored.clone()).expect("armor");
    assert!(openssh_accepts(&w, "alice", public.trim(), "file", &payload, &text), "a real file signature");
    let id = w.mktag(&repo, &[payload, armored].concat());
    w.git_ok(&repo, &["update-ref", "refs/tags/deploy/1", &id]);
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("made for the namespace \"file\", not \"git\""), "{out}");
    assert!(out.contains("needs 2 people, has 1 (bob)"), "{out}");
}

/// T35: FIDO flags decide, per rule: `presence = "touch"` needs the touch bit, `"pin"` the
/// touch and the user-verification bits; a signature whose flags deny presence counts only
/// where no presence is required.
#[test]
fn t35_a_security_key_signature_without_a_touch_or_pin_fails_the_rule_that_requires_it() {
    let rules = r#"[[rule]]
tags = ["deploy/*"]
people = 2

[[rule]]
tags = ["deploy/*"]
environments = ["staging"]
people = 2
presence = "touch"

[[rule]]
tags = ["deploy/*"]
environments = ["production"]
people = 2
presence = "pin"
"#;
    let w = World::new();
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    let second = SkKey { secret: ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]) };
    w.write("keys/alice.pub", &second.public());
    ssh_policy(&w, "", Some(rules));
    let repo = w.repo("work");
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    for (tag, flags) in [("deploy/none", 0x00), ("deploy/touch", 0x01), ("deploy/pin", 0x05), ("deploy/uv", 0x04)] {
        // alice's key touched and PIN-verified; carol's with `flags`.
        let payload = tag_payload(&head, "commit", tag, "alice", SystemTime::now());
        let armored = second.sign(&payload, "git", 0x05, 3);
        let id = w.mktag(&repo, &[payload, armored.into_bytes()].concat());
        sk_layer(&w, &repo, tag, &id, flags);
    }
    let accepted = |tag: &str, env: &str| verify_json(&w, &repo, tag, env).0 == 0;
    assert!(accepted("deploy/none", "ci") && accepted("deploy/touch", "ci"), "no presence needed in ci");
    assert!(!accepted("deploy/none", "staging") && accepted("deploy/touch", "staging"));
    assert!(!accepted("deploy/uv", "staging"), "a PIN without a touch is no touch");
    assert!(!accepted("deploy/touch", "production") && accepted("deploy/pin", "production"));
    let (_, out, _) = w.verify(&repo, "deploy/touch", &["--environment", "production"]);
    assert!(
        out.contains("carol's signature was made with a touch but without a PIN; this rule requires `pin`"),
        "{out}"
    );
    let (_, none) = verify_json(&w, &repo, "deploy/none", "staging");
    let layer = &none["layers"][1];
    assert_eq!(layer["key_type"], "sk-ssh-ed25519@openssh.com");
    assert_eq!(
        layer["touch"],
        serde_json::json!({"presence": false, "verification": false, "flags": 0, "counter": 41})
    );
    let problems = none["problems"].to_string();
    assert!(problems.contains("carol's signature was made without a touch on a security key"), "{problems}");
}

#[test]
fn hardware_true_accepts_only_security_keys() {
    let (w, repo, _) = setup("hardware = true", None);
    let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("alice has hardware = true, but key SHA256:") && err.contains("is an ssh-ed25519 key"),
        "{err}"
    );
    // carol's security key passes the same requirement.
    let text = std::fs::read_to_string(w.path().join("policy.toml")).expect("policy");
    w.write(
        "policy.toml",
        &text.replace("hardware = true\n", "").replace(
            "keys = [\"keys/carol-sk.pub\"]\naccess = \"deploy\"",
            "keys = [\"keys/carol-sk.pub\"]\naccess = \"deploy\"\nhardware = true",
        ),
    );
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    sk_layer(&w, &repo, "deploy/1", &head, 0x01);
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, out, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn presence_hardware_and_inactivity_are_checked_when_the_policy_is_read() {
    let w = World::new();
    ssh_keygen(&w, "alice", &["-t", "ed25519"]);
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    let repo = w.repo("work");
    let rule = |extra: &str| format!("[[rule]]\ntags = [\"deploy/*\"]\n{extra}\n");
    for (alice, rules, expected) in [
        ("", rule("people = 2\npresence = \"tap\""), "rule 1: unknown presence \"tap\"; use \"touch\""),
        ("", rule("machines = [\"staging-ci\"]\npresence = \"pin\""), "presence applies to people's signatures"),
        ("hardware = \"yes\"", DEPLOY_RULES.to_owned(), "policy.toml:"),
    ] {
        ssh_policy(&w, alice, Some(&rules));
        let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
    // inactivity needs signature times, which SSH signatures do not carry.
    let text = std::fs::read_to_string(ssh_policy(&w, "", None)).expect("policy");
    w.write("policy.toml", &text.replace("version = 1\n", "version = 1\ninactivity = \"6w\"\n"));
    let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SSH signatures carry no time; alice (line"), "{err}");
}

/// T36: an SSH signature carries no time, so the tagger line (which the signer writes) is
/// never taken for one: alice, whose access ended yesterday, signs today and dates the tag
/// before the end; the verifier judges the layer now and refuses it. At push, a tag dated
/// before `max_age` is refused, and its recent date proves nothing.
#[test]
fn t36_a_back_dated_tagger_line_does_not_dodge_expires_or_max_age() {
    let yesterday = today_utc().yesterday().expect("yesterday");
    let (w, repo, alice) = setup(&format!("expires = {yesterday}"), None);
    let back = SystemTime::now() - 30 * DAY;
    let date = format!("@{} +0000", back.duration_since(UNIX_EPOCH).expect("time").as_secs());
    sign_ssh_dated(&w, &repo, &alice, "alice", "deploy/1", "HEAD", Some(&date));
    w.sign(&repo, "bob", "deploy/1", "deploy/1");
    let (code, out, _) = w.verify(&repo, "deploy/1", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("alice's access expired on {yesterday}")), "{out}");

    // At the mirror: alice's access is fine, but the tag says it was made 30 days ago.
    let w = World::new();
    let alice = ssh_keygen(&w, "alice", &["-t", "ed25519"]);
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    ssh_policy(&w, "", None);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    sign_ssh_dated(&w, &work, &alice, "alice", "deploy/1", "HEAD", Some(&date));
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1"]);
    assert!(!ok, "{err}");
    assert!(err.contains("alice's SSH-signed layer is dated") && err.contains("sign again"), "{err}");
}

/// The whole path with an SSH signer: the hook installed by install.sh accepts the push, and a
/// production `signed::` clone lists the tag once staging-ci has signed too.
#[test]
fn ssh_layers_pass_the_hook_and_a_signed_clone() {
    let w = World::new();
    let alice = ssh_keygen(&w, "alice", &["-t", "ed25519"]);
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    ssh_policy(&w, "", None);
    let mirror = w.mirror("mirror.git");
    let work = w.clone_of(&mirror, "work");
    sign_ssh(&w, &work, &alice, "alice", "deploy/1", "HEAD");
    w.sign(&work, "bob", "deploy/1", "deploy/1");
    w.sign(&work, "staging-ci", "deploy/1", "deploy/1");
    let (ok, err) = w.push(&work, &["origin", "refs/tags/deploy/1"]);
    assert!(ok, "{err}");
    assert!(err.contains("deploy/1: ok, signed by alice, bob"), "{err}");
    run_ok(
        w.git(w.path())
            .env("GIT_SIGNED_POLICY", w.path().join("policy.toml"))
            .env("GIT_SIGNED_ENVIRONMENT", "production")
            .args(["clone", "-q"])
            .arg(format!("signed::{}", mirror.display()))
            .arg("prod"),
    );
    assert_eq!(w.git_ok(&w.path().join("prod"), &["tag", "-l"]), "deploy/1");
}

/// A policy where alice holds `alice` and bob holds `bob` (key file texts), one rule of two
/// people; returns `git signed verify`'s exit code and stderr for a tag that does not exist
/// (enough to read the policy).
fn two_people(w: &World, alice: &str, bob: &str) -> (i32, String) {
    w.write("keys/a.key", alice);
    w.write("keys/b.key", bob);
    w.write(
        "policy.toml",
        "version = 1\n[people.alice]\nkeys = [\"keys/a.key\"]\naccess = \"admin\"\n\n[people.bob]\nkeys = [\"keys/b.key\"]\naccess = \"admin\"\n\n[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\n",
    );
    let repo = w.path().join("work");
    if !repo.exists() {
        w.repo("work");
    }
    let (code, _, err) = w.verify(&repo, "deploy/1", &[]);
    (code, err)
}

/// One private key is one signer, however its public key is written: as OpenSSH writes it
/// and with its EC point compressed, as a plain ed25519 key and dressed as a security key, as
/// an OpenPGP certificate and as `gpg --export-ssh-key` exports it. Two people listing the
/// two forms would let one key holder sign as both.
#[test]
fn t37_one_key_written_two_ways_belongs_to_one_signer() {
    let w = World::new();
    ssh_keygen(&w, "ec", &["-t", "ecdsa", "-b", "256"]);
    let text = std::fs::read_to_string(w.path().join("keys/ec.pub")).expect("ec.pub");
    let public = ssh_key::PublicKey::from_openssh(text.trim()).expect("key");
    let ssh_key::public::KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::NistP256(point)) = public.key_data() else {
        panic!("a P-256 key")
    };
    let compressed = ssh_key::public::KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::NistP256(point.compress()));
    let compressed = ssh_key::PublicKey::from(compressed).to_openssh().expect("openssh") + "\n";
    let (code, err) = two_people(&w, &text, &compressed);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("EC point is not written as OpenSSH writes it"), "{err}");

    let ssh_key::public::KeyData::SkEd25519(sk) = SkKey::carol().key_data() else { panic!("an sk key") };
    let plain = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(*sk.public_key())).to_openssh().expect("o");
    let (code, err) = two_people(&w, &SkKey::carol().public(), &(plain + "\n"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bob's key SHA256:") && err.contains("is the same key as alice's key SHA256:"), "{err}");

    let alice = keys().get("alice");
    let exported = run_ok(w.cmd("gpg").args(["--batch", "--export-ssh-key", &format!("{}!", alice.fingerprint)]));
    let (code, err) = two_people(&w, &alice.public, &String::from_utf8_lossy(&exported.stdout));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("is the same key as alice's key {}", alice.fingerprint)), "{err}");
}

/// A signature's encoding is OpenSSH's own: a valid SSHSIG re-encoded with a longer public-key
/// field (padding the key data) still verifies under a lax parser, and so would let anyone
/// mint another tag object carrying alice's signature. It is refused, as `ssh-keygen -Y
/// verify` refuses it.
#[test]
fn t38_a_signature_encoded_another_way_is_refused() {
    use base64::Engine as _;
    let (w, repo, alice) = setup("", None);
    sign_ssh(&w, &repo, &alice, "alice", "deploy/1", "HEAD");
    let id = w.git_ok(&repo, &["rev-parse", "deploy/1"]);
    let bytes = w.cat(&repo, &id);
    let at = bytes.windows(10).position(|w| w == b"-----BEGIN").expect("armor");
    let (payload, armored) = bytes.split_at(at);
    let body: String = String::from_utf8_lossy(armored).lines().filter(|l| !l.starts_with("-----")).collect();
    let mut blob = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
    // "SSHSIG", version (4 bytes), then the public key as a string: claim it is 7 bytes longer.
    blob[13] = blob[13].wrapping_add(7);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
    let lines: Vec<&str> = encoded.as_bytes().chunks(70).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    let padded = format!("-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n", lines.join("\n"));
    let public = std::fs::read_to_string(w.path().join("keys/alice.pub")).expect("alice.pub");
    assert!(!openssh_accepts(&w, "alice", public.trim(), "git", payload, &padded), "OpenSSH refuses it");
    // The layer in place of `tag`'s, with bob's layer over it: refused, saying `why`.
    let refused = |tag: &str, layer: &[u8], why: &str| {
        let forged = w.mktag(&repo, layer);
        w.force_tag_ref(&repo, tag, &forged);
        w.sign(&repo, "bob", tag, tag);
        let (code, out, _) = w.verify(&repo, tag, &[]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(why), "{out}");
    };
    refused("deploy/1", &[payload, padded.as_bytes()].concat(), "not encoded as OpenSSH encodes it");

    // carol's security-key signature relabelled as an RSA one: the algorithm must be the key's.
    let head = w.git_ok(&repo, &["rev-parse", "HEAD"]);
    let payload = tag_payload(&head, "commit", "deploy/2", "carol", SystemTime::now());
    let good = ssh_key::SshSig::from_pem(SkKey::carol().sign(&payload, "git", 0x05, 41)).expect("sshsig");
    let rsa = ssh_key::Algorithm::Rsa { hash: Some(ssh_key::HashAlg::Sha256) };
    let relabelled = ssh_key::Signature::new(rsa, good.signature_bytes().to_vec()).expect("signature");
    let relabelled = ssh_key::SshSig::new(SkKey::carol().key_data(), "git", good.hash_alg(), relabelled)
        .and_then(|s| s.to_pem(ssh_key::LineEnding::LF))
        .expect("armor");
    refused(
        "deploy/2",
        &[payload, relabelled.into_bytes()].concat(),
        "made with \"rsa-sha2-256\", which is not accepted",
    );
}

/// What `git signed policy approve` shows before an admin signs: a change that drops a rule's
/// `presence` or a person's `hardware` says so, even beside other changes.
#[test]
fn a_change_that_weakens_presence_or_hardware_says_so() {
    let w = World::new();
    w.write("keys/carol-sk.pub", &SkKey::carol().public());
    ssh_keygen(&w, "alice", &["-t", "ed25519"]);
    let rules = "[[rule]]\ntags = [\"deploy/*\"]\npeople = 2\npresence = \"pin\"\n";
    let load = |text: &str| git_signed_policy::Policy::load(&w.write("policy.toml", text)).expect("policy");
    let text = std::fs::read_to_string(ssh_policy(&w, "", Some(rules))).expect("policy");
    let carol = "keys = [\"keys/carol-sk.pub\"]\n";
    let old = load(&text.replace(carol, &format!("{carol}hardware = true\n")));
    let dave =
        "[people.dave]\nkeys = [\"keys/carol.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n\n[machines.staging-ci]";
    let new = load(&text.replace("presence = \"pin\"\n", "").replace("[machines.staging-ci]", dave));
    let changes = git_signed_policy::chain::changes(&old, &new);
    assert!(changes.iter().any(|c| c == "rule 1: presence pin -> none"), "{changes:?}");
    assert!(changes.iter().any(|c| c == "no longer requires security keys for carol (hardware)"), "{changes:?}");
    assert!(changes.iter().any(|c| c.starts_with("adds dave")), "{changes:?}");
    assert!(git_signed_policy::chain::granted(&old, &new).contains(&"carol".to_owned()), "carol's sponsor must sign");
}
