#!/usr/bin/env bash
# bench/run.sh — git-signed against git and gpg, side by side in one run.
#
#   bench/run.sh [--scale] [BULK_TAGS] [CLONE_TAGS]     (defaults: 10000 and 1000)
#   SCALE="1000 2000" bench/run.sh …                    (section 4 at these sizes)
#
# Generates its own repositories (bench/fixture.rs), then measures with hyperfine:
#   1. bulk: `git signed verify --all` over BULK_TAGS deploy tags of 3 layers, vs
#      `git verify-tag` (gpg) on every layer, vs the raw sequoia signature checks; then the
#      same tags signed with SSH (ed25519, namespace git): `git signed verify --all` on both
#      side by side, and `git verify-tag` with gpg.ssh.allowedSignersFile;
#   2. hook: the whole pre-receive process for a push of one 3-layer tag, and a push with
#      vs without the hook;
#   3. helper: `git clone signed::` of a repository with CLONE_TAGS deploy tags vs a plain
#      `git clone`, and a no-op fetch of each;
#   and the peak memory (max RSS, GNU time) of each;
#   4. only with --scale (sizes 1000 10000 100000) or SCALE="N…": bench/scale.sh, the costs
#      as the history grows (hook, verify, fetch, clone at each size; see its header).
# Prints markdown for BENCHMARKS.md.
set -euo pipefail

SCALE_SIZES=${SCALE:-}
args=()
for a in "$@"; do
    if [ "$a" = --scale ]; then SCALE_SIZES=${SCALE:-1000 10000 100000}; else args+=("$a"); fi
done
set -- ${args[@]+"${args[@]}"}
BULK=${1:-10000}
CLONE=${2:-1000}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

for tool in hyperfine /usr/bin/time gpg ssh-keygen; do
    if ! command -v "$tool" >/dev/null; then
        [ "$(id -u)" = 0 ] || { echo "bench: install hyperfine, time, gnupg and openssh-client first" >&2; exit 2; }
        apt-get update -qq && apt-get install -y -qq hyperfine time gnupg openssh-client >/dev/null
    fi
done
(cd "$ROOT" && cargo build --release -q --bins --example fixture)
BIN="$ROOT/target/release"
FIXTURE="$BIN/examples/fixture"
W="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-bench.XXXXXX")"
export HOME="$W/home" GNUPGHOME="$W/gnupg" GIT_CONFIG_NOSYSTEM=1 PATH="$BIN:$PATH"
mkdir -p "$HOME" && install -d -m 700 "$GNUPGHOME"
git config --global init.defaultBranch main
git config --global advice.detachedHead false
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT

md() { cat "$1"; echo; }
sample_layers() { # sample_layers REPO OUT: the layers of the first $SAMPLE deploy tags, one id a line
    git -C "$1" for-each-ref --count="$SAMPLE" --format='%(objectname)' refs/tags/ > "$2.outer"
    : > "$2"
    while read -r id; do
        echo "$id" >> "$2"
        inner=$(git -C "$1" cat-file tag "$id" | sed -n 's/^object //p;1q')
        echo "$inner" >> "$2"
        git -C "$1" cat-file tag "$inner" | sed -n 's/^object //p;1q' >> "$2"
    done < "$2.outer"
}
verify_tag_loop() { # verify_tag_loop REPO LAYERS SCRIPT: a script running git verify-tag on each layer
    printf '#!/bin/sh\ncd "%s" && while read -r id; do git verify-tag "$id" 2>/dev/null || exit 1; done < "%s"\n' \
        "$1" "$2" > "$3"
    chmod +x "$3"
}
maxrss() { # maxrss CMD... -> "N MiB"
    /usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>&1 || true
    awk '{ printf "%.1f MiB", $1 / 1024 }' "$W/rss"
}

echo "## Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -m)), git $(git --version | cut -d' ' -f3), gpg $(gpg --version | head -1 | cut -d' ' -f3)"
echo

