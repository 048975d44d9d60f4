#!/usr/bin/env bash
# bench/scale.sh — costs as the history grows (issue 11: costs that do not grow with history).
#
#   bench/scale.sh [N…]                       (default: 1000 10000 100000)
#   SCALE_FIXTURES=DIR bench/scale.sh [N…]    keep the fixtures in DIR/fN (reused when
#                                             DIR/fN/repo.git exists, built there otherwise)
#   bench/run.sh --scale, or SCALE="1000 2000" bench/run.sh   (section 4 of run.sh)
#
# For each N, one fixture (bench/fixture.rs: N commits, N deploy tags of 3 layers, alice, bob,
# staging-ci), measured with two policies side by side: the fixture's own ("no inactivity")
# and the same with `inactivity = "6w"` and `granted = <3 days before the fixture's
# signatures>` for alice and bob ("inactivity 6w"). hyperfine, per N:
#   1. hook: the whole git-signed-pre-receive process for a push of one 3-layer deploy tag
#      (deploy/7) into a mirror of the other N-1 tags, warm (warm-up runs first, so any cache
#      the hook keeps in the mirror's git dir is filled); peak RSS (GNU time);
#   2. `git signed verify deploy/7` inside a bare clone, warm;
#   3. `git fetch` with nothing new: plain (file://) against signed:: (production, one
#      private HOME and tag cache per policy);
#   4. `git clone`: plain against signed:: with a warm tag cache, and signed:: cold (empty
#      cache) at N <= 10000 only;
#   5. the first push and the first signed:: fetch after a policy change (a new machine ci2
#      with a new key appended to the policy the mirror and the clones use): one timed run
#      of each, then the next one.
# Then a summary of ratios: signed/plain for fetch and clone, hook and verify time at N
# against the smallest N. Prints markdown (headings at level 3 and 4, as run.sh's sections).
#
# Time: a fixture of 100,000 tags takes minutes to build (about 2.5 on a 2-core machine):
# SCALE_FIXTURES saves that on a second run. Run counts shrink as N grows: hook, verify and
# fetch 20/10/5 runs at N <= 2000 / <= 10000 / above, clones 10/5/3. The hook accepts a
# pushed signature at most 7 days old (the policy's default max_age): a kept fixture older
# than that is refused and the run stops saying so; delete DIR/fN to rebuild it.
# Needs hyperfine, GNU time and jq (installed with apt-get when run as root). Builds the
# release binaries first unless SCALE_NO_BUILD=1 (run.sh sets it: it has just built them).
set -euo pipefail

if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000 10000 100000); fi
for n in "${SIZES[@]}"; do
    if ! [[ $n =~ ^[1-9][0-9]*$ ]] || [ "$n" -lt 10 ]; then
        echo "scale: N must be a whole number >= 10 (the benchmarks push deploy/7), not '$n'" >&2
        exit 2
    fi
done
mapfile -t SIZES < <(printf '%s\n' "${SIZES[@]}" | sort -nu)   # the first is the smallest
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

for tool in hyperfine /usr/bin/time jq; do
    if ! command -v "$tool" >/dev/null; then
        [ "$(id -u)" = 0 ] || { echo "scale: install hyperfine, time and jq first" >&2; exit 2; }
        apt-get update -qq && apt-get install -y -qq hyperfine time jq >/dev/null
    fi
done
[ -n "${SCALE_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q --bins --example fixture)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
FIXTURE="$BIN/examples/fixture"

W="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-scale.XXXXXX")"
FIXTURES="${SCALE_FIXTURES:-$W/fixtures}"
mkdir -p "$FIXTURES" && FIXTURES="$(cd "$FIXTURES" && pwd)"
case "$W$FIXTURES" in *[[:space:]]*) echo "scale: no spaces in TMPDIR or SCALE_FIXTURES, please" >&2; exit 2;; esac
trap 'GNUPGHOME="$W/gnupg" gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM
unset XDG_CACHE_HOME GIT_SIGNED_ENVIRONMENT GIT_SIGNED_POLICY GIT_DIR GIT_WORK_TREE
export HOME="$W/home" GNUPGHOME="$W/gnupg" GIT_CONFIG_NOSYSTEM=1 PATH="$BIN:$PATH"
install -d -m 700 "$GNUPGHOME"
# Three HOMEs: plain git, and one per policy for signed:: (each its own tag cache).
VARIANTS=(base 6w)
declare -A LABEL=([base]="no inactivity" [6w]="inactivity 6w")
for h in home home-base home-6w; do
    mkdir -p "$W/$h"
    HOME="$W/$h" git config --global init.defaultBranch main
    HOME="$W/$h" git config --global advice.detachedHead false
