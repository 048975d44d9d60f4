#!/usr/bin/env bash
# install.sh — install git-signed's binaries, manual pages and completions, its pre-receive
# hook, or run the demo. Run ./install.sh --help for usage.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BINARIES=(git-signed git-signed-pre-receive git-remote-signed)
MARKER="# installed by git-signed install.sh"
CHAINED_SUFFIX=".before-git-signed"   # an earlier hook of the same name, kept and run first
MUSL=x86_64-unknown-linux-musl
GIT_NEEDED=2.45

usage() {
    cat <<'EOF'
Usage:
  ./install.sh [--prefix DIR] [--static | --bindir DIR]
      Build in release mode and install git-signed, git-signed-pre-receive and
      git-remote-signed into PREFIX/bin (default: /usr/local as root, ~/.local otherwise),
      their manual pages into PREFIX/share/man/man1 and completions for bash, zsh and fish
      under PREFIX/share. Running it again upgrades in place.
      --static builds statically linked x86_64-unknown-linux-musl binaries (for CI images);
      --bindir installs the binaries already built in DIR instead of building.

  ./install.sh --uninstall [--prefix DIR]
      Remove the binaries, manual pages and completions install.sh put into PREFIX.

  ./install.sh --repo PATH.git (--policy FILE | --root COMMIT) [--audit-log FILE]
               [--notify PROGRAM] [--layout auto|plain|gitlab|gitea|gitolite] [--bindir DIR]
      Install the pre-receive hook (and the post-receive hook that runs signed.notify) into a
      bare repository and set signed.policy, or with --root the first commit of the policy kept
      in the repository (refs/signed/policy; signed.root), signed.auditLog and signed.notify
      (a program told of accepted changes to protected refs, JSON on stdin). Also sets
      receive.certNonceSeed and receive.certNonceSlop when unset, so that `git push --signed`
      works (rules with push_certificate / pushers). Idempotent. An existing pre-receive or
      post-receive hook is kept and still runs first; its rejection still rejects. Layouts:
      plain (hooks/), gitlab (custom_hooks/<hook>.d/), gitea/forgejo (hooks/<hook>.d/),
      gitolite (hooks/, which gitolite's setup leaves alone; refused where gitolite would
      replace the pre-receive hook); auto detects them. Run as root on a repository another
      user owns (gitolite, gitea), the hook runs as that user: install.sh checks that user can
      read the policy and run the hook, and gives the files the hook writes (the audit log) to
      that user. --bindir uses binaries already built there instead of PREFIX/bin.

  ./install.sh --uninstall --repo PATH.git [--layout …]
      Remove the hooks (restoring chained earlier ones) and unset signed.policy/root/auditLog/notify.

  ./install.sh --demo [--prefix DIR]
      Build, install into a temporary directory, and show it working there: a mirror with the
      hook, a rejected one-person tag, an accepted two-person tag, and signed:: clones per
      environment. Nothing outside that directory is touched, unless a PREFIX is given.

Environment: PREFIX (same as --prefix), CARGO (default: cargo), CARGO_TARGET_DIR (where cargo
builds; default: target/ here). git-signed needs git 2.45 or newer.
EOF
}

die() { echo "install.sh: $*" >&2; exit 2; }

default_prefix() {
    if [ "$(id -u)" = 0 ]; then echo /usr/local; else echo "$HOME/.local"; fi
}

PREFIX="${PREFIX:-}"
REPO="" POLICY="" ROOT="" AUDIT_LOG="" NOTIFY="" LAYOUT="auto" BINDIR="" MODE="install" STATIC=""

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --repo) REPO="${2:?--repo needs a path}"; shift 2 ;;
        --policy) POLICY="${2:?--policy needs a file}"; shift 2 ;;
        --root) ROOT="${2:?--root needs a commit id}"; shift 2 ;;
        --audit-log) AUDIT_LOG="${2:?--audit-log needs a file}"; shift 2 ;;
        --notify) NOTIFY="${2:?--notify needs a program}"; shift 2 ;;
        --layout) LAYOUT="${2:?--layout needs auto, plain, gitlab, gitea or gitolite}"; shift 2 ;;
        --bindir) BINDIR="${2:?--bindir needs a directory}"; shift 2 ;;
        --static) STATIC=1; shift ;;
        --uninstall) MODE="uninstall"; shift ;;
        --demo) MODE="demo"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ -z "$STATIC" ] || [ -z "$BINDIR" ] || die "--static builds the binaries, --bindir installs ones already built: choose one"
