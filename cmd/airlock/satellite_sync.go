package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

const satelliteSyncDescription = `sync syncs the satellite with its vendor once, over HTTPS: it makes a
sync request (as 'sync export' does), posts it to the vendor's service
(airlock authority serve at --vendor URL), and imports the answer (as
'sync import' does). The vendor's certificate is checked against the
system's roots, or only against --vendor-ca FILE (the vendor's tls.crt,
PEM) when given. HTTPS_PROXY and NO_PROXY are honoured.

Without network, sync by files with the subcommands: 'sync export' on the
satellite, 'airlock authority sync answer' at the vendor, 'sync import'
back on the satellite.

Example:

    $ airlock satellite sync --dir /srv/sat --vendor https://licensing.example.com:8443 --vendor-ca vendor-tls.crt
    airlock: sync request 4 sent to https://licensing.example.com:8443
    airlock: imported the answer to sync request 4 from "ACME licensing": 1 account, 3 lots, 1 changed
    airlock: lot 2 (the vendor's lot 9) of acme/plant: vms.analytics 4 → 6

Exit status: 0 when synced; 1 when the vendor cannot be reached or
refuses, or the answer does not import; 2 for a wrong command line.`

const satelliteExportDescription = `export makes the satellite's next sync request, signed with its key, and
writes it armored to --out FILE (or standard output): the use of its
licenses since the last answer it imported, per account and tag (peak
and current), its instances, and the reservations made, returned and
removed. Carry it to the vendor, who answers it with 'airlock authority
sync answer'. Each export makes a new request that supersedes the ones
before: only the answer to the latest imports.

Example:

    $ airlock satellite sync export --out /media/usb/sync-request.airlock
    airlock: wrote /media/usb/sync-request.airlock
    airlock: sync request 3 for the period from 2025-05-01T08:00:00Z: acme/plant: 12 instances, 3 reserved, 1 returned, 0 removed; vms.camera.core peak 40 now 38
    airlock: next: at the vendor, 'airlock authority sync answer --out sync-answer.airlock sync-request.airlock'

Exit status: 0 when written; 1 when refused (no satellite, the key does
not open, the clock is behind) or the file cannot be written; 2 for a
wrong command line.`

const satelliteImportDescription = `import applies the vendor's sync answer: the satellite's ledger then
mirrors the licenses of the accounts the vendor delegates to it, in one
transaction. The answer must answer the satellite's latest sync request,
and imports once: a replayed or out-of-order answer is refused and
changes nothing.

Lots the vendor took away are taken out of the satellite's lots; if the
satellite's instances hold more than the vendor now gives (an over-use),
the import applies all the same, warns, and the satellite grants no more
of that tag in that account until returns bring it back within the
vendor's count.

Example:

    $ airlock satellite sync import /media/usb/sync-answer.airlock
    airlock: imported the answer to sync request 3 from "ACME licensing": 1 account, 3 lots, 1 changed
    airlock: lot 1 (the vendor's lot 4) of acme/plant: vms.camera.core 40 → 38
    airlock: warning: over-use: "acme/plant" holds 40 of "vms.camera.core", the vendor gives 38 (2 over): no more are granted until returns bring it within the count

Exit status: 0 when imported (over-use included); 1 when refused; 2 for
a wrong command line.`

func satelliteSyncCommand() *cli.Command {
	return &cli.Command{
		Name:        "sync",
		Usage:       "sync with the vendor once over HTTPS, or by files (export, import)",
		UsageText:   "airlock satellite sync --vendor URL [--vendor-ca FILE] [--dir DIR]",
		Description: satelliteSyncDescription,
		Flags: keyFlags(
			&cli.StringFlag{Name: flagVendor, Usage: "the vendor's service at `URL` (https://host[:port])"},
			&cli.StringFlag{Name: flagVendorCA, Usage: "trust only the certificate(s) in `FILE` (PEM, e.g. the vendor's tls.crt) for the vendor's service"},
		),
		OnUsageError:    onUsageError,
		Action:          satelliteSyncOnce,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:        "export",
				Usage:       "write the satellite's next sync request",
				UsageText:   "airlock satellite sync export [--out FILE] [--to RECIPIENT]... [--dir DIR]",
				Description: satelliteExportDescription,
				Flags: keyFlags(
					&cli.StringFlag{Name: flagOut, Usage: "write the sync request to `FILE` (- for standard output, the default)"},
					&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the file to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
				),
				OnUsageError: onUsageError,
				Action:       satelliteSyncExport,
			},
			{
				Name:         "import",
				Usage:        "apply the vendor's sync answer",
				UsageText:    "airlock satellite sync import [--identity FILE]... [--dir DIR] FILE|-",
				Description:  satelliteImportDescription,
				Flags:        keyFlags(),
				OnUsageError: onUsageError,
				Action:       satelliteSyncImport,
			},
		},
	}
}

