package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
)

// Limits of --sync-interval: a minute keeps a misconfigured satellite
// from loading the vendor; 30 days is as long as an answer may wait
// before instances notice licenses the vendor took away.
const (
	defaultSyncInterval = time.Hour
	minSyncInterval     = time.Minute
	maxSyncInterval     = 30 * 24 * time.Hour
	// firstRetry is how long a failed sync waits before it is tried
	// again; each failure doubles it, up to the interval.
	firstRetry = time.Minute
)

const satelliteServeDescription = `serve serves the site's instances over HTTPS exactly as 'airlock
authority serve' does at the vendor (the same API, flags, certificate and
limits: see airlock-authority-serve(1)), on the satellite's ledger, and
with --vendor URL syncs with the vendor's service: once at start, then
every --sync-interval (1h by default, 1m to 30 days), as 'airlock
satellite sync' does. A failed sync is logged and tried again after a
minute, then after twice as long each time, up to the interval; the
instances keep being served meanwhile from what the last answer gave.
Without --vendor the satellite serves its instances and syncs by files
('airlock satellite sync export' and 'import', beside serve).

Instances pin the satellite's certificate: 'airlock instance transport
--satellite https://HOST:PORT --ca tls.crt', with the satellite's
trust.airlock.

Example:

    $ airlock satellite serve --dir /srv/sat --listen :8443 --vendor https://licensing.example.com:8443 --vendor-ca vendor-tls.crt
    airlock: serving satellite "plant-sat" on https://[::]:8443 with key 7c1f09a2b3d4e5f6
    airlock: TLS certificate /srv/sat/tls.crt, SHA-256 3F:9A:…:C2, valid until 2035-06-01
    airlock: instances pin it: airlock instance transport --satellite https://HOST:8443 --ca tls.crt
    airlock: syncing with https://licensing.example.com:8443 every 1h0m0s
    airlock: sync request 5 sent to https://licensing.example.com:8443
    airlock: imported the answer to sync request 5 from "ACME licensing": 1 account, 3 lots, 0 changed
    ^C
    airlock: stopping: finishing the requests in flight
    airlock: stopped

Exit status: 0 when stopped by a signal; 1 when it cannot start; 2 for a
wrong command line. A failed sync does not stop it.`

func satelliteServeCommand() *cli.Command {
	base := authorityServeCommand()
	// The portal is the vendor's desk: a satellite serves none.
	flags := slices.DeleteFunc(base.Flags, func(f cli.Flag) bool { return f.Names()[0] == flagPortal })
	return &cli.Command{
		Name:        "serve",
		Usage:       "serve the site's instances over HTTPS and sync with the vendor",
		UsageText:   "airlock satellite serve --listen ADDR [--vendor URL [--vendor-ca FILE] [--sync-interval DURATION]] [--tls-cert FILE --tls-key FILE] [--quiet] [--dir DIR]",
		Description: satelliteServeDescription,
		Flags: append(flags,
			&cli.StringFlag{Name: flagVendor, Usage: "sync with the vendor's service at `URL` (https://host[:port])"},
			&cli.StringFlag{Name: flagVendorCA, Usage: "trust only the certificate(s) in `FILE` (PEM, e.g. the vendor's tls.crt) for the vendor's service"},
			&cli.DurationFlag{Name: flagSyncInterval, Value: defaultSyncInterval, Usage: "sync every `DURATION` (e.g. 30m, 1h, 24h)"},
		),
		OnUsageError: onUsageError,
		Action:       satelliteServe,
	}
}

func satelliteServe(c *cli.Context) error {
	cmd, stderr := c.Command.HelpName, c.App.ErrWriter
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	if _, err := satelliteDir(c); err != nil {
		return err
	}
	sf, err := checkServeFlags(c, satelliteFolder)
	if err != nil {
		return err
	}
	interval := c.Duration(flagSyncInterval)
	if interval < minSyncInterval || interval > maxSyncInterval {
		return usagef(cmd, "for example: --sync-interval 1h", "--%s %s is not from %s to %s", flagSyncInterval, interval, minSyncInterval, maxSyncInterval)
	}
	var vendor *vendorClient
	if c.IsSet(flagVendor) {
		if vendor, err = newVendorClient(cmd, c.String(flagVendor), c.String(flagVendorCA)); err != nil {
			return err
		}
	} else if c.IsSet(flagVendorCA) || c.IsSet(flagSyncInterval) {
		return usagef(cmd, "for example: --vendor https://licensing.example.com:8443", "--%s and --%s go with --%s", flagVendorCA, flagSyncInterval, flagVendor)
	}

	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	st, err := d.l.SatelliteStatus(d.ctx)
	if err != nil {
		return err
	}
	trust, err := readDeskTrust(d.dir)
	if err != nil {
		return err
	}
	cert, now, err := serveCert(stderr, sf, satelliteFolder, d.dir, st.Name)
	if err != nil {
		return err
	}
	ln, err := serveListen(c, sf.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	out := &lineWriter{w: stderr}
	opts := serviceOptions(c, trust, out)
	opts.Satellite = true
	svc := service.New(d.l, opts)
	noteServing(stderr, fmt.Sprintf("satellite %q", st.Name), "satellite", ln.Addr(), publicAddr(ln.Addr(), cert.Leaf, sf.hosts), trust, now, sf.certPath, cert.Leaf)
	var syncs func(context.Context)
	if vendor == nil {
		note(stderr, "no --vendor: sync by files ('airlock satellite sync export', then 'import')")
	} else {
		note(stderr, "syncing with %s every %s", vendor.base, interval)
		syncs = func(ctx context.Context) { syncLoop(ctx, d.l, vendor, interval, out) }
	}
	return runService(svc, ln, cert, out, syncs)
}

// syncLoop syncs with the vendor at once, then every interval, until ctx
// is done. A failure is logged and retried after firstRetry, doubling up
// to interval.
func syncLoop(ctx context.Context, l *authority.Ledger, v *vendorClient, interval time.Duration, out *lineWriter) {
	wait, retry := time.Duration(0), firstRetry
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ex, im, err := syncOverHTTPS(ctx, l, v)
		if ctx.Err() != nil {
			return
		}
		if ex != nil {
			out.note("sync request %d sent to %s", ex.Request.Sequence, v.base)
		}
		if err != nil {
			out.warn("sync with the vendor failed: %s; trying again in %s", oneLine(err.Error()), retry)
			for _, h := range hintsFor(err) {
				out.note("hint: %s", h)
			}
			wait, retry = retry, min(2*retry, interval)
			continue
		}
		var b strings.Builder
		reportImport(&b, im)
		out.write(b.String())
		wait, retry = interval, firstRetry
	}
}