PREFIX_GIVEN="$PREFIX"   # the demo installs into its temporary directory unless one was given
PREFIX="${PREFIX:-$(default_prefix)}"

# What install.sh puts under PREFIX besides bin/: manual pages (named after the commands)
# and one completion file per shell.
MAN_DIR=share/man/man1
COMPLETIONS=(
    share/bash-completion/completions/git-signed
    share/zsh/site-functions/_git-signed
    share/fish/vendor_completions.d/git-signed.fish
)
SHELLS=(bash zsh fish)

installed_man_pages() {
    [ -d "$PREFIX/$MAN_DIR" ] || return 0
    find "$PREFIX/$MAN_DIR" -maxdepth 1 -type f \
        \( -name git-signed.1 -o -name 'git-signed-*.1' -o -name git-remote-signed.1 \)
}

# git-signed needs git 2.45 or newer (README: Requirements). With --static the binaries are
# meant for other machines, so an older git here only earns a warning.
check_git() {
    local version major minor message
    command -v git >/dev/null || die "git not found; git-signed needs git $GIT_NEEDED or newer"
    version="$(git --version | sed -n 's/^git version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
    [ -n "$version" ] || die "cannot tell the version of git from \"$(git --version)\"; git-signed needs git $GIT_NEEDED or newer"
    major="${version%%.*}" minor="${version#*.}"
    if [ "$major" -gt 2 ] || { [ "$major" = 2 ] && [ "$minor" -ge "${GIT_NEEDED#2.}" ]; }; then
        return 0
    fi
    message="git $version ($(command -v git)) is too old: git-signed needs git $GIT_NEEDED or newer"
    if [ -n "$STATIC" ]; then
        echo "install.sh: warning: $message on the machines that run it" >&2
    else
        die "$message; install a newer git first"
    fi
}

# Where cargo builds: CARGO_TARGET_DIR, build.target-dir in .cargo/config.toml, or target/,
# as cargo itself reports it.
target_dir() {
    local dir
    dir="$(cd "$HERE" && "$CARGO" metadata --format-version 1 --no-deps 2>/dev/null \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')" || true
    echo "${dir:-${CARGO_TARGET_DIR:-$HERE/target}}"
}

# The musl standard library for --static, added with rustup when it is missing.
add_musl_target() {
    [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] \
        || die "--static builds $MUSL binaries, on an x86_64 Linux machine; this is $(uname -s)/$(uname -m)"
    command -v rustup >/dev/null \
        || die "--static needs rustup to add the Rust target $MUSL (https://rustup.rs), or build without --static"
    rustup target list --installed 2>/dev/null | grep -qx "$MUSL" && return 0
    echo "install.sh: adding the Rust target $MUSL (rustup target add $MUSL)" >&2
    rustup target add "$MUSL" >&2 || die "cannot add the Rust target $MUSL: 'rustup target add $MUSL'" \
        "needs network access to static.rust-lang.org. Run it once where there is network (or build there and" \
        "copy PREFIX/bin: static binaries run on any x86_64 Linux), or install without --static"
}

