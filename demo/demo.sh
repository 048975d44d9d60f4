#!/usr/bin/env bash
# The scripted demo behind `./install.sh --demo`: a mirror with the hook, a rejected
# one-person deploy tag, an accepted two-person tag, and signed:: clones per environment.
# Usage: demo/demo.sh BINDIR   (BINDIR holds the three installed binaries)
set -euo pipefail

BINDIR="$(cd "${1:?usage: demo.sh BINDIR}" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$BINDIR:$PATH"
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/git-signed-demo.XXXXXX")"
export HOME="$DEMO/home" GNUPGHOME="$DEMO/gnupg" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$DEMO/keys" && install -d -m 700 "$GNUPGHOME"
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT
git config --global init.defaultBranch main
git config --global advice.nestedTag false
git config --global user.name "Demo" && git config --global user.email demo@example.org

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Keys for two people (alice, bob) and the staging CI, made with gpg --batch"
for who in alice bob staging-ci; do
    gpg --batch --quiet --passphrase '' --quick-gen-key "$who <$who@example.org>" ed25519 sign never
    gpg --armor --export "$who@example.org" > "$DEMO/keys/$who.asc"
done
ls "$DEMO/keys"

cat > "$DEMO/policy.toml" <<'TOML'
version = 1

[people.alice]
keys = ["keys/alice.asc"]
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
say "The policy"
cat "$DEMO/policy.toml"
run git signed policy check --policy "$DEMO/policy.toml"

say "A mirror with the hook, installed by install.sh"
git init -q --bare "$DEMO/mirror.git"
run "$HERE/install.sh" --repo "$DEMO/mirror.git" --policy "$DEMO/policy.toml" \
    --audit-log "$DEMO/audit.log" --bindir "$BINDIR"

git clone -q "$DEMO/mirror.git" "$DEMO/work" 2>/dev/null
cd "$DEMO/work"
echo "hello" > app.txt && git add app.txt && git commit -q -m "First change" && git push -q origin main

sign() { # sign WHO TAG TARGET
    GIT_COMMITTER_NAME="$1" GIT_COMMITTER_EMAIL="$1@example.org" \
        git -c user.signingKey="$1@example.org" tag -s -f -m "$4" "$2" "$3" >/dev/null
}

say "alice alone signs deploy/1 and pushes it: the mirror refuses"
sign alice deploy/1 HEAD "Deploy first change"
if git push origin deploy/1; then echo "UNEXPECTED: accepted" >&2; exit 1; fi

say "bob reviews and adds his signature as a second layer: the mirror accepts"
sign bob deploy/1 deploy/1 "Reviewed"
run git push origin deploy/1
run git verify-tag deploy/1 2>&1 | grep -E "Good signature" || true
run git signed verify deploy/1 --policy "$DEMO/policy.toml"

say "Nobody can move or delete it"
if git push origin :refs/tags/deploy/1; then echo "UNEXPECTED: deleted" >&2; exit 1; fi

if [ -x "$BINDIR/git-remote-signed" ]; then
    say "signed:: clones per environment"
    for env in ci staging production; do
        git -c signed.policy="$DEMO/policy.toml" -c signed.environment="$env" \
            clone -q "signed::$DEMO/mirror.git" "$DEMO/clone-$env"
        printf '%-11s sees tags: %s\n' "$env" "$(git -C "$DEMO/clone-$env" tag | tr '\n' ' ')"
    done
    say "staging CI promotes deploy/1; now production sees it"
    sign staging-ci deploy/1 deploy/1 "Tested on staging"
    run git push --force origin deploy/1   # tags need --force to move; the hook only lets them grow
    git -c signed.policy="$DEMO/policy.toml" -c signed.environment=production \
        clone -q "signed::$DEMO/mirror.git" "$DEMO/clone-production-2"
    printf '%-11s sees tags: %s\n' production "$(git -C "$DEMO/clone-production-2" tag | tr '\n' ' ')"
fi

say "The audit log"
cat "$DEMO/audit.log"
say "Done. Everything is in $DEMO"
