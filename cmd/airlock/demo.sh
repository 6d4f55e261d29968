#!/bin/sh
# make demo: a whole reservation round trip between an authority (the
# vendor's desk) and an instance (the product on an air-gapped site), in a
# temporary folder with the embedded SQLite ledger. The two sides share
# nothing but the codes and files printed below.
# Usage: demo.sh path/to/airlock
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dir=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
mkdir usb

step() { printf '\n== %s\n' "$*"; }
# desk and site run airlock as one side or the other: each side has its own
# folder and sees the other only through usb/ and the typed codes.
desk() { printf 'desk$ airlock %s\n' "$*" >&2; AIRLOCK_AUTHORITY_DIR="$dir/desk" "$bin" "$@"; }
site() { printf 'site$ airlock %s\n' "$*" >&2; AIRLOCK_STATE="$dir/site" "$bin" "$@"; }
size() { printf '   (%s: %s characters with its dashes)\n' "$1" "$(printf %s "$2" | wc -c | tr -d ' ')"; }

# A demo passphrase; a real desk types it at the prompt.
export AIRLOCK_PASSPHRASE=demo-passphrase-not-secret
export AIRLOCK_ACTOR=demo
udi=P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b

step "1. The desk sets up: key, trust file, ledger, a customer and its licenses"
desk authority init --name "ACME licensing"
desk authority org add acme
desk authority account add --org acme plant
desk authority lot add --account acme/plant --tag vms.camera.core --count 25 --perpetual --origin "order 4711"
cp desk/trust.airlock usb/
printf 'the trust file goes to the site once, with the product:\n'
cat usb/trust.airlock

step "2. The site installs the product, trusts the desk and asks for 10 cameras"
site instance init --udi "$udi" --trust usb/trust.airlock
site instance enable
rq=$(site instance request --license vms.camera.core=10 --out usb/request.airlock)
echo "$rq"
size "request code, typed" "$rq"
cat usb/request.airlock

step "3. The desk answers with an authorization code (the USB stick carries it back)"
desk authority reserve --account acme/plant --request usb/request.airlock --out usb/authorization.airlock
cat usb/authorization.airlock
desk code inspect --trust desk/trust.airlock usb/authorization.airlock

step "4. The site installs it; the product may now use 10 cameras"
site instance install-file usb/authorization.airlock
site instance status

step "5. The desk cuts the reservation to 4 cameras, read out over the phone"
au=$(desk authority update --instance "$udi" --license vms.camera.core=4)
echo "$au"
size "authorization code, typed" "$au"
desk authority licenses --account acme/plant

step "6. The site installs the update and reads back its confirmation code"
cf=$(site instance install "$au")
echo "$cf"
size "confirmation code, typed" "$cf"
desk authority confirm "$cf"
desk authority licenses --account acme/plant

step "7. The site returns its reservation; the desk takes the return code"
rt=$(site instance return)
echo "$rt"
size "return code, typed" "$rt"
desk authority return "$rt"
site instance status

step "8. The desk checks its ledger: every license accounted for, history intact"
desk authority licenses --account acme/plant
desk authority history --instance "$udi"
desk authority verify

printf '\ndemo finished in %s (removed on exit)\n' "$dir"