done

# Run counts: modest where one run takes seconds.
runs() { # runs N SMALL MEDIUM BIG -> SMALL at N <= 2000, MEDIUM at N <= 10000, else BIG
    if [ "$1" -le 2000 ]; then echo "$2"; elif [ "$1" -le 10000 ]; then echo "$3"; else echo "$4"; fi
}
mean() { jq -r ".results[$2].mean" "$1"; }                       # mean FILE.json INDEX -> s
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }      # seconds -> "12.3"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
us_now() { US=${EPOCHREALTIME/[^0-9]/}; }   # microseconds into $US, without a fork (bash 5)
SUMMARY="$W/summary.tsv"
: > "$SUMMARY"

echo "### Scale: costs as history grows ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, tree $(git -C "$ROOT" rev-parse --short HEAD), git $(git --version | cut -d' ' -f3))"
echo
echo "Sizes: ${SIZES[*]} deploy tags of 3 layers. Two policies: the fixture's (no inactivity) and the same with \`inactivity = \"6w\"\` and \`granted\` for alice and bob."
echo

for N in "${SIZES[@]}"; do
    D="$W/n$N" P="$W/n$N/policy" FIX="$FIXTURES/f$N"
    mkdir -p "$P"
    SRC="$FIX/repo.git"
    if [ -d "$SRC" ]; then
        built="reused from $FIX"
    else
        echo "scale: building the fixture with $N tags in $FIX" >&2
        rm -rf "$FIX" "$FIX.partial"
        us_now; t0=$US
        "$FIXTURE" repo "$FIX.partial" "$N"   # renamed when complete: never reuse half a fixture
        us_now
        mv "$FIX.partial" "$FIX"
        built="built in $(awk -v t=$((US - t0)) 'BEGIN { printf "%.1f s", t / 1e6 }')"
    fi
    echo "scale: measuring $N tags" >&2

    # The policies, in $P (the fixture directory is only read): key paths made absolute;
    # the inactivity variant grants alice and bob access 3 days before the signatures.
    sed "s|\"keys/|\"$FIX/keys/|g" "$FIX/policy.toml" > "$P/base.toml"
    signed_at=$(git -C "$SRC" for-each-ref --format='%(taggerdate:unix)' refs/tags/deploy/0)
    granted=$(date -u -d "@$((signed_at - 3 * 86400))" +%F)
    awk -v g="$granted" '{ print } NR == 1 && /^version = / { print "inactivity = \"6w\"" }
        /^\[people\.(alice|bob)\]$/ { print "granted = " g }' "$P/base.toml" > "$P/6w.toml"
    for v in "${VARIANTS[@]}"; do
        git signed policy check --policy "$P/$v.toml" >/dev/null
        HOME="$W/home-$v" git config --global signed.environment production
        HOME="$W/home-$v" git config --global signed.policy "$P/$v.toml"
    done

    # Mirrors for the hook: one per policy, without deploy/7 (its objects stay, as in a push
    # whose objects are already received).
    TAG=$(git -C "$SRC" rev-parse refs/tags/deploy/7)
    echo "0000000000000000000000000000000000000000 $TAG refs/tags/deploy/7" > "$D/hook-input"
    for v in "${VARIANTS[@]}"; do
        git clone -q --bare "$SRC" "$D/mirror-$v.git"
        git -C "$D/mirror-$v.git" update-ref -d refs/tags/deploy/7
        git -C "$D/mirror-$v.git" config signed.policy "$P/$v.toml"
        printf '#!/bin/sh\ncd "%s" && GIT_DIR=. exec "%s/git-signed-pre-receive" < "%s"\n' \
            "$D/mirror-$v.git" "$BIN" "$D/hook-input" > "$D/hook-$v"
        chmod +x "$D/hook-$v"
        if ! "$D/hook-$v" 2> "$D/hook-$v.err"; then
            echo "scale: the hook ($v) rejects deploy/7 of $FIX (signed $(date -u -d "@$signed_at" +%F);" \
                "a fixture older than the policy's max_age of 7 days is refused: delete it to rebuild):" >&2
            cat "$D/hook-$v.err" >&2
            exit 1
        fi
    done
    git clone -q --bare "$SRC" "$D/repo.git"   # for verify: the fixture itself is only read

    echo "#### $N deploy tags (fixture $built)"
    echo

    # 1. The hook.
    R=$(runs "$N" 20 10 5)
    hyperfine -N --warmup "$(runs "$N" 3 3 2)" --runs "$R" --export-markdown "$D/hook.md" --export-json "$D/hook.json" \
        -n "hook, whole process (${LABEL[base]})" "$D/hook-base" \
        -n "hook, whole process (${LABEL[6w]})" "$D/hook-6w" >/dev/null
    cat "$D/hook.md"
    echo
    rss=()
    for v in "${VARIANTS[@]}"; do
        /usr/bin/time -f '%M' -o "$D/rss" "$D/hook-$v" >/dev/null 2>&1
        rss+=("$(awk '{ printf "%.1f MiB", $1 / 1024 }' "$D/rss")")
    done
    echo "Hook peak memory: ${rss[0]} (${LABEL[base]}), ${rss[1]} (${LABEL[6w]})."
    echo

    # 2. git signed verify of one tag.
    R=$(runs "$N" 20 10 5)
    hyperfine -N --warmup 1 --runs "$R" --export-markdown "$D/verify.md" --export-json "$D/verify.json" \
        -n "git signed verify deploy/7 (${LABEL[base]})" "git -C $D/repo.git signed verify deploy/7 --policy $P/base.toml" \
        -n "git signed verify deploy/7 (${LABEL[6w]})" "git -C $D/repo.git signed verify deploy/7 --policy $P/6w.toml" \
        >/dev/null
    cat "$D/verify.md"
    echo

    # 3. A fetch with nothing new. The signed:: clones fill each HOME's tag cache.
    git clone -q "file://$SRC" "$D/plain"
    for v in "${VARIANTS[@]}"; do HOME="$W/home-$v" git clone -q "signed::$SRC" "$D/signed-$v"; done
    R=$(runs "$N" 20 10 5)
    hyperfine -N --warmup "$(runs "$N" 2 2 1)" --runs "$R" --export-markdown "$D/fetch.md" --export-json "$D/fetch.json" \
        -n "git fetch, nothing new (plain)" "env HOME=$W/home git -C $D/plain fetch -q" \
        -n "git fetch signed::, nothing new (${LABEL[base]})" "env HOME=$W/home-base git -C $D/signed-base fetch -q" \
        -n "git fetch signed::, nothing new (${LABEL[6w]})" "env HOME=$W/home-6w git -C $D/signed-6w fetch -q" \
        >/dev/null
    cat "$D/fetch.md"
    echo

    # 4. Clones: warm tag cache (filled above); cold (cache removed before each run) at N <= 10000.
    R=$(runs "$N" 10 5 3)
    clone=(-n "git clone (plain)" "env HOME=$W/home git clone -q file://$SRC $D/c"
        -n "git clone signed:: warm (${LABEL[base]})" "env HOME=$W/home-base git clone -q signed::$SRC $D/c"
        -n "git clone signed:: warm (${LABEL[6w]})" "env HOME=$W/home-6w git clone -q signed::$SRC $D/c")
    prepare=(--prepare "rm -rf $D/c" --prepare "rm -rf $D/c" --prepare "rm -rf $D/c")
    if [ "$N" -le 10000 ]; then
        for v in "${VARIANTS[@]}"; do
            clone+=(-n "git clone signed:: cold (${LABEL[$v]})" "env HOME=$W/home-$v git clone -q signed::$SRC $D/c")
            prepare+=(--prepare "rm -rf $D/c $W/home-$v/.cache/git-signed")
        done
    fi
    hyperfine -N --warmup 1 --runs "$R" --export-markdown "$D/clone.md" --export-json "$D/clone.json" \
        "${prepare[@]}" "${clone[@]}" >/dev/null
    rm -rf "$D/c"
    cat "$D/clone.md"
    echo

    # 5. The first push and fetch after a policy change: a new machine with a new key in the policy each
    # mirror and clone use (the file changes in place, as an admin's edit would); then the next ones.
    "$FIXTURE" key "$P" ci2
    first=()
    for v in "${VARIANTS[@]}"; do
        printf '\n[machines.ci2]\nkeys = ["%s"]\n' "$P/keys/ci2.asc" >> "$P/$v.toml"
        git signed policy check --policy "$P/$v.toml" >/dev/null
        # One timed run: "$@" under GNU time, wall ms and peak RSS appended to $line.
        timed() {
            us_now; t0=$US
            /usr/bin/time -f '%M' -o "$D/rss" "$@" >/dev/null 2>"$D/run.err" \
                || { echo "scale: failed after the policy change ($v): $*" >&2; cat "$D/run.err" >&2; exit 1; }
            us_now; t=$(( (US - t0 + 500) / 1000 ))
            line+=" | $t ms, $(awk '{ printf "%.1f MiB", $1 / 1024 }' "$D/rss")"
        }
        line=""
        timed "$D/hook-$v"
        first+=("$t")
        timed "$D/hook-$v"
        # The signed:: clone of section 3: its tag cache is warm, its verdicts for the old policy.
        timed env HOME="$W/home-$v" git -C "$D/signed-$v" fetch -q
        first+=("$t")
        timed env HOME="$W/home-$v" git -C "$D/signed-$v" fetch -q
        echo "| ${LABEL[$v]}$line |" >> "$D/change.md"
    done
    echo "A new machine \`ci2\` (a new key) added to the policy; the hook and a \`signed::\` fetch with nothing new each run once right after, then once more (one run each, wall time and peak RSS):"
    echo
    echo "| policy | hook, first push after the change | hook, next push | \`signed::\` fetch, first after the change | \`signed::\` fetch, next |"
    echo "|:---|---:|---:|---:|---:|"
    cat "$D/change.md"
    echo

    # For the summary: means in seconds.
    printf '%s' "$N" >> "$SUMMARY"
    for f in "hook.json 0" "hook.json 1" "verify.json 0" "verify.json 1" "fetch.json 0" "fetch.json 1" \
        "fetch.json 2" "clone.json 0" "clone.json 1" "clone.json 2"; do
        read -r file idx <<< "$f"
        printf '\t%s' "$(mean "$D/$file" "$idx")" >> "$SUMMARY"
    done
    if [ "$N" -le 10000 ]; then
        printf '\t%s\t%s' "$(mean "$D/clone.json" 3)" "$(mean "$D/clone.json" 4)" >> "$SUMMARY"
    else
        printf '\t-\t-' >> "$SUMMARY"
    fi
    printf '\t%s/%s\t%s/%s\n' "${first[0]}" "${first[1]}" "${first[2]}" "${first[3]}" >> "$SUMMARY"

    # Keep the disk small at big N: this size's clones, mirrors and tag caches go.
    rm -rf "$D" "$W/home-base/.cache" "$W/home-6w/.cache"