func satelliteSyncExport(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	recipients, err := parseRecipientsFlag(c.Command.HelpName, flagTo, c.StringSlice(flagTo))
	if err != nil {
		return err
	}
	d, err := openSatellite(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	ex, err := d.l.ExportSync(d.ctx)
	if err != nil {
		return err
	}
	if err := writeArmoredOut(c, codes.KindSyncRequest, ex.Code, recipients, "the request is recorded but not written: export again (a new request supersedes it)"); err != nil {
		return err
	}
	out := c.String(flagOut)
	stderr := c.App.ErrWriter
	reportExport(stderr, ex)
	name := "FILE"
	if out != "" && out != "-" {
		name = out[strings.LastIndexAny(out, `/\`)+1:]
	}
	note(stderr, "next: at the vendor, 'airlock authority sync answer --out sync-answer.airlock %s'", name)
	return nil
}

// reportExport says what a sync request reports, on standard error.
func reportExport(w io.Writer, ex *authority.SyncExported) {
	r := ex.Request
	note(w, "sync request %d for the period from %s: %s", r.Sequence, unixRFC(r.From), authority.FormatSyncReport(r.Accounts))
	for _, ch := range ex.Settled {
		note(w, "lot %d (the vendor's lot %d) of %s: %s %d → %d", ch.LotID, ch.VendorLot, ch.Account, ch.Tag, ch.From, ch.To)
	}
	for _, o := range ex.Over {
		warn(w, "over-use: %s: no more are granted until returns bring it within the count", o)
	}
}

func satelliteSyncImport(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "FILE|-"); err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	code, err := readCode(c, c.Args().First(), codes.KindSyncAnswer, ids)
	if err != nil {
		return err
	}
	d, err := openSatellite(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	im, err := d.l.ImportSync(d.ctx, code)
	if err != nil {
		return vendorKeyHint(err)
	}
	reportImport(c.App.ErrWriter, im)
	return nil
}

// vendorKeyHint adds, to an answer signed by a key the satellite does not
// know, what to do about it.
func vendorKeyHint(err error) error {
	if errors.Is(err, codes.ErrUnknownKey) || errors.Is(err, codes.ErrKeyWindow) {
		return withHint(err, "if the vendor rotated its key, install its trust update first: 'airlock satellite trust FILE'")
	}
	return err
}

// reportImport says what importing a sync answer changed, on standard
// error.
func reportImport(w io.Writer, im *authority.SyncImported) {
	changed := 0
	for _, ch := range im.Changes {
		if !ch.Added {
			changed++
		}
	}
	note(w, "imported the answer to sync request %d from %q: %s, %s, %d changed", im.Answer.Sequence, im.Vendor,
		plural(len(im.Accounts), "account", "accounts"), plural(im.Lots, "lot", "lots"), changed)
	for _, ch := range im.Changes {
		if ch.Added {
			note(w, "lot %d: %d %s into %s (the vendor's lot %d)", ch.LotID, ch.To, ch.Tag, ch.Account, ch.VendorLot)
			continue
		}
		s := fmt.Sprintf("lot %d (the vendor's lot %d) of %s: %s %d → %d", ch.LotID, ch.VendorLot, ch.Account, ch.Tag, ch.From, ch.To)
		if ch.To != ch.Target {
			s += fmt.Sprintf(" (the vendor gives %d)", ch.Target)
		}
		note(w, "%s", s)
	}
	for _, o := range im.Over {
		warn(w, "over-use: %s: no more are granted until returns bring it within the count", o)
	}
}

func satelliteSyncOnce(c *cli.Context) error {
	if c.NArg() > 0 {
		return groupAction(c)
	}
	cmd := c.Command.HelpName
	if !c.IsSet(flagVendor) {
		return usagef(cmd, "to sync by files, use 'airlock satellite sync export' and 'airlock satellite sync import'",
			"missing --%s URL: the vendor's service to sync with over HTTPS", flagVendor)
	}
	v, err := newVendorClient(cmd, c.String(flagVendor), c.String(flagVendorCA))
	if err != nil {
		return err
	}
	d, err := openSatellite(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	stderr := c.App.ErrWriter
	ex, im, err := syncOverHTTPS(d.ctx, d.l, v)
	if ex != nil {
		note(stderr, "sync request %d sent to %s", ex.Request.Sequence, v.base)
	}
	if err != nil {
		return err
	}
	for _, o := range ex.Over {
		warn(stderr, "over-use before the sync: %s", o)
	}
	reportImport(stderr, im)
	return nil
}

// syncOverHTTPS syncs once: a new sync request, posted to the vendor, and
// its answer imported. The request is recorded before it is sent; if the
// answer is lost, the next sync makes a new request, which covers the
// lost one's period too.
func syncOverHTTPS(ctx context.Context, l *authority.Ledger, v *vendorClient) (*authority.SyncExported, *authority.SyncImported, error) {
	ex, err := l.ExportSync(ctx)
	if err != nil {
		return nil, nil, err
	}
	answer, err := v.sync(ctx, ex.Code)
	if err != nil {
		return ex, nil, err
	}
	im, err := l.ImportSync(ctx, answer)
	return ex, im, vendorKeyHint(err)
}

// Timeouts of the vendor client: a sync file may be megabytes on a slow
// line, and the vendor may wait for its ledger's write lock.
const (
	vendorDialTimeout = 15 * time.Second
	vendorSyncTimeout = 5 * time.Minute
	maxVendorURLLen   = 2048
)

// errVendor means the vendor's service refused a sync request or could
// not be reached.
var errVendor = errors.New("sync with the vendor failed")

// A vendorClient posts sync requests to the vendor's service.
type vendorClient struct {
	base string // https://host[:port]
	http *http.Client
}

// newVendorClient checks the vendor's URL and reads the CA file, if any.
func newVendorClient(cmd, raw, caFile string) (*vendorClient, error) {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxVendorURLLen:
		return nil, usagef(cmd, "", "--%s has %d characters, the limit is %d", flagVendor, len(raw), maxVendorURLLen)
	case err != nil:
		return nil, usagef(cmd, "for example: --vendor https://licensing.example.com:8443", "--%s %q: %v", flagVendor, raw, err)
	case u.Scheme != "https" || u.Host == "" || u.Hostname() == "":
		return nil, usagef(cmd, "for example: --vendor https://licensing.example.com:8443", "--%s %q: the vendor's service speaks HTTPS: write https://host[:port]", flagVendor, raw)
	case u.User != nil, u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, usagef(cmd, "for example: --vendor https://licensing.example.com:8443", "--%s %q: give the host and port only, no user, path or query", flagVendor, raw)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := readFile(caFile, maxCertFileSize)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, withHint(fmt.Errorf("%w: --%s %s holds no PEM certificate", authority.ErrInvalid, flagVendorCA, caFile),
				"give the vendor's tls.crt (BEGIN CERTIFICATE)")
		}
		cfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   vendorDialTimeout,
		ResponseHeaderTimeout: vendorSyncTimeout,
		MaxIdleConns:          1,
		IdleConnTimeout:       time.Minute,
	}
	return &vendorClient{
		base: u.Scheme + "://" + u.Host,
		http: &http.Client{
			Transport: tr,
			Timeout:   vendorSyncTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return errors.New("the vendor's service answered with a redirect, which airlock never follows")
			},
		},
	}, nil
}

// sync posts a sync request and returns the answer's code.
func (v *vendorClient) sync(ctx context.Context, request []byte) ([]byte, error) {
	body, err := json.Marshal(api.SyncFile{Code: request})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+api.PathSync, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", api.ContentType)
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("%w: %s: %v", errVendor, v.base, err),
			"check --vendor and the network; with --vendor-ca, that the file is the vendor's tls.crt")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxSyncBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer of %s: %v", errVendor, v.base, err)
	}
	if len(data) > api.MaxSyncBody {
		return nil, fmt.Errorf("%w: the answer of %s has more than %d bytes", errVendor, v.base, api.MaxSyncBody)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return nil, fmt.Errorf("%w: %s answered %s", errVendor, v.base, resp.Status)
		}
		err := fmt.Errorf("%w: %s refused the sync request (%d %s): %s", errVendor, v.base, resp.StatusCode, e.Code, clip(e.Message, 1024))
		switch e.Code {
		case api.CodeUnauthenticated:
			return nil, withHint(err, "the vendor does not know this satellite's key: have it register this satellite's trust.airlock ('airlock authority satellite add')")
		case api.CodeRefused:
			return nil, withHint(err, "have the vendor register this satellite ('airlock authority satellite list' at the vendor)")
		case api.CodeReplayed, api.CodeConflict:
			return nil, withHint(err, "sync again: each sync makes a new request")
		}
		return nil, err
	}
	var out api.SyncFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || len(out.Code) == 0 {
		return nil, fmt.Errorf("%w: the answer of %s is not a sync answer: %v", errVendor, v.base, err)
	}
	return out.Code, nil
}

// clip makes s, from the vendor's service, one printable line of at most
// n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