# Build the release binaries (statically linked for musl with --static); prints where they are.
build() {
    CARGO="${CARGO:-cargo}"
    command -v "$CARGO" >/dev/null || die "cargo not found; install Rust (https://rustup.rs) first"
    # cargo reads a relative CARGO_TARGET_DIR from where it runs (here: $HERE), the user meant
    # from where they ran install.sh.
    case "${CARGO_TARGET_DIR:-}" in
        "" | /*) ;;
        *) export CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR" ;;
    esac
    local target=()
    [ -z "$STATIC" ] || { add_musl_target; target=(--target "$MUSL"); }
    echo "install.sh: building release binaries${STATIC:+, statically linked for $MUSL}" >&2
    (cd "$HERE" && "$CARGO" build --release --locked --bins -q "${target[@]}") || die "the build failed (see above)"
    echo "$(target_dir)${STATIC:+/$MUSL}/release"
}

build_and_install() {
    local from b stage f i shell
    if [ -n "$BINDIR" ]; then from="$(cd "$BINDIR" && pwd)"; else from="$(build)"; fi
    for b in "${BINARIES[@]}"; do
        [ -x "$from/$b" ] || die "no executable $from/$b"
    done
    mkdir -p "$PREFIX/bin"
    for b in "${BINARIES[@]}"; do
        install -m 0755 "$from/$b" "$PREFIX/bin/$b.tmp.$$"
        mv -f "$PREFIX/bin/$b.tmp.$$" "$PREFIX/bin/$b"
    done

    # Manual pages and completions, written by the binaries from their own definitions.
    stage="$(mktemp -d)"
    for b in "${BINARIES[@]}"; do
        "$PREFIX/bin/$b" --generate man "$stage/man" || die "$b could not write its manual pages"
    done
    for shell in "${SHELLS[@]}"; do
        "$PREFIX/bin/git-signed" --generate "$shell" > "$stage/$shell" || die "no $shell completions"
    done
    installed_man_pages | while IFS= read -r f; do rm -f "$f"; done   # pages of commands now gone
    mkdir -p "$PREFIX/$MAN_DIR"
    install -m 0644 "$stage"/man/*.1 "$PREFIX/$MAN_DIR/"
    for i in "${!SHELLS[@]}"; do
        mkdir -p "$(dirname "$PREFIX/${COMPLETIONS[$i]}")"
        install -m 0644 "$stage/${SHELLS[$i]}" "$PREFIX/${COMPLETIONS[$i]}"
    done
    rm -rf "$stage"

    echo "install.sh: installed $("$PREFIX/bin/git-signed" --version) into $PREFIX: ${BINARIES[*]}" \
        "in bin/, manual pages in $MAN_DIR/, completions for ${SHELLS[*]} in share/" >&2
    [ "$MODE" != demo ] || return 0
    case ":$PATH:" in
        *":$PREFIX/bin:"*) ;;
        *) echo "install.sh: note: $PREFIX/bin is not on PATH; add it so \`git signed\`, signed:: URLs and man pages work" >&2 ;;
    esac
    case "$PREFIX" in
        /usr | /usr/local) ;;
        "$HOME/.local") echo "install.sh: note: zsh finds the completions with fpath+=($PREFIX/share/zsh/site-functions) in ~/.zshrc" >&2 ;;
        *) echo "install.sh: note: shells find the completions with $PREFIX/share in XDG_DATA_DIRS (bash, fish)" \
            "and $PREFIX/share/zsh/site-functions in fpath (zsh)" >&2 ;;
    esac
}

# Remove what build_and_install put into PREFIX.
uninstall_files() {
    local f removed=()
    for f in "${BINARIES[@]/#/$PREFIX/bin/}" "${COMPLETIONS[@]/#/$PREFIX/}"; do
        [ ! -e "$f" ] || removed+=("$f")
    done
    while IFS= read -r f; do removed+=("$f"); done < <(installed_man_pages)
    if [ ${#removed[@]} = 0 ]; then
        echo "install.sh: nothing of git-signed's is installed in $PREFIX" >&2
        return 0
    fi
    rm -f "${removed[@]}"
    echo "install.sh: removed git-signed's binaries, manual pages and completions from $PREFIX (${#removed[@]} files)" >&2
    echo "install.sh: note: a mirror whose hook runs $PREFIX/bin/git-signed-pre-receive now declines every push;" \
        "remove its hook with ./install.sh --uninstall --repo PATH.git" >&2
}

# The repository's hook layout: plain, gitlab, gitea or gitolite.
detect_layout() {
    local repo="$1"
    if [ "$LAYOUT" != auto ]; then echo "$LAYOUT"; return; fi
    # gitolite writes gl-conf into every repository it has rules for, and links hooks/update
    # to its own $GL_ADMIN_BASE/hooks/common/update (~/.gitolite/hooks/common/update).
    if [ -f "$repo/gl-conf" ] || case "$(readlink "$repo/hooks/update" 2>/dev/null)" in
        */hooks/common/update) true ;;
        *) false ;;
    esac; then
        echo gitolite; return
    fi
    if [ -d "$repo/custom_hooks" ]; then echo gitlab; return; fi
    if [ -d "$repo/hooks/pre-receive.d" ] || grep -qs "AUTO GENERATED BY GITEA" "$repo/hooks/pre-receive"; then
        echo gitea; return
    fi
    echo plain
}

