//! What pipelines and people can rely on from every `git signed` command:
//! - with `--format json`, exactly one JSON document on stdout, on success and on failure,
//!   valid against `docs/git-signed.schema.json`, whose `exit_code` is the process's;
//! - every failure names what went wrong and the next command to run, with the exit code
//!   README's exit-code table gives for its kind, and no `fatal:` or `hint:` from git before
//!   our own message.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::*;

/// The schema, compiled once.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/git-signed.schema.json");
        let text = std::fs::read_to_string(&path).expect("docs/git-signed.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("the schema is not a valid schema: {e}"))
    })
}

/// The exit code README's table gives to each `error.kind` (a kind may appear for two codes:
/// `policy` is `policy check`'s "no" and every other command's "no answer").
fn documented_codes() -> BTreeMap<String, Vec<i32>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let mut kinds: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let table =
        readme.lines().skip_while(|l| !l.starts_with("| exit code |")).skip(2).take_while(|l| l.starts_with('|'));
    for row in table {
        // | code | what it means | the `error.kind`s it is given for |
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let code: i32 = cells.get(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("README row {row:?}"));
        for kind in cells.get(3).copied().unwrap_or_default().split('`').skip(1).step_by(2) {
            kinds.entry(kind.to_owned()).or_default().push(code);
        }
    }
    assert!(!kinds.is_empty(), "README has an exit-code table starting with `| exit code |`");
    kinds
}

/// The JSON document `out` printed: exactly one, valid against the schema, agreeing with the
/// process's exit code, which must be `code`.
fn document(out: &Output, code: i32, what: &str) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: exit code\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}):\n{stdout}"));
    let errors: Vec<String> = schema().iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: not valid against the schema:\n{}\n{v:#}", errors.join("\n"));
    assert_eq!(v["exit_code"], code, "{what}: exit_code in JSON");
    if let Some(kind) = v["error"]["kind"].as_str() {
        let documented = documented_codes();
        let codes = documented.get(kind).unwrap_or_else(|| panic!("{what}: README's table lacks kind {kind}"));
        assert!(codes.contains(&code), "{what}: README gives kind {kind} codes {codes:?}, not {code}");
    }
    v
}

/// A team (alice, bob, the staging pipeline) around a mirror with the hook, and a directory
/// that is no repository.
struct Scene {
    t: Team,
    alice: PathBuf,
    bob: PathBuf,
    staging: PathBuf,
    nowhere: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let t = Team::new();
        let (alice, bob, staging) = (t.member("alice"), t.member("bob"), t.member("staging-ci"));
        let nowhere = t.w.path().join("nowhere");
        std::fs::create_dir(&nowhere).expect("mkdir");
        Scene { t, alice, bob, staging, nowhere }
    }

    fn policy(&self) -> String {
        self.t.w.path().join("policy.toml").to_str().expect("utf8").to_owned()
    }

    /// A repository whose `refs/signed/policy` is one commit signed by bob (its root, pinned
    /// by `signed.root`): a policy kept in the repository.
    fn policy_history(&self) -> PathBuf {
        let w = &self.t.w;
        run_ok(w.git(w.path()).args(["init", "-q", "history"]));
        let dir = w.path().join("history");
        std::fs::create_dir(dir.join("keys")).expect("keys");
        std::fs::copy(w.path().join("keys/bob.asc"), dir.join("keys/bob.asc")).expect("key");
        let policy = "version = 1\nadmins = 1\n\n[people.bob]\nkeys = [\"keys/bob.asc\"]\naccess = \"admin\"\n\n\
                      [[rule]]\ntags = [\"deploy/*\"]\npeople = 1\n";
        std::fs::write(dir.join("policy.toml"), policy).expect("policy");
        w.git_ok(&dir, &["add", "policy.toml", "keys"]);
        let bob = keys().get("bob");
        let key = format!("user.signingKey={}", bob.fingerprint);
        w.git_ok(&dir, &["-c", &key, "commit", "-q", "-S", "-m", "found the policy"]);
        let root = w.git_ok(&dir, &["rev-parse", "HEAD"]);
        w.git_ok(&dir, &["update-ref", "refs/signed/policy", &root]);
        w.git_ok(&dir, &["config", "signed.root", &root]);
        dir
    }

    fn json(&self, dir: &Path, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let what = format!("git signed {}", all.join(" "));
        let out = self.t.signed(dir, &all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for chatter in ["hint:", "Updated tag", "forced update"] {
            assert!(!stderr.contains(chatter), "{what}: git's {chatter:?} leaks:\n{stderr}");
        }
        document(&out, code, &what)
    }
}