done

# Summary ---------------------------------------------------------------------------------
N0=${SIZES[0]}
echo "#### Summary"
echo
echo "Time at N against the first size ($N0 tags), and signed:: against plain git at the same N (means; \"base\" = no inactivity, \"6w\" = inactivity 6w):"
echo
echo "| tags | hook base | hook 6w | hook base ×$N0 | hook 6w ×$N0 | verify base ×$N0 | verify 6w ×$N0 | fetch signed/plain base | fetch signed/plain 6w | clone warm signed/plain base | clone warm signed/plain 6w | clone cold/plain base | clone cold/plain 6w | first push / fetch after a policy change, base | same, 6w |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
read -r _ h0b h0w v0b v0w _ < "$SUMMARY"
while IFS=$'\t' read -r n hb hw vb vw fp fb fw cp cb cw kb kw xb xw; do
    cold_b="-" cold_w="-"
    [ "$kb" = - ] || { cold_b=$(ratio "$kb" "$cp"); cold_w=$(ratio "$kw" "$cp"); }
    echo "| $n | $(ms "$hb") ms | $(ms "$hw") ms | $(ratio "$hb" "$h0b") | $(ratio "$hw" "$h0w") | $(ratio "$vb" "$v0b") | $(ratio "$vw" "$v0w") | $(ratio "$fb" "$fp") | $(ratio "$fw" "$fp") | $(ratio "$cb" "$cp") | $(ratio "$cw" "$cp") | $cold_b | $cold_w | ${xb/\// ms / } ms | ${xw/\// ms / } ms |"
done < "$SUMMARY"
echo
