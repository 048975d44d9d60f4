#!/usr/bin/env bash
# bench/compare.sh — this tree against an earlier commit, side by side in one run.
#
#   bench/compare.sh REV [CLONE_TAGS] [BULK_TAGS]   (e.g. bench/compare.sh 3d9f072; defaults 1000, 10000)
#
# Builds REV's release binaries in a scratch worktree (its own target directory), then runs
# the hook and helper measurements of bench/run.sh with both builds in the same hyperfine
# invocation: the whole pre-receive process for a push of one 3-layer deploy tag, a warm
# `git clone signed::` of a repository with CLONE_TAGS deploy tags, a no-op fetch, and
# `git signed verify --all` over BULK_TAGS 3-layer tags (wall time side by side; CPU time
# against the raw signature checks of the same signatures).
# Each build gets its own HOME (so its own tag cache). Prints markdown for BENCHMARKS.md.
set -euo pipefail

REV=${1:?usage: bench/compare.sh REV [CLONE_TAGS]}
CLONE=${2:-1000}
BULK=${3:-10000}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }

W="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-compare.XXXXXX")"
trap 'git -C "$ROOT" worktree remove --force "$W/old-src" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
git -C "$ROOT" worktree add -q --detach "$W/old-src" "$REV"
(cd "$W/old-src" && CARGO_TARGET_DIR="$ROOT/target/compare-old" cargo build --release -q --bins)
(cd "$ROOT" && cargo build --release -q --bins --example fixture)
OLD="$ROOT/target/compare-old/release"
NEW="$ROOT/target/release"
FIXTURE="$NEW/examples/fixture"
export GIT_CONFIG_NOSYSTEM=1

# Policies older than the declared `environments` (design.md §12) refuse the key: give the old
# build the same policy without it.
old_policy() { sed '/^environments = \["ci"/d' "$1/policy.toml" > "$1/policy-old.toml"; }

# Each build runs with its own PATH and HOME; `as old|new CMD…`.
for b in old new; do mkdir -p "$W/home-$b"; done
cat > "$W/as" <<EOF
#!/bin/sh
b=\$1; shift
if [ "\$b" = old ]; then bin="$OLD"; else bin="$NEW"; fi
HOME="$W/home-\$b" PATH="\$bin:\$PATH" exec "\$@"
EOF
chmod +x "$W/as"

echo "## $(git -C "$ROOT" rev-parse --short HEAD) (new) against $REV (old), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo

# The hook: one mirror per build, the same pushed tag.
"$FIXTURE" repo "$W/hook" 20
old_policy "$W/hook"
TAG=$(git -C "$W/hook/repo.git" rev-parse refs/tags/deploy/7)
echo "0000000000000000000000000000000000000000 $TAG refs/tags/deploy/7" > "$W/hook-input"
for b in old new; do
    git clone -q --bare "$W/hook/repo.git" "$W/mirror-$b.git"
    git -C "$W/mirror-$b.git" update-ref -d refs/tags/deploy/7
    policy="$W/hook/policy-old.toml"; bin="$OLD"
    [ "$b" = new ] && policy="$W/hook/policy.toml" bin="$NEW"
    git -C "$W/mirror-$b.git" config signed.policy "$policy"
    printf '#!/bin/sh\ncd "%s" && GIT_DIR=. exec "%s/git-signed-pre-receive" < "%s"\n' \
        "$W/mirror-$b.git" "$bin" "$W/hook-input" > "$W/hook-$b"
    chmod +x "$W/hook-$b"
    "$W/hook-$b" 2>/dev/null || { echo "the $b hook rejects the benchmark tag" >&2; exit 1; }
done
hyperfine -N --warmup 5 --runs 60 --export-markdown "$W/hook.md" \
    -n "hook, whole process ($REV)" "$W/hook-old" \
    -n "hook, whole process (this tree)" "$W/hook-new" >/dev/null 2>&1
echo "### Hook: a push of one 3-layer deploy tag"
echo
cat "$W/hook.md"
echo

# The helper: warm clone and no-op fetch, each build with its own warm tag cache.
"$FIXTURE" repo "$W/clone" "$CLONE"
old_policy "$W/clone"
SRC="$W/clone/repo.git"
for b in old new; do
    policy="$W/clone/policy-old.toml"; [ "$b" = new ] && policy="$W/clone/policy.toml"
    "$W/as" $b git config --global signed.environment production
    "$W/as" $b git config --global signed.policy "$policy"
    "$W/as" $b git clone -q "signed::$SRC" "$W/warm-$b"
done
"$W/as" new git clone -q "file://$SRC" "$W/plain"
hyperfine -N --warmup 1 --runs 10 --export-markdown "$W/clone.md" \
    --prepare "rm -rf $W/c" \
    -n "git clone (plain)" "git clone -q file://$SRC $W/c" \
    -n "git clone signed:: warm ($REV)" "$W/as old git clone -q signed::$SRC $W/c" \
    -n "git clone signed:: warm (this tree)" "$W/as new git clone -q signed::$SRC $W/c" >/dev/null
hyperfine -N --warmup 2 --runs 20 --export-markdown "$W/fetch.md" \
    -n "git fetch, nothing new (plain)" "git -C $W/plain fetch -q" \
    -n "git fetch signed::, nothing new ($REV)" "$W/as old git -C $W/warm-old fetch -q" \
    -n "git fetch signed::, nothing new (this tree)" "$W/as new git -C $W/warm-new fetch -q" >/dev/null
echo "### Remote helper: $CLONE deploy tags"
echo
cat "$W/clone.md"
echo
cat "$W/fetch.md"
echo

# Bulk verification: the same repository and policy for both builds.
"$FIXTURE" repo "$W/bulk" "$BULK"
old_policy "$W/bulk"
verify_all() { echo "cd $W/bulk/repo.git && $W/as $1 git signed verify --all --policy ../$2 >/dev/null"; }
hyperfine --warmup 1 --runs 5 --export-markdown "$W/bulk.md" \
    -n "git signed verify --all, $BULK tags ($REV)" "$(verify_all old policy-old.toml)" \
    -n "git signed verify --all, $BULK tags (this tree)" "$(verify_all new policy.toml)" >/dev/null
echo "### Bulk verification: $BULK deploy tags × 3 layers"
echo
cat "$W/bulk.md"
echo
cpu() { /usr/bin/time -f "%U %S" -o "$W/cpu" sh -c "$1" >/dev/null 2>&1 || true; awk '{ printf "%.2f s", $1 + $2 }' "$W/cpu"; }
echo "CPU time (user + sys, one run each): $REV $(cpu "$(verify_all old policy-old.toml)"), this tree $(cpu "$(verify_all new policy.toml)"); the raw signature checks of the same $((BULK * 3)) signatures (one core, nothing else): $("$FIXTURE" raw "$W/bulk" | tr '\n' ' ')"
