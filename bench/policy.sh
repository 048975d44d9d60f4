#!/usr/bin/env bash
# bench/policy.sh — what the policy kept in the repository costs (issue 12).
#
#   bench/policy.sh [COMMITS]        (default: 1000 policy commits)
#
# One fixture (bench/fixture.rs): 1,000 deploy tags of 3 layers, and `refs/signed/policy` with
# COMMITS commits signed by the admin (`fixture policy`). Side by side in one hyperfine run
# each, warm (warm-up runs first, so the caches are filled):
#   1. the hook, the whole git-signed-pre-receive process for a push of one deploy tag: the
#      policy from a file (`signed.policy`) against the policy in the repository
#      (`signed.root`, refs/signed/policy at COMMITS commits);
#   2. `git fetch` with nothing new: plain, signed:: with `signed.policy`, signed:: with only
#      `signed.environment` and `signed.root`.
# Prints markdown. Needs hyperfine (installed with apt-get when run as root). Builds the
# release binaries first unless SCALE_NO_BUILD=1.
set -euo pipefail

COMMITS="${1:-1000}"
[[ $COMMITS =~ ^[1-9][0-9]*$ ]] || { echo "policy: COMMITS must be a whole number >= 1" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v hyperfine >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "policy: install hyperfine first" >&2; exit 2; }
    apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
fi
[ -n "${SCALE_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q --bins --example fixture)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

W="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-policy.XXXXXX")"
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM
unset XDG_CACHE_HOME GIT_SIGNED_ENVIRONMENT GIT_SIGNED_POLICY GIT_SIGNED_ROOT GIT_DIR GIT_WORK_TREE
export GIT_CONFIG_NOSYSTEM=1 PATH="$BIN:$PATH"
for h in home home-file home-root; do
    mkdir -p "$W/$h"
    HOME="$W/$h" git config --global init.defaultBranch main
done
export HOME="$W/home"

echo "policy: building the fixture (1000 tags, $COMMITS policy commits)" >&2
F="$W/fixture"
"$BIN/examples/fixture" repo "$F" 1000
"$BIN/examples/fixture" policy "$F" "$COMMITS"
SRC="$F/repo.git"
RT="$(cat "$F/root")"
sed "s|\"keys/|\"$F/keys/|g" "$F/policy.toml" > "$W/policy.toml"

# 1. The hook. Two mirrors without deploy/7 (its objects stay, as in a push whose objects are
# already received): one reads the file, one the policy history from the pinned root.
TAG=$(git -C "$SRC" rev-parse refs/tags/deploy/7)
echo "0000000000000000000000000000000000000000 $TAG refs/tags/deploy/7" > "$W/hook-input"
for v in file root; do
    git clone -q --mirror "$SRC" "$W/mirror-$v.git"
    git -C "$W/mirror-$v.git" update-ref -d refs/tags/deploy/7
    printf '#!/bin/sh\ncd "%s" && GIT_DIR=. exec "%s/git-signed-pre-receive" < "%s"\n' \
        "$W/mirror-$v.git" "$BIN" "$W/hook-input" > "$W/hook-$v"
    chmod +x "$W/hook-$v"
done
git -C "$W/mirror-file.git" config signed.policy "$W/policy.toml"
git -C "$W/mirror-root.git" config signed.root "$RT"
for v in file root; do "$W/hook-$v" 2> "$W/hook-$v.err" || { cat "$W/hook-$v.err" >&2; exit 1; }; done

echo "### The policy in the repository: $COMMITS policy commits ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, tree $(git -C "$ROOT" rev-parse --short HEAD), git $(git --version | cut -d' ' -f3))"
echo
echo "1,000 deploy tags of 3 layers; \`refs/signed/policy\` with $COMMITS commits signed by the admin."
echo
hyperfine -N --warmup 3 --runs 30 --export-markdown "$W/hook.md" \
    -n "hook, policy from a file" "$W/hook-file" \
    -n "hook, policy from refs/signed/policy ($COMMITS commits)" "$W/hook-root" >/dev/null
cat "$W/hook.md"
echo

# 2. A fetch with nothing new.
HOME="$W/home-file" git config --global signed.environment production
HOME="$W/home-file" git config --global signed.policy "$W/policy.toml"
HOME="$W/home-root" git config --global signed.environment production
HOME="$W/home-root" git config --global signed.root "$RT"
git clone -q "file://$SRC" "$W/plain"
for v in file root; do HOME="$W/home-$v" git clone -q "signed::$SRC" "$W/signed-$v"; done
hyperfine -N --warmup 2 --runs 20 --export-markdown "$W/fetch.md" \
    -n "git fetch, nothing new (plain)" "env HOME=$W/home git -C $W/plain fetch -q" \
    -n "git fetch signed::, nothing new (signed.policy)" "env HOME=$W/home-file git -C $W/signed-file fetch -q" \
    -n "git fetch signed::, nothing new (signed.root, $COMMITS commits)" "env HOME=$W/home-root git -C $W/signed-root fetch -q" \
    >/dev/null
cat "$W/fetch.md"
echo
echo "Command: \`bench/policy.sh $COMMITS\`."