# 1. Bulk verification -------------------------------------------------------------------
"$FIXTURE" repo "$W/bulk" "$BULK"
gpg --batch --quiet --import "$W"/bulk/keys/*.asc 2>/dev/null
SAMPLE=100
sample_layers "$W/bulk/repo.git" "$W/layers"
LAYERS=$(wc -l < "$W/layers")
verify_tag_loop "$W/bulk/repo.git" "$W/layers" "$W/verify-tag-loop"
echo "### Bulk: $BULK deploy tags × 3 layers ($((BULK * 3)) signatures)"
echo
hyperfine --warmup 1 --runs 5 --export-markdown "$W/bulk.md" \
    -n "git signed verify --all ($((BULK * 3)) layers)" \
    "cd $W/bulk/repo.git && git signed verify --all --policy ../policy.toml >/dev/null" \
    -n "git verify-tag, sample of $LAYERS layers" \
    "$W/verify-tag-loop" >/dev/null
md "$W/bulk.md"
echo "Raw sequoia signature checks of the same $((BULK * 3)) signatures (everything else stripped: objects read and parsed beforehand, one core), five runs:"
echo
echo '```'
for _ in 1 2 3 4 5; do "$FIXTURE" raw "$W/bulk"; done
echo '```'
echo
echo "Peak memory: git signed verify --all $(maxrss sh -c "cd $W/bulk/repo.git && git signed verify --all --policy ../policy.toml"); one git verify-tag $(maxrss git -C "$W/bulk/repo.git" verify-tag "$(head -1 "$W/layers")")."
echo

# 1b. The same with SSH signatures: the layers of the same sample, by position.
"$FIXTURE" ssh-repo "$W/bulk-ssh" "$BULK"
git -C "$W/bulk-ssh/repo.git" config gpg.ssh.allowedSignersFile "$W/bulk-ssh/allowed_signers"
sample_layers "$W/bulk-ssh/repo.git" "$W/layers-ssh"
verify_tag_loop "$W/bulk-ssh/repo.git" "$W/layers-ssh" "$W/verify-tag-loop-ssh"
echo "### Bulk, SSH signatures: the same $BULK deploy tags × 3 layers signed with ssh-ed25519"
echo
# Cold: each run starts without the repository's cache of signature facts (<git dir>/git-signed),
# so every signature is checked; warm: the facts remembered by the run before.
hyperfine --warmup 1 --runs 5 --export-markdown "$W/bulk-ssh.md" \
    --prepare "rm -rf $W/bulk/repo.git/git-signed" --prepare "rm -rf $W/bulk-ssh/repo.git/git-signed" \
    --prepare "true" --prepare "true" --prepare "true" \
    -n "git signed verify --all, OpenPGP, cold ($((BULK * 3)) layers)" \
    "cd $W/bulk/repo.git && git signed verify --all --policy ../policy.toml >/dev/null" \
    -n "git signed verify --all, SSH, cold ($((BULK * 3)) layers)" \
    "cd $W/bulk-ssh/repo.git && git signed verify --all --policy ../policy.toml >/dev/null" \
    -n "git signed verify --all, OpenPGP, warm" \
    "cd $W/bulk/repo.git && git signed verify --all --policy ../policy.toml >/dev/null" \
    -n "git signed verify --all, SSH, warm" \
    "cd $W/bulk-ssh/repo.git && git signed verify --all --policy ../policy.toml >/dev/null" \
    -n "git verify-tag (ssh-keygen, allowedSignersFile), sample of $LAYERS layers" \
    "$W/verify-tag-loop-ssh" >/dev/null
md "$W/bulk-ssh.md"
echo "Peak memory: git signed verify --all (SSH) $(maxrss sh -c "cd $W/bulk-ssh/repo.git && git signed verify --all --policy ../policy.toml")."
echo

# 2. The hook ------------------------------------------------------------------------------
"$FIXTURE" repo "$W/hook" 20
git clone -q --bare "$W/hook/repo.git" "$W/mirror.git"
git clone -q --bare "$W/hook/repo.git" "$W/plain.git"
"$ROOT/install.sh" --repo "$W/mirror.git" --policy "$W/hook/policy.toml" --bindir "$BIN" 2>/dev/null
for m in mirror plain; do git -C "$W/$m.git" update-ref -d refs/tags/deploy/7; done
TAG=$(git -C "$W/hook/repo.git" rev-parse refs/tags/deploy/7)
ZERO=0000000000000000000000000000000000000000
echo "$ZERO $TAG refs/tags/deploy/7" > "$W/hook-input"
echo "### Hook: a push of one 3-layer deploy tag"
echo
cat > "$W/run-hook" <<EOF
#!/bin/sh
cd "$W/mirror.git" && GIT_DIR=. exec "$BIN/git-signed-pre-receive" < "$W/hook-input"
EOF
chmod +x "$W/run-hook"
hyperfine -N --warmup 3 --runs 30 --export-markdown "$W/hook.md" \
    --prepare "true" \
    --prepare "git -C $W/mirror.git update-ref -d refs/tags/deploy/7" \
    --prepare "git -C $W/plain.git update-ref -d refs/tags/deploy/7" \
    -n "git-signed-pre-receive (whole process)" "$W/run-hook" \
    -n "git push, mirror with the hook" "git -C $W/hook/repo.git push -q $W/mirror.git refs/tags/deploy/7" \
    -n "git push, mirror without a hook" "git -C $W/hook/repo.git push -q $W/plain.git refs/tags/deploy/7" \
    >/dev/null
md "$W/hook.md"
echo "Peak memory: hook process $(maxrss "$W/run-hook")."
echo

# 3. The remote helper ---------------------------------------------------------------------
"$FIXTURE" repo "$W/clone" "$CLONE"
SRC="$W/clone/repo.git"
git config --global signed.environment production
git config --global signed.policy "$W/clone/policy.toml"
git clone -q "signed::$SRC" "$W/warm"   # fills the tag cache
git clone -q "file://$SRC" "$W/plainclone"
echo "### Remote helper: clone of a repository with $CLONE deploy tags (3 layers each)"
echo
hyperfine -N --warmup 1 --runs 10 --export-markdown "$W/clone.md" \
    --prepare "rm -rf $W/c" --prepare "rm -rf $W/c" --prepare "rm -rf $W/c $HOME/.cache/git-signed" \
    --prepare "true" --prepare "true" \
    -n "git clone (plain)" "git clone -q file://$SRC $W/c" \
    -n "git clone signed:: (tag cache warm)" "git clone -q signed::$SRC $W/c" \
    -n "git clone signed:: (cold: empty cache)" "git clone -q signed::$SRC $W/c" \
    -n "git fetch, nothing new (plain)" "git -C $W/plainclone fetch -q" \
    -n "git fetch, nothing new (signed::)" "git -C $W/warm fetch -q" >/dev/null
md "$W/clone.md"
rm -rf "$W/c"
echo "Peak memory: plain clone $(maxrss git clone -q "file://$SRC" "$W/m1"); signed:: clone $(maxrss git clone -q "signed::$SRC" "$W/m2")."
echo

# 4. Scale (opt-in) --------------------------------------------------------------------------
if [ -n "$SCALE_SIZES" ]; then
    # shellcheck disable=SC2086 # the sizes are words
    SCALE_NO_BUILD=1 "$ROOT/bench/scale.sh" $SCALE_SIZES
fi
rm -rf "$W"
