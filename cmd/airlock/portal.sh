#!/bin/sh
# make portal: the web portal of 'airlock authority serve --portal' on this
# machine, with a demo desk to sign in to: the organization acme (accounts
# plant and lab) and globex, three people with demo passwords, an
# instance whose request code waits in a file, ready to paste, a product
# with a license key to redeem, and device fleets whose gateway activated
# cameras and locks (the locks' codes end within 30 days).
# Usage: portal.sh path/to/airlock
#   PORTAL_DIR=DIR      keep the desk in DIR (seeded when DIR has none yet;
#                       default: a new temporary folder, removed on exit)
#   PORTAL_LISTEN=ADDR  listen on ADDR (default 127.0.0.1:8443)
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
listen=${PORTAL_LISTEN:-127.0.0.1:8443}
if [ -n "${PORTAL_DIR:-}" ]; then
	mkdir -p "$PORTAL_DIR"
	dir=$(cd "$PORTAL_DIR" && pwd)
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/airlock-portal.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
fi
# Ctrl-C ends serve, then the script, through the EXIT trap.
trap 'exit 130' INT TERM
cd "$dir"

# Demo secrets, printed below: never use them for a real desk.
export AIRLOCK_PASSPHRASE=demo-passphrase-not-secret
export AIRLOCK_AUTHORITY_DIR="$dir/desk"
export AIRLOCK_STATE="$dir/site"
sam_pw=sam-demo-password
ann_pw=ann-demo-password
vic_pw=vic-demo-password
udi=P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b

desk() { "$bin" authority "$@"; }
site() { "$bin" instance "$@"; }

if [ ! -e desk/ledger.db ]; then
	echo "== seeding a demo desk in $dir/desk"
	year=$(date -u +%Y)
	term="$year-01-01..$((year + 2))-12-31"
	export AIRLOCK_ACTOR=demo
	desk init --name "ACME licensing (demo)"
	desk org add acme
	desk account add --org acme plant
	desk account add --org acme lab
	desk lot add --account acme/plant --tag vms.camera.core --count 25 --perpetual --origin "order 4711"
	desk lot add --account acme/plant --tag vms.analytics --count 4 --term "$term" --origin "order 4712"
	desk lot add --account acme/lab --tag vms.camera.core --count 5 --term "$term" --origin "evaluation"
	desk org add globex
	desk account add --org globex hq
	desk lot add --account globex/hq --tag vms.camera.core --count 12 --perpetual --origin "order 5001"
	desk person add --email sam@vendor.example --name Sam --role vendor
	export AIRLOCK_ACTOR=sam@vendor.example
	desk person add --email ann@acme.example --name Ann --role admin --org acme
	desk person add --email vic@acme.example --name Vic --role viewer --org acme
	printf '%s\n' "$sam_pw" | desk person password --email sam@vendor.example --password-stdin
	printf '%s\n' "$ann_pw" | desk person password --email ann@acme.example --password-stdin
	printf '%s\n' "$vic_pw" | desk person password --email vic@acme.example --password-stdin

	echo "== an instance on the site asks for 10 cameras and 2 analytics"
	site init --udi "$udi" --trust desk/trust.airlock
	site enable
	site request --license vms.camera.core=10 --license vms.analytics=2 >request.txt

	echo "== a product with a wallet, and codes to hand over, in codes.txt"
	desk product add --org acme --software vms site-1
	{
		echo "License key for acme's wallet (Wallet page):"
		desk key issue --product vms --tag vms.camera.core --count 10 --years 3
		echo "Serial number on a certificate (Serials page):"
		desk serial issue --product vms --tag vms.camera.core --count 10 --support-until $((year + 1))-12-31
		echo "Upgrade notification for acme (Upgrades page):"
		desk upgrade issue --from vms:vms.camera.core --to vms-pro:vmspro.camera --quantity 5 --org acme
	} >codes.txt
	echo "== a release of vms, for the Downloads page's manifest"
	desk release add --name vms-server --version 4.2.0 --software vms --file-name vms-server-4.2.0-linux.tar.gz \
		--sha256 9f2c6e0d1b7a4c3e8f5a2b9d0c1e4f7a6b3d8e2c5f9a0b1c4d7e2f5a8b0c3d6e --size 48213

	echo "== device fleets: cameras on annual codes, locks on 20-day trial codes"
	desk pool product add --org acme --pk PK-CAM --name cameras --auto-renew
	desk pool product add --org acme --pk PK-LOCK --name locks
	desk pool buy --org acme --package annual --validity 1y --count 100 --reference PO-7
	desk pool buy --org acme --package trial --validity 20d --count 20 --reference PO-8
	desk pool allocate --org acme --product PK-CAM --package annual --count 40 --yes
	desk pool allocate --org acme --product PK-LOCK --package trial --count 10 --yes
	gw="$dir/gateway"
	"$bin" instance --state "$gw" init --udi P:GW,S:gw-1,U:5b1e7c2a-3d4f-4a6b-8c9d-0e1f2a3b4c5d --trust desk/trust.airlock
	"$bin" instance --state "$gw" device add --pk PK-CAM cam-001 cam-002 cam-003
	"$bin" instance --state "$gw" device add --pk PK-LOCK lock-01 lock-02
	"$bin" instance --state "$gw" activation request --out gw-request.airlock
	desk activation process --out gw-activation.airlock gw-request.airlock
	"$bin" instance --state "$gw" activation install gw-activation.airlock
fi

case $listen in
:*) url=https://localhost$listen/ ;;
*) url=https://$listen/ ;;
esac

cat <<EOF

== the portal: $url
Sign in as
  ann@acme.example    password $ann_pw   administrator of acme: reserve, enter codes
  vic@acme.example    password $vic_pw   viewer of acme: reads only
  sam@vendor.example  password $sam_pw   vendor support: every organization
License key, serial number and upgrade notification to enter: $dir/codes.txt
Paste the request code in $dir/request.txt
(or upload it) on acme's Reserve page, then install the authorization file
you download on the demo site:
  AIRLOCK_STATE=$dir/site $bin instance install-file FILE

The certificate is the desk's own, self-signed: $dir/desk/tls.crt.
Either accept the browser's warning once (check that the SHA-256 it shows
is the one serve prints below), or trust the file: in Firefox, Settings >
Privacy & Security > Certificates > View Certificates > Servers > Import;
for Chromium on Linux,
  certutil -d sql:\$HOME/.pki/nssdb -A -t P,, -n airlock-portal -i $dir/desk/tls.crt
(libnss3-tools), and certutil -d sql:\$HOME/.pki/nssdb -D -n airlock-portal
when done.
Ctrl-C stops the portal$(if [ -z "${PORTAL_DIR:-}" ]; then echo " and removes the folder (PORTAL_DIR=DIR keeps it)"; fi).

EOF
desk serve --portal --listen "$listen"