#[test]
fn every_command_prints_one_schema_valid_json_document_on_success_and_on_failure() {
    let s = Scene::new();
    let policy = s.policy();
    let (alice, bob, staging, nowhere) = (&s.alice, &s.bob, &s.staging, &s.nowhere);

    // Success, every command.
    let v = s.json(alice, &["propose", "deploy/1"], 0);
    assert_eq!(v["result"]["signer"], "alice");
    let v = s.json(bob, &["approve", "deploy/1", "--yes"], 0);
    assert_eq!(v["result"]["signers"], serde_json::json!(["alice", "bob"]));
    let v = s.json(staging, &["promote", "deploy/1", "--initial"], 0);
    assert_eq!(v["result"]["initial"], true);
    s.t.w.git_ok(alice, &["fetch", "-q", "origin", "+refs/tags/*:refs/tags/*"]);
    let v = s.json(alice, &["verify", "deploy/1", "-e", "production", "--initial"], 0);
    assert_eq!(v["result"]["summary"], serde_json::json!({"tags": 1, "verified": 1, "rejected": 0}));
    s.json(alice, &["verify", "--all", "-e", "production"], 0);
    s.json(alice, &["audit"], 0);
    let v = s.json(nowhere, &["policy", "check", "--policy", &policy], 0);
    assert_eq!(v["result"]["protects"], serde_json::json!(["deploy/*"]));

    // The policy kept in the repository: its history, and the policy in force.
    let history = s.policy_history();
    let v = s.json(&history, &["policy", "log"], 0);
    assert_eq!(v["result"]["entries"][0]["step"], "founded");
    let v = s.json(&history, &["policy", "show"], 0);
    assert_eq!(v["result"]["policy"]["protects"], serde_json::json!(["deploy/*"]));

    // The answer is no: the result says why.
    s.t.w.sign_chain(alice, "deploy/2", &["alice"]);
    let v = s.json(alice, &["verify", "--all"], 1);
    assert_eq!(v["result"]["summary"], serde_json::json!({"tags": 2, "verified": 1, "rejected": 1}));
    let v = s.json(alice, &["verify", "deploy/9"], 1);
    assert_eq!(v["result"]["tags"][0]["object"], serde_json::Value::Null);
    let lapsed = s.t.w.write("lapsed.toml", &format!("inactivity = \"1s\"\n{}{DEPLOY_RULES}", standard_people()));
    let v = s.json(alice, &["audit", "--policy", lapsed.to_str().expect("utf8")], 1);
    assert!(v["result"]["findings"].as_u64().is_some_and(|n| n > 0), "{v:#}");
    let broken =
        s.t.w.write("broken.toml", &format!("{}[[rule]]\ntags = [\"deploy/*\"]\npeople = 0\n", standard_people()));
    let broken = broken.to_str().expect("utf8");
    let v = s.json(nowhere, &["policy", "check", "--policy", broken], 1);
    assert_eq!(v["error"]["kind"], "policy");
    assert!(v["error"]["location"]["line"].as_u64().is_some_and(|l| l > 0), "{v:#}");

    // Refusals.
    assert_eq!(s.json(alice, &["propose", "release/1"], 1)["error"]["kind"], "refused");
    s.json(alice, &["propose", "deploy/3"], 0);
    assert_eq!(s.json(alice, &["approve", "deploy/3", "--yes"], 1)["error"]["kind"], "refused");
    assert_eq!(s.json(staging, &["promote", "deploy/9", "--initial"], 1)["error"]["kind"], "refused");

    // No answer.
    for args in [
        vec!["propose", "deploy/4"],
        vec!["approve", "deploy/4", "--yes"],
        vec!["promote", "deploy/4", "--initial"],
        vec!["verify", "deploy/1"],
        vec!["audit"],
    ] {
        let mut with_policy = args.clone();
        with_policy.extend(["--policy", &policy]);
        assert_eq!(s.json(nowhere, &with_policy, 2)["error"]["kind"], "not_a_repository", "{args:?}");
    }
    assert_eq!(s.json(nowhere, &["policy", "check"], 2)["error"]["kind"], "no_policy");
    assert_eq!(s.json(alice, &["policy", "log"], 2)["error"]["kind"], "no_policy", "no signed.root");
    // A commit by someone who is not an admin: the history's answer is no, naming it.
    let commit = s.t.w.git_ok(&history, &["commit-tree", "-p", "HEAD", "-m", "unsigned", "HEAD^{tree}"]);
    s.t.w.git_ok(&history, &["update-ref", "refs/signed/policy", &commit]);
    let v = s.json(&history, &["policy", "log"], 1);
    assert_eq!(v["result"]["refused"]["commit"], commit);
    assert_eq!(s.json(&history, &["policy", "init"], 1)["error"]["kind"], "refused", "it exists");
    s.t.w.git_ok(&history, &["update-ref", "-d", "refs/signed/policy"]);
    s.t.w.git_ok(&history, &["config", "user.signingKey", &keys().get("bob").fingerprint]);
    let v = s.json(&history, &["policy", "init"], 0);
    assert_eq!(v["result"]["step"], "founded");
    assert_eq!(s.json(alice, &["policy", "approve", "--yes"], 1)["error"]["kind"], "refused", "nothing waiting");
    assert_eq!(s.json(alice, &["verify", "deploy/1", "--policy", broken], 2)["error"]["kind"], "policy");
    assert_eq!(s.json(alice, &["verify", "deploy/1", "-e", "prod"], 2)["error"]["kind"], "unknown_environment");
    assert_eq!(s.json(alice, &["propose", "deploy/4", "--remote", "nowhere"], 2)["error"]["kind"], "git");
    let v = s.json(staging, &["promote", "deploy/1"], 2);
    assert_eq!((&v["command"], &v["error"]["kind"]), (&"promote".into(), &"usage".into()));
    assert_eq!(s.json(alice, &["verify", "--frobnicate"], 2)["error"]["kind"], "usage");
}

