//! install.sh as a user runs it, into a temporary PREFIX: the three binaries answer
//! `--version`, every command has a manual page with EXAMPLES and EXIT STATUS that `man` and
//! `git signed --help` find, the bash completion loads (also for `git signed <TAB>`), and
//! `--uninstall` removes all of it and nothing else. The demo installs into its own temporary
//! directory and prints plain text into a pipe. install.sh gets the binaries cargo built for
//! the tests (`--bindir`, or a stand-in `cargo`), so nothing is compiled twice.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{bin, install_sh};

const BINARIES: [&str; 3] = ["git-signed", "git-signed-pre-receive", "git-remote-signed"];

/// A temporary directory with a HOME and a PREFIX to install into.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::Builder::new().prefix("gs-install-").tempdir_in(support::scratch()).expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Machine { dir }
    }

    fn prefix(&self) -> PathBuf {
        self.dir.path().join("prefix")
    }

    /// A command with this machine's HOME and TMPDIR and no system git config.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("PREFIX")
            .env_remove("MANPATH")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        c
    }

    /// `install.sh ARGS --bindir <the tests' binaries>`.
    fn install(&self, args: &[&str]) -> Output {
        let bindir = bin("git-signed").parent().expect("bin dir").to_owned();
        self.cmd("bash").arg(install_sh()).args(args).arg("--bindir").arg(bindir).output().expect("install.sh")
    }

    /// Run a bash script with PATH starting at PREFIX/bin.
    fn bash(&self, script: &str) -> Output {
        self.cmd("bash").args(["--norc", "--noprofile", "-c", script]).env("PATH", self.path()).output().expect("bash")
    }

    fn path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.prefix().join("bin")];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).expect("PATH")
    }

    /// Every file under `dir`, relative to it, sorted.
    fn files(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).expect("under root").display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// The page names of `git-signed` and its subcommands, from its own `--help`, recursively.
fn command_pages(program: &Path, path: &[&str]) -> Vec<String> {
    let out = Command::new(program).args(path).arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut pages = vec![["git-signed"].iter().chain(path).copied().collect::<Vec<_>>().join("-")];
    let subcommands = help.lines().skip_while(|l| *l != "Commands:").skip(1).take_while(|l| !l.trim().is_empty());
    for name in subcommands.filter_map(|l| l.split_whitespace().next()).filter(|n| *n != "help") {
        let mut sub = path.to_vec();
        sub.push(name);
        pages.extend(command_pages(program, &sub));
    }
    pages
}