check_bare_repo() {
    local repo="$1"
    [ -d "$repo" ] || die "no repository at $repo"
    trust_repo_owner "$repo"
    local bare
    bare="$(git -C "$repo" rev-parse --is-bare-repository 2>/dev/null)" \
        || die "$repo is not a git repository"
    [ "$bare" = true ] || die "$repo is not a bare repository; the hook belongs on the mirror's bare repository (git clone --bare)"
}

# Root installing into a repository another user owns (gitolite's, gitea's, a `git` user's):
# the hook runs as that owner, not as root. REPO_OWNER names the owner then (empty otherwise).
# git refuses such a repository as of "dubious ownership"; install.sh's own git commands only
# read and write its config (they run no hook and no configured program), so they trust
# exactly this repository (command-line scope, which safe.directory honours).
REPO_OWNER=""
trust_repo_owner() {
    local repo="$1" owner n
    [ "$(id -u)" = 0 ] || return 0
    owner="$(stat -c %U "$repo")"
    [ "$owner" != root ] || return 0
    [ "$owner" != UNKNOWN ] || die "$repo belongs to uid $(stat -c %u "$repo"), which has no user name; the hook would run as it"
    REPO_OWNER="$owner"
    n="${GIT_CONFIG_COUNT:-0}"
    export "GIT_CONFIG_KEY_$n=safe.directory" "GIT_CONFIG_VALUE_$n=$(cd -P "$repo" && pwd -P)"
    export GIT_CONFIG_COUNT=$((n + 1))
}

# Run a command as the repository's owner (see trust_repo_owner), from /.
as_owner() {
    (cd / && runuser -u "$REPO_OWNER" -- "$@")
}