/// One error case: its name, where it runs, the arguments, the exit code, the JSON
/// `error.kind` ("" when the answer is a result), and what it must say: the problem and the
/// next command.
type Case<'a> = (&'a str, &'a Path, Vec<String>, i32, &'a str, &'a [&'a str]);

/// The words of `line`, then `--policy <policy>` when one is given (paths may hold spaces).
fn args(line: &str, policy: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = line.split(' ').map(ToOwned::to_owned).collect();
    if let Some(p) = policy {
        args.extend(["--policy".to_owned(), p.to_str().expect("utf8").to_owned()]);
    }
    args
}

#[test]
fn every_error_names_the_problem_and_the_next_command_with_the_documented_exit_code() {
    let s = Scene::new();
    let policy = s.policy();
    let (alice, bob, nowhere) = (&s.alice, &s.bob, &s.nowhere);
    let fresh = s.t.w.repo("fresh"); // a repository with no signed.policy
    assert!(s.t.signed(alice, &["propose", "deploy/1"]).status.success());
    assert!(s.t.signed(bob, &["approve", "deploy/1", "--yes"]).status.success());

    // alice skips the workflow: the mirror rejects her one-person tag, which stays behind.
    s.t.w.commit(alice, "alice's change");
    s.t.w.sign_chain(alice, "deploy/5", &["alice"]);
    let (pushed, hook) = s.t.w.push(alice, &["origin", "deploy/5"]);
    assert!(!pushed, "one person's tag is rejected");
    for next in ["needs 2 people", "git signed propose deploy/5", "git signed approve deploy/5", "git tag -d deploy/5"]
    {
        assert!(hook.contains(next), "the hook's rejection says {next:?}:\n{hook}");
    }
    // mallory's key is a person's in her own copy of the policy, not in the mirror's.
    let mallory = s.t.member("mallory");
    let own = s.t.w.write(
        "mallory-policy.toml",
        &format!(
            "{}[people.mallory]\nkeys = [\"keys/mallory.asc\"]\naccess = \"deploy\"\nsponsor = \"bob\"\n\n{DEPLOY_RULES}",
            standard_people()
        ),
    );
    s.t.signed(alice, &["propose", "deploy/6"]);

    let policy = Path::new(&policy);
    let staging = s.staging.as_path();
    let outside: &[&str] = &["not inside a git repository", "git clone"];
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("outside a repository", nowhere, args("verify deploy/1", Some(policy)), 2, "not_a_repository", outside),
        ("outside a repository", nowhere, args("propose deploy/7", Some(policy)), 2, "not_a_repository", outside),
        ("outside a repository", nowhere, args("approve deploy/7 --yes", Some(policy)), 2, "not_a_repository", outside),
        ("outside a repository", nowhere, args("promote deploy/7 --initial", Some(policy)), 2, "not_a_repository", outside),
        ("outside a repository", nowhere, args("audit", Some(policy)), 2, "not_a_repository", outside),
        ("no policy", &fresh, args("verify deploy/1", None), 2, "no_policy", &["no policy", "git config signed.policy"]),
        ("no policy", &fresh, args("propose deploy/7", None), 2, "no_policy", &["no policy", "git config signed.policy"]),
        ("no policy", nowhere, args("policy check", None), 2, "no_policy", &["no policy", "--policy FILE"]),
        ("unknown tag", alice, args("verify deploy/99", None), 1, "", &["no tag refs/tags/deploy/99", "git fetch"]),
        ("unknown tag", bob, args("approve deploy/99 --yes", None), 1, "refused",
            &["no proposal for deploy/99", "git signed propose deploy/99"]),
        ("unknown tag", staging, args("promote deploy/99 --initial", None), 1, "refused",
            &["deploy/99 is not on origin", "git signed approve deploy/99"]),
        ("unknown tag", staging, args("promote deploy/1 --from deploy/0", None), 1, "refused",
            &["deploy/0 is not on origin", "git signed promote deploy/1 --initial"]),
        ("rejected push", alice, args("propose deploy/5", None), 1, "refused",
            &["a local tag deploy/5 exists", "git tag -d deploy/5", "git signed propose deploy/5"]),
        ("rejected push", &mallory, args("propose deploy/8", Some(&own)), 1, "push_rejected",
            &["origin rejected the proposal of deploy/8", "not in the policy", "git signed propose deploy/8"]),
        ("self-approval", alice, args("approve deploy/6 --yes", None), 1, "refused",
            &["alice proposed deploy/6 and cannot also approve it", "Another reviewer runs: git signed approve deploy/6"]),
        ("unknown environment", alice, args("verify deploy/1 -e Production", None), 2, "unknown_environment",
            &["environment \"Production\" is not declared", "did you mean \"production\"", "--environment"]),
        ("unknown environment", staging, args("promote deploy/1 --initial --environment stagin", None), 2, "unknown_environment",
            &["environment \"stagin\" is not declared", "did you mean \"staging\"", "--environment"]),
        ("usage", staging, args("promote deploy/1", None), 2, "usage", &["--from", "--initial"]),
    ];
    let documented = documented_codes();
    for (name, dir, args, code, kind, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = format!("{name}: git signed {}", args.join(" "));
        let out = s.t.signed(dir, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{what}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        let said = format!("{stdout}{stderr}");
        for text in *says {
            assert!(said.contains(text), "{what}: does not say {text:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        let ours = stderr.find("git-signed:").or_else(|| stderr.find("error:")).unwrap_or(stderr.len());
        assert!(!stderr[..ours].contains("fatal:"), "{what}: git's fatal: before our message:\n{stderr}");
        assert!(!stderr.contains("hint:"), "{what}: a git hint:\n{stderr}");
        assert!(!said.contains('\u{1b}'), "{what}: escape codes into a pipe:\n{said}");

        let mut json = args.clone();
        json.extend(["--format", "json"]);
        let v = document(&s.t.signed(dir, &json), *code, &what);
        assert_eq!(v["error"]["kind"].as_str().unwrap_or_default(), *kind, "{what}: {v:#}");
        if !kind.is_empty() {
            assert!(documented[*kind].contains(code), "{what}: README's table");
        }
    }
    assert!(!s.t.mirror_has("refs/signed/proposed/deploy/8"), "nothing of mallory's reached the mirror");
    assert!(
        s.t.w
            .git(&mallory)
            .args(["rev-parse", "-q", "--verify", "refs/signed/proposed/deploy/8"])
            .status()
            .is_ok_and(|st| !st.success()),
        "and nothing stays behind"
    );
}

#[test]
fn every_command_documents_its_exit_codes_in_its_help() {
    let w = World::new();
    for cmd in [
        vec![],
        vec!["propose"],
        vec!["approve"],
        vec!["promote"],
        vec!["verify"],
        vec!["audit"],
        vec!["policy", "check"],
    ] {
        let out = w.signed(w.path()).args(&cmd).arg("--help").output().expect("help");
        let help = String::from_utf8_lossy(&out.stdout);
        let status =
            help.split_once("Exit status:").map(|(_, s)| s).unwrap_or_else(|| panic!("{cmd:?} --help:\n{help}"));
        for code in ["0", "1", "2"] {
            assert!(
                status.lines().any(|l| l.trim_start().starts_with(&format!("{code}  "))),
                "{cmd:?}: code {code}:\n{help}"
            );
        }
    }
}
