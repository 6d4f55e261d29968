#!/bin/sh
# make demo: a walk through airlock in a temporary folder, printing every
# code it makes. Usage: demo.sh path/to/airlock
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dir=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
mkdir authority
step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# A demo passphrase; a real desk types it at the prompt.
export AIRLOCK_PASSPHRASE=demo-passphrase-not-secret

step "The vendor's desk makes its key and the trust file instances load"
run "$bin" keygen --out authority/authority.key --trust-out authority/trust.airlock
run cat authority/trust.airlock

step "Anyone can inspect a code; with the trust file it is verified"
run "$bin" code inspect --trust authority/trust.airlock authority/trust.airlock

printf '\ndemo finished in %s (removed on exit)\n' "$dir"