# Before installing for another owner: the hook, running as them, can run and can read the
# policy and its keys (a hook that cannot declines every push).
check_owner_can_run() {
    local hook="$1" policy="$2" out
    [ -n "$REPO_OWNER" ] || return 0
    command -v runuser >/dev/null || {
        echo "install.sh: warning: cannot check that $REPO_OWNER, who runs the hook, can read the policy (no runuser)" >&2
        return 0
    }
    as_owner test -x "$hook" || die "the hook runs as $REPO_OWNER (the owner of the repository), who cannot" \
        "execute $hook; install the binaries where $REPO_OWNER can run them (--prefix, --bindir)"
    [ -n "$policy" ] || return 0
    out="$(as_owner "${hook%/*}/git-signed" policy check --policy "$policy" 2>&1 >/dev/null)" \
        || die "the hook runs as $REPO_OWNER (the owner of the repository), who cannot use the policy" \
            "$policy: ${out#git-signed: }; make it and its key files readable by $REPO_OWNER." \
            "The hook was not installed"
}

# After installing or uninstalling for another owner: what install.sh wrote as root (the hook,
# the repository's config, which `git config` as root replaces with a file of root's, a new
# audit log) belongs to the owner, and the owner can append to the audit log (the hook declines
# every push it cannot log).
give_to_owner() {
    local repo="$1" log="$2" f
    [ -n "$REPO_OWNER" ] || return 0
    for f in "$repo/config" "$repo/custom_hooks" "$repo/git-signed" ${log:+"$log"} \
        "$repo"/hooks/{pre,post}-receive{,.d,.d/git-signed} "$repo"/custom_hooks/{pre,post}-receive.d{,/git-signed}; do
        if [ -e "$f" ] && [ "$(stat -c %u "$f")" = 0 ]; then
            chown -R "$REPO_OWNER:" "$f"
        fi
    done
    if [ -n "$log" ] && command -v runuser >/dev/null && ! as_owner test -w "$log"; then
        die "the hook runs as $REPO_OWNER, who cannot write the audit log $log: the hook, installed now," \
            "declines every push until $REPO_OWNER can; make the log and its directories reachable by $REPO_OWNER"
    fi
}

# gitolite: where the hook goes. gitolite owns some hooks of its repositories and re-creates
# them at `gitolite setup`, `gitolite setup --hooks-only` and every push to gitolite-admin
# (gitolite 3.6, lib/Gitolite/Conf/Store.pm hook_1, lib/Gitolite/Common.pm ln_sf): it rewrites
# $GL_ADMIN_BASE/hooks/common/update (and gitolite-admin's post-update), and for each file in
# $LOCAL_CODE/hooks/common and $GL_ADMIN_BASE/hooks/common it unlinks hooks/<that name> in
# every repository and symlinks its own. No other name is touched, so a plain hooks/pre-receive
# stays, and gitolite's access rules (its update hook) still run after it. Two things would
# replace it, and install.sh refuses both:
#  - a pre-receive in $LOCAL_CODE/hooks/common or $GL_ADMIN_BASE/hooks/common (ln_sf), and
#  - `option hook.pre-receive = …` for this repository (triggers/repo-specific-hooks unlinks
#    hooks/pre-receive and hooks/pre-receive.* and links its multi-hook driver there).
# Not a VREF: gitolite runs VREFs from its update hook once per ref, so a VREF could not judge
# a push as a whole (one rejected ref declines all of it), and it needs a rule in gitolite.conf.
# Not repo-specific hooks: they need LOCAL_CODE and `repo-specific-hooks` in ~/.gitolite.rc and
# an option in gitolite.conf; hooks/pre-receive needs neither, and works with any gitolite 3.
gitolite_check() {
    local repo="$1" base="" local_code="" repos="" name="" dir out
    if command -v gitolite >/dev/null; then
        out="$(gitolite_as_owner query-rc GL_ADMIN_BASE 2>&1)" \
            || die "cannot ask gitolite, as ${REPO_OWNER:-$(id -un)}, where its hooks are: $out;" \
                "fix that first, or install with --layout plain without the gitolite checks"
        base="$out"
        local_code="$(gitolite_as_owner query-rc LOCAL_CODE 2>/dev/null)" || true
        repos="$(gitolite_as_owner query-rc GL_REPO_BASE 2>/dev/null)" || true
    else
        echo "install.sh: warning: no gitolite on PATH to ask where its hooks are; checked only what" \
            "$repo shows" >&2
        base="$(readlink "$repo/hooks/update")" || true
        base="${base%/hooks/common/update}"
    fi
    # gitolite's name for the repository: its path under GL_REPO_BASE, without .git.
    if [ -n "$repos" ] && repos="$(cd -P "$repos" 2>/dev/null && pwd -P)"; then
        name="$(cd -P "$repo" && pwd -P)"
        case "$name" in
            "$repos"/*.git) name="${name#"$repos"/}"; name="${name%.git}" ;;
            *) name="" ;;
        esac
    fi
    if { [ -n "$name" ] && gitolite_as_owner git-config -r "$name" 'gitolite-options\.hook\.pre-receive' >/dev/null 2>&1; } \
        || grep -qs 'gitolite-options\.hook\.pre-receive' "$repo/gl-conf"; then
        die "gitolite.conf sets \`option hook.pre-receive\` for $repo: gitolite's repo-specific hooks would" \
            "replace git-signed's hooks/pre-receive with theirs; remove that option first (README, \"A gitolite mirror\")"
    fi
    for dir in ${local_code:+"$local_code/hooks/common"} ${base:+"$base/hooks/common"}; do
        [ ! -e "$dir/pre-receive" ] || die "gitolite links $dir/pre-receive into every repository at each" \
            "\`gitolite setup\` and would replace git-signed's hook; remove it or make it run" \
            "git-signed-pre-receive too (README, \"A gitolite mirror\")"
        [ ! -e "$dir/post-receive" ] || echo "install.sh: warning: gitolite links $dir/post-receive into every" \
            "repository at each \`gitolite setup\`, replacing git-signed's post-receive hook: signed.notify" \
            "will not run unless that hook runs \"git-signed-pre-receive --post-receive\" too" >&2
    done
}

# gitolite as the repository's owner, with their HOME (where ~/.gitolite.rc is).
gitolite_as_owner() {
    if [ -z "$REPO_OWNER" ]; then gitolite "$@"; return; fi
    command -v runuser >/dev/null || { echo "no runuser to run gitolite as $REPO_OWNER" >&2; return 1; }
    as_owner env HOME="$(getent passwd "$REPO_OWNER" | cut -d: -f6)" gitolite "$@"
}

# Write a file atomically with the given mode.
write_file() {
    local path="$1" mode="$2" tmp
    tmp="$(mktemp "$path.XXXXXX")"
    cat > "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

# hooks/NAME running COMMAND, after the hook that was there before (kept as NAME.before-git-signed):
# for pre-receive either one rejects; post-receive (which cannot reject) runs git-signed's
# whatever the earlier hook said, so a deploy that happened is always notified.
hook_script_plain() {
    local name="$1" command="$2" earlier then
    if [ "$name" = pre-receive ]; then
        earlier="|| exit \$?" then="$command < \"\$input\""
    else
        earlier="; status=\$?" then="$command < \"\$input\"; exit \$status"
    fi
    cat <<EOF
#!/bin/sh
$MARKER; re-run it to update, ./install.sh --uninstall --repo to remove.
# Runs the hook that was here before (if any) and then git-signed's.
here=\${0%/*}
[ -x "\$here/$name$CHAINED_SUFFIX" ] || exec $command
input=\$(mktemp) || exit 1
trap 'rm -f "\$input"' EXIT
cat > "\$input" || exit 1
"\$here/$name$CHAINED_SUFFIX" "\$@" < "\$input" $earlier
$then
EOF
}

hook_script_dir() {
    local command="$1"
    cat <<EOF
#!/bin/sh
$MARKER; re-run it to update, ./install.sh --uninstall --repo to remove.
exec $command
EOF
}

# The git-signed hook NAME (pre-receive or post-receive), running COMMAND, in the layout.
install_one_hook() {
    local repo="$1" layout="$2" name="$3" command="$4"
    case "$layout" in
        plain | gitolite)
            mkdir -p "$repo/hooks"
            local target="$repo/hooks/$name" kept="$repo/hooks/$name$CHAINED_SUFFIX"
            if [ -e "$target" ] && ! grep -qF "$MARKER" "$target"; then
                [ -e "$kept" ] && die "both $target and $kept exist; merge them by hand first"
                mv "$target" "$kept"
                echo "install.sh: kept the existing $name hook as hooks/$name$CHAINED_SUFFIX; it still runs first" >&2
            fi
            hook_script_plain "$name" "$command" | write_file "$target" 0755
            ;;
        gitlab)
            mkdir -p "$repo/custom_hooks/$name.d"
            hook_script_dir "$command" | write_file "$repo/custom_hooks/$name.d/git-signed" 0755
            ;;
        gitea)
            mkdir -p "$repo/hooks/$name.d"
            hook_script_dir "$command" | write_file "$repo/hooks/$name.d/git-signed" 0755
            ;;
        *) die "unknown layout $layout (use plain, gitlab, gitea or gitolite)" ;;
    esac
}

install_hook() {
    [ -n "$REPO" ] || die "--repo is required"
    [ -n "$POLICY$ROOT" ] || die "--policy FILE or --root COMMIT is required with --repo"
    [ -z "$POLICY" ] || [ -z "$ROOT" ] || die "give --policy (a file) or --root (the policy kept in the repository), not both"
    check_bare_repo "$REPO"
    local repo policy="" bindir hook
    repo="$(cd "$REPO" && pwd)"
    if [ -n "$ROOT" ]; then
        [[ $ROOT =~ ^([0-9a-f]{40}|[0-9a-f]{64})$ ]] || die "--root must be a full commit id (40 or 64 hex digits), not '$ROOT'"
    else
        [ -f "$POLICY" ] || die "no policy file at $POLICY"
        policy="$(cd "$(dirname "$POLICY")" && pwd)/$(basename "$POLICY")"
    fi
    if [ -n "$BINDIR" ]; then
        bindir="$(cd "$BINDIR" && pwd)"
    else
        bindir="$PREFIX/bin"
        [ -x "$bindir/git-signed-pre-receive" ] || build_and_install
    fi
    hook="$bindir/git-signed-pre-receive"
    [ -x "$hook" ] || die "no executable $hook; build first or pass --bindir"
    if [ -n "$policy" ]; then
        "$bindir/git-signed" policy check --policy "$policy" >/dev/null \
            || die "the policy $policy has errors (see above); the hook was not installed"
    fi
    check_owner_can_run "$hook" "$policy"

    local notify=""
    if [ -n "$NOTIFY" ]; then
        [ -f "$NOTIFY" ] && [ -x "$NOTIFY" ] || die "--notify $NOTIFY is not an executable file"
        notify="$(cd "$(dirname "$NOTIFY")" && pwd)/$(basename "$NOTIFY")"
        if [ -n "$REPO_OWNER" ] && command -v runuser >/dev/null && ! as_owner test -x "$notify"; then
            die "the hooks run as $REPO_OWNER, who cannot run the notify program $notify"
        fi
    fi

    local layout
    layout="$(detect_layout "$repo")"
    [ "$layout" != gitolite ] || gitolite_check "$repo"
    install_one_hook "$repo" "$layout" pre-receive "\"$hook\""
    install_one_hook "$repo" "$layout" post-receive "\"$hook\" --post-receive"
    if [ -n "$ROOT" ]; then
        git -C "$repo" config signed.root "$ROOT"
        git -C "$repo" config --unset signed.policy || true
    else
        git -C "$repo" config signed.policy "$policy"
        git -C "$repo" config --unset signed.root || true
    fi
    if [ -n "$AUDIT_LOG" ]; then
        # Reachable by whoever runs the hook (the repository's owner, see give_to_owner).
        (umask 022 && mkdir -p "$(dirname "$AUDIT_LOG")" && touch "$AUDIT_LOG")
        git -C "$repo" config signed.auditLog "$(cd "$(dirname "$AUDIT_LOG")" && pwd)/$(basename "$AUDIT_LOG")"
    fi
    [ -z "$notify" ] || git -C "$repo" config signed.notify "$notify"
    # `git push --signed` needs a nonce seed (receive-pack then asks for certificates); over
    # stateless HTTP the nonce of the request that listed the refs is accepted this many
    # seconds later (git-config(1), receive.certNonceSlop).
    git -C "$repo" config receive.certNonceSeed >/dev/null \
        || git -C "$repo" config receive.certNonceSeed "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    git -C "$repo" config receive.certNonceSlop >/dev/null || git -C "$repo" config receive.certNonceSlop 30
    give_to_owner "$repo" "${AUDIT_LOG:+$(cd "$(dirname "$AUDIT_LOG")" && pwd)/$(basename "$AUDIT_LOG")}"
    echo "install.sh: git-signed hook installed in $repo ($layout layout), policy ${policy:-in refs/signed/policy from $ROOT}" >&2
}

uninstall_hook() {
    [ -n "$REPO" ] || die "--repo is required"
    check_bare_repo "$REPO"
    local repo
    repo="$(cd "$REPO" && pwd)"
    local name f
    for name in pre-receive post-receive; do
        if grep -qsF "$MARKER" "$repo/hooks/$name"; then
            rm -f "$repo/hooks/$name"
            if [ -e "$repo/hooks/$name$CHAINED_SUFFIX" ]; then
                mv "$repo/hooks/$name$CHAINED_SUFFIX" "$repo/hooks/$name"
            fi
        fi
        for f in "$repo/custom_hooks/$name.d/git-signed" "$repo/hooks/$name.d/git-signed"; do
            if grep -qsF "$MARKER" "$f"; then rm -f "$f"; fi
        done
    done
    git -C "$repo" config --unset signed.policy || true
    git -C "$repo" config --unset signed.root || true
    git -C "$repo" config --unset signed.auditLog || true
    git -C "$repo" config --unset signed.notify || true
    give_to_owner "$repo" ""
    echo "install.sh: git-signed hook removed from $repo" >&2
}

case "$MODE" in
    install)
        check_git
        if [ -n "$REPO" ]; then install_hook; else build_and_install; fi
        ;;
    uninstall)
        if [ -n "$REPO" ]; then uninstall_hook; else uninstall_files; fi
        ;;
    demo)
        check_git
        DEMO="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-demo.XXXXXX")"
        if [ -z "$BINDIR" ] || [ -n "$PREFIX_GIVEN" ]; then
            PREFIX="${PREFIX_GIVEN:-$DEMO/prefix}"
            build_and_install
            BINDIR="$PREFIX/bin"
        fi
        exec "$HERE/demo/demo.sh" "$(cd "$BINDIR" && pwd)" "$DEMO"
        ;;
esac
