//! What people and pipelines read: a closed pipe (`git signed verify --all --format json |
//! head -c 300`) ends every binary quietly.

mod support;

use std::process::{Command, Stdio};

use support::*;

/// Run `cmd` with a stdout whose reader is already gone; returns its stderr.
fn into_closed_pipe(cmd: &mut Command) -> String {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = cmd.stdout(writer).stderr(Stdio::piped()).stdin(Stdio::null()).output().expect("run");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_closed_pipe_ends_every_binary_quietly() {
    let w = World::new();
    let policy = w.policy(DEPLOY_RULES);
    let repo = w.repo("work");
    for n in 1..=3 {
        w.sign_chain(&repo, &format!("deploy/{n}"), &["alice", "bob"]);
    }
    let policy = policy.to_str().expect("utf8");
    for args in [
        vec!["verify", "--all", "--format", "json", "--policy", policy],
        vec!["verify", "--all", "--policy", policy],
        vec!["policy", "check", "--policy", policy],
        vec!["audit", "--policy", policy],
        vec!["--help"],
        vec!["--version"],
    ] {
        let stderr = into_closed_pipe(w.signed(&repo).args(&args));
        assert!(stderr.is_empty(), "git signed {args:?} into a closed pipe:\n{stderr}");
    }
    for b in ["git-signed-pre-receive", "git-remote-signed"] {
        for arg in ["--help", "--version"] {
            let stderr = into_closed_pipe(w.cmd(bin(b)).arg(arg));
            assert!(stderr.is_empty(), "{b} {arg} into a closed pipe:\n{stderr}");
        }
    }
}
