#!/usr/bin/env bash
# The scripted demo behind `./install.sh --demo`: a policy founded in the repository, a
# mirror with the hook pinned to it, a rejected one-person deploy tag, an accepted two-person
# tag (alice signs with SSH, bob with OpenPGP), and signed:: clones per environment that need only signed.root and signed.environment.
# Usage: demo/demo.sh BINDIR [DIR]   (BINDIR holds the three binaries; everything the demo
# makes goes into DIR, a new temporary directory by default)
set -euo pipefail
for tool in gpg ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "the demo needs $tool (e.g. apt-get install gnupg openssh-client)" >&2; exit 1; }
done

BINDIR="$(cd "${1:?usage: demo.sh BINDIR [DIR]}" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$BINDIR:$PATH"
DEMO="${2:-$(mktemp -d "${TMPDIR:-/tmp}/git-signed-demo.XXXXXX")}"
DEMO="$(cd "$DEMO" && pwd)"
export HOME="$DEMO/home" GNUPGHOME="$DEMO/gnupg" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$DEMO/keys" && install -d -m 700 "$GNUPGHOME"
# gpg-agent exits shortly after it is asked to: wait for it, so nothing outlives the demo.
stop_agent() {
    gpgconf --kill all >/dev/null 2>&1 || true
    for _ in $(seq 50); do pgrep -f "$GNUPGHOME" >/dev/null 2>&1 || return 0; sleep 0.1; done
}
trap stop_agent EXIT
git config --global init.defaultBranch main
git config --global advice.nestedTag false
git config --global user.name "Demo" && git config --global user.email demo@example.org

# Bold headings only on a terminal, and never with NO_COLOR set (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Keys: alice signs with SSH (ssh-keygen), bob and the staging CI with OpenPGP (gpg --batch)"
mkdir -p "$DEMO/ssh"
ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f "$DEMO/ssh/alice"
cp "$DEMO/ssh/alice.pub" "$DEMO/keys/alice.pub"
for who in bob staging-ci; do
    gpg --batch --quiet --passphrase '' --quick-gen-key "$who <$who@example.org>" ed25519 sign never
    gpg --armor --export "$who@example.org" > "$DEMO/keys/$who.asc"
done
ls "$DEMO/keys"

mkdir -p "$DEMO/policy/keys" && cp "$DEMO"/keys/* "$DEMO/policy/keys/"
cat > "$DEMO/policy/policy.toml" <<'TOML'
version = 1
admins = 1
environments = ["ci", "staging", "production"]

[people.alice]
keys = ["keys/alice.pub"]
access = "deploy"
sponsor = "bob"

[people.bob]
keys = ["keys/bob.asc"]
access = "admin"

[machines.staging-ci]
keys = ["keys/staging-ci.asc"]

[[rule]]
tags = ["deploy/*"]
people = 2

[[rule]]
tags = ["deploy/*"]
environments = ["production"]
machines = ["staging-ci"]
TOML
say "The policy, founded in the repository: bob (the admin) signs its first commit"
cat "$DEMO/policy/policy.toml"
run git signed policy check --policy "$DEMO/policy/policy.toml"
git -C "$DEMO/policy" init -q
git -C "$DEMO/policy" add policy.toml keys
run git -C "$DEMO/policy" -c user.signingKey=bob@example.org commit -q -S -m "Found the deploy policy"
ROOT="$(git -C "$DEMO/policy" rev-parse HEAD)"

say "A mirror with the hook, installed by install.sh and pinned to that commit"
git init -q --bare "$DEMO/mirror.git"
run "$HERE/install.sh" --repo "$DEMO/mirror.git" --root "$ROOT" \
    --audit-log "$DEMO/audit.log" --bindir "$BINDIR"
run git -C "$DEMO/policy" push -q "$DEMO/mirror.git" main:refs/signed/policy

member() { # member WHO: a clone that signs as WHO
    git clone -q "$DEMO/mirror.git" "$DEMO/$1" 2>/dev/null
    git -C "$DEMO/$1" config user.signingKey "$1@example.org"
    git -C "$DEMO/$1" config user.name "$1"
    git -C "$DEMO/$1" config user.email "$1@example.org"
    git -C "$DEMO/$1" config signed.root "$ROOT"
    git -C "$DEMO/$1" fetch -q origin +refs/signed/policy:refs/signed/policy
}
seen_by() { # seen_by ENV: the tags a signed:: clone for ENV gets, and why others are hidden
    local hidden tags
    rm -rf "$DEMO/clone-$1"
    hidden="$(git -c signed.root="$ROOT" -c signed.environment="$1" \
        clone "signed::$DEMO/mirror.git" "$DEMO/clone-$1" 2>&1 >/dev/null | sed -n 's/^signed: hiding /hidden: /p')"
    tags="$(git -C "$DEMO/clone-$1" tag | tr '\n' ' ')"
    printf '  %-11s sees: %s\n' "$1" "${tags:-no deploy tag}"
    [ -z "$hidden" ] || printf '%s\n' "$hidden" | sed 's/^/               /'
}

member alice
git -C "$DEMO/alice" config gpg.format ssh            # alice signs with her SSH key
git -C "$DEMO/alice" config user.signingKey "$DEMO/ssh/alice"
member bob
member staging-ci
cd "$DEMO/alice"
echo "hello" > app.txt && git add app.txt && git commit -q -m "First change" && git push -q origin main

say "alice alone signs deploy/1 with git tag -s and pushes it: the mirror refuses"
git tag -s -m "Deploy the first change" deploy/1
if git push origin deploy/1; then echo "UNEXPECTED: accepted" >&2; exit 1; fi
git tag -d deploy/1 >/dev/null

say "The reviewed way: alice proposes, bob approves"
run git signed propose deploy/1
cd "$DEMO/bob"
run git signed approve deploy/1 --yes
run git verify-tag deploy/1 2>&1 | grep -E "Good signature" || true
run git signed verify deploy/1

say "Nobody can delete it (or move it, or strip a signature)"
if git push origin :refs/tags/deploy/1; then echo "UNEXPECTED: deleted" >&2; exit 1; fi

say "signed:: clones per environment"
echo "(production also needs the staging CI's signature, rule 2, which no tag has yet)"
for env in ci staging production; do seen_by "$env"; done

say "Staging applied deploy/1, its first deploy, tested it, and promotes it"
cd "$DEMO/staging-ci"
run git signed promote deploy/1 --initial
seen_by production
cd "$DEMO/clone-production"
git -c signed.root="$ROOT" -c signed.environment=production fetch -q origin +refs/signed/policy:refs/signed/policy
git config signed.root "$ROOT"
run git signed verify deploy/1 --environment production --initial

say "The next change: propose, approve, then staging tests deploy/1 -> deploy/2 and promotes it"
cd "$DEMO/alice"
git pull -q origin main
echo "world" >> app.txt && git commit -q -am "Second change" && git push -q origin main
git signed propose deploy/2 >/dev/null
(cd "$DEMO/bob" && git signed approve deploy/2 --yes >/dev/null 2>&1)
cd "$DEMO/staging-ci"
run git signed promote deploy/2 --from deploy/1
seen_by production
cd "$DEMO/clone-production"
git -c signed.root="$ROOT" -c signed.environment=production fetch -q origin +refs/signed/policy:refs/signed/policy
git config signed.root "$ROOT"
run git signed verify deploy/2 --environment production --transition-from deploy/1

say "The audit log"
cat "$DEMO/audit.log"
say "Done. Everything is in $DEMO"