#[test]
fn install_puts_binaries_manual_pages_and_completions_into_prefix_and_uninstall_removes_them() {
    let m = Machine::new();
    let prefix = m.prefix();
    // Files of other software in the same places stay where they are.
    for other in ["bin/other-tool", "share/man/man1/git.1", "share/bash-completion/completions/other"] {
        std::fs::create_dir_all(prefix.join(other).parent().expect("parent")).expect("mkdir");
        std::fs::write(prefix.join(other), "not ours\n").expect("write");
    }
    ok(&m.install(&["--prefix", prefix.to_str().expect("utf8")]));

    for b in BINARIES {
        let out = ok(&m.cmd(prefix.join("bin").join(b)).arg("--version").output().expect("--version"));
        assert_eq!(out.trim(), format!("{b} {}", env!("CARGO_PKG_VERSION")));
    }

    // A page for every command and subcommand, and for the other two binaries.
    let mut pages = command_pages(&prefix.join("bin/git-signed"), &[]);
    assert!(pages.contains(&"git-signed-policy-check".to_owned()), "{pages:?}");
    pages.extend(["git-signed-pre-receive".to_owned(), "git-remote-signed".to_owned()]);
    for page in &pages {
        let file = prefix.join(format!("share/man/man1/{page}.1"));
        let roff = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(roff.contains(".SH EXAMPLES") && roff.contains(".SH \"EXIT STATUS\""), "{page}:\n{roff}");
        assert!(!roff.contains("part of git-signed"), "{page} is a real page, not --help");
    }
    if have("man") {
        // man finds the pages from PATH alone (PREFIX/bin -> PREFIX/share/man), and git's
        // `git signed --help` is `man git-signed`.
        for page in &pages {
            let out = m.bash(&format!("MANPAGER=cat MANWIDTH=100 man {page}"));
            let text = ok(&out);
            assert!(text.contains("EXIT STATUS") && text.contains("EXAMPLES"), "man {page}:\n{text}");
        }
        let text = ok(&m.bash("MANPAGER=cat git signed --help"));
        assert!(text.contains("GIT-SIGNED(1)") && text.contains("git-signed-verify(1)"), "{text}");
    } else {
        eprintln!("note: no man here; the pages were checked as files only (.ci/run installs man-db)");
    }

    // bash: the completion registers itself and completes subcommands and their options.
    let completion = prefix.join("share/bash-completion/completions/git-signed");
    let out = ok(&m.bash(&format!(
        r#"source "{}" || exit 1
        spec=$(complete -p git-signed) || exit 1
        fn=${{spec#*-F }}; fn=${{fn%% *}}
        COMP_WORDS=(git-signed ver); COMP_CWORD=1; $fn git-signed ver git-signed; echo "${{COMPREPLY[*]}}"
        COMP_WORDS=(git-signed verify --for); COMP_CWORD=2; $fn git-signed --for verify; echo "${{COMPREPLY[*]}}""#,
        completion.display()
    )));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["verify", "--format"], "{out}");
    let bash_completion = Path::new("/usr/share/bash-completion/bash_completion");
    if bash_completion.exists() {
        // As a shell with bash-completion does it: loaded on first use from XDG_DATA_DIRS, and
        // found by git's own completion for `git signed <TAB>`.
        let out = ok(&m.bash(&format!(
            r#"source {} && XDG_DATA_DIRS="{}/share" && __load_completion git-signed && complete -p git-signed >/dev/null || exit 1
            __load_completion git || {{ echo "no git completion"; exit 0; }}
            COMP_WORDS=(git signed policy c); COMP_CWORD=3; COMP_LINE="git signed policy c"; COMP_POINT=${{#COMP_LINE}}
            __git_wrap__git_main; echo "${{COMPREPLY[*]}}""#,
            bash_completion.display(),
            prefix.display()
        )));
        assert!(["check", "no git completion"].contains(&out.trim()), "git signed policy c<TAB>: {out:?}");
    } else {
        eprintln!("note: no bash-completion here; its lazy loading was not checked (.ci/run installs it)");
    }
    for (shell, file) in
        [("zsh", "share/zsh/site-functions/_git-signed"), ("fish", "share/fish/vendor_completions.d/git-signed.fish")]
    {
        assert!(prefix.join(file).exists(), "{file}");
        if have(shell) {
            ok(&m.cmd(shell).arg("-n").arg(prefix.join(file)).output().expect("shell -n"));
        }
    }

    // --uninstall alone removes exactly what install.sh put there.
    let out = m.cmd("bash").arg(install_sh()).args(["--uninstall", "--prefix"]).arg(&prefix).output().expect("run");
    ok(&out);
    assert_eq!(
        Machine::files(&prefix),
        ["bin/other-tool", "share/bash-completion/completions/other", "share/man/man1/git.1"]
    );
    let out = m.cmd("bash").arg(install_sh()).args(["--uninstall", "--prefix"]).arg(&prefix).output().expect("run");
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing of git-signed's is installed"));
}

#[test]
fn demo_installs_into_its_temporary_directory_and_prints_plain_text_into_a_pipe() {
    let m = Machine::new();
    // A stand-in cargo that "builds" by copying the tests' binaries where cargo would put them.
    let cargo = m.dir.path().join("cargo");
    std::fs::write(
        &cargo,
        r#"#!/bin/sh
case "$1" in
    metadata) printf '{"packages":[],"target_directory":"%s","version":1}\n' "${CARGO_TARGET_DIR:-$PWD/target}" ;;
    build) mkdir -p "$CARGO_TARGET_DIR/release"
           cp "$BINS/git-signed" "$BINS/git-signed-pre-receive" "$BINS/git-remote-signed" "$CARGO_TARGET_DIR/release/" ;;
    *) exit 1 ;;
esac
"#,
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let system = Path::new("/usr/local/bin/git-signed");
    let system_before = system.exists();

    let out = m
        .cmd("bash")
        .arg(install_sh())
        .arg("--demo")
        .current_dir(m.dir.path())
        .env("CARGO", &cargo)
        .env("CARGO_TARGET_DIR", "relative-target")
        .env("BINS", bin("git-signed").parent().expect("bin dir"))
        .output()
        .expect("install.sh --demo");
    let text = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert!(m.dir.path().join("relative-target/release/git-signed").exists(), "CARGO_TARGET_DIR, from where it ran");
    let demo = text.lines().find_map(|l| l.strip_prefix("== Done. Everything is in ")).expect("demo directory");
    assert!(Path::new(demo).starts_with(m.dir.path()), "the demo works under TMPDIR: {demo}");
    assert!(Path::new(demo).join("prefix/bin/git-signed").exists(), "installed into the demo's directory");
    assert!(!m.dir.path().join("home/.local").exists(), "nothing in ~/.local");
    assert_eq!(system.exists(), system_before, "nothing in /usr/local, even as root");
    assert!(stderr.contains(&format!("into {demo}/prefix")), "{stderr}");

    assert!(!text.contains('\u{1b}'), "no escape codes into a pipe:\n{text}");
    assert!(text.contains("production  sees: no deploy tag"), "{text}");
    assert!(text.contains("hidden: refs/tags/deploy/1: rule 2"), "says why production sees nothing:\n{text}");
    let agents = Command::new("pgrep").args(["-f", demo]).output().map(|o| o.stdout).unwrap_or_default();
    assert!(agents.is_empty(), "the demo stops its gpg-agent: {}", String::from_utf8_lossy(&agents));
}

#[test]
fn install_refuses_a_git_older_than_2_45() {
    let m = Machine::new();
    let fake = m.dir.path().join("old-git");
    std::fs::create_dir(&fake).expect("mkdir");
    std::fs::write(fake.join("git"), "#!/bin/sh\necho 'git version 2.39.5'\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(fake.join("git"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let bindir = bin("git-signed").parent().expect("bin dir").to_owned();
    let out = m
        .cmd("bash")
        .arg(install_sh())
        .args(["--prefix", m.prefix().to_str().expect("utf8"), "--bindir"])
        .arg(bindir)
        .env("PATH", path)
        .output()
        .expect("install.sh");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("git 2.39") && stderr.contains("needs git 2.45 or newer"), "{stderr}");
    assert!(!m.prefix().exists(), "nothing installed");
}

/// A gitolite-managed repository (the `gl-conf` gitolite writes, or `hooks/update` linking to
/// gitolite's `hooks/common/update`) gets the gitolite layout: hooks/pre-receive, which gitolite's
/// setup leaves alone; refused where gitolite would replace it. tests/mirror_gitolite.rs runs a
/// real gitolite; this needs neither root nor gitolite.
#[test]
fn a_gitolite_repository_is_detected_and_refused_where_gitolite_would_replace_the_hook() {
    let m = Machine::new();
    let dir = m.dir.path();
    let home = dir.join("home");
    ok(&m
        .cmd("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f"])
        .arg(dir.join("alice"))
        .output()
        .expect("ssh-keygen"));
    std::fs::write(
        dir.join("policy.toml"),
        "version = 1\nenvironments = [\"ci\"]\n\n[people.alice]\nkeys = [\"alice.pub\"]\naccess = \"admin\"\n\n\
         [[rule]]\ntags = [\"deploy/*\"]\npeople = 1\n",
    )
    .expect("policy");
    // gitolite's admin directory as `gitolite setup` leaves it (where gitolite is installed,
    // install.sh asks it; elsewhere it follows the hooks/update link).
    let common = home.join(".gitolite/hooks/common");
    std::fs::create_dir_all(&common).expect("mkdir");
    std::fs::create_dir_all(home.join(".gitolite/logs")).expect("mkdir");
    std::fs::write(common.join("update"), "#!/usr/bin/perl\n# gitolite update hook\n").expect("update");
    let install = |repo: &Path| {
        m.install(&[
            "--repo",
            repo.to_str().expect("utf8"),
            "--policy",
            dir.join("policy.toml").to_str().expect("utf8"),
        ])
    };
    let bare = |name: &str| {
        let repo = dir.join(name);
        ok(&m.cmd("git").args(["init", "-q", "--bare"]).arg(&repo).output().expect("git init"));
        repo
    };

    let by_conf = bare("by-conf.git");
    std::fs::write(by_conf.join("gl-conf"), "%one_repo = ();\n").expect("gl-conf");
    let by_link = bare("by-link.git");
    std::os::unix::fs::symlink(common.join("update"), by_link.join("hooks/update")).expect("symlink");
    for repo in [&by_conf, &by_link] {
        let out = install(repo);
        assert!(String::from_utf8_lossy(&out.stderr).contains("(gitolite layout)"), "{}", ok(&out));
        let hook = std::fs::read_to_string(repo.join("hooks/pre-receive")).expect("hooks/pre-receive");
        assert!(hook.contains("installed by git-signed install.sh"), "{hook}");
    }

    // gitolite's repo-specific hooks (`option hook.pre-receive`) would take hooks/pre-receive.
    let optioned = bare("optioned.git");
    std::fs::write(
        optioned.join("gl-conf"),
        "%one_config = ('optioned' => [[5, 'gitolite-options.hook.pre-receive', 'x']]);\n",
    )
    .expect("gl-conf");
    let out = install(&optioned);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("option hook.pre-receive"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!optioned.join("hooks/pre-receive").exists());

    // A pre-receive among gitolite's common hooks would be linked over it at the next setup.
    std::fs::write(common.join("pre-receive"), "#!/bin/sh\n").expect("common pre-receive");
    let out = install(&by_link);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("gitolite links {}/pre-receive", common.display())), "{err}");
}
