package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// The portal's cost over the library: each page benchmarked with the
// library calls behind it, on one ledger of an organization with
// benchReservations reservations and benchDevices devices, half of them
// near expiry. The ratio page/library is the portal's own share (the
// session lookup, the role check, the template); B/page the HTML sent.

const (
	benchReservations = 200
	benchDevices      = 1000
)

func benchDesk(b *testing.B) (*desk, *browser) {
	b.Helper()
	d := newDesk(b)
	v := d.l.As(vera)
	_, err := v.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: benchReservations})
	d.must(err)
	for i := range benchReservations {
		dev := d.device(fmt.Sprintf("bench-%04d", i), d.f.Authority)
		_, err := v.ReserveIn(ctx, "acme", "plant", dev.request(lic(camera, 1)), nil)
		d.must(err)
	}
	year, trial := authority.Validity{Years: 1}, authority.Validity{Days: 20}
	for _, p := range []struct {
		pk, pkg string
		val     *authority.Validity
	}{{"PK-CAM", "annual", &year}, {"PK-LOCK", "trial", &trial}} {
		_, err := v.AddFleetProduct(ctx, "acme", p.pk, p.pk, true)
		d.must(err)
		_, err = v.BuyCodes(ctx, "acme", p.pkg, p.val, benchDevices, p.pk, "PO-bench")
		d.must(err)
	}
	var cams, locks []string
	for i := range benchDevices / 2 {
		cams = append(cams, fmt.Sprintf("cam-%04d", i))
		locks = append(locks, fmt.Sprintf("lock-%04d", i))
	}
	fleetActivate(d, d.device("gw-bench", d.f.Authority), map[string][]string{"PK-CAM": cams, "PK-LOCK": locks})
	br, _ := d.signedIn(ann)
	return d, br
}

func BenchmarkPortal(b *testing.B) {
	d, br := benchDesk(b)
	as := d.l.As(ann)
	udi := d.device("bench-0100", d.f.Authority).udi.String()
	pages := []struct {
		name, path string
		library    func() error
	}{
		{"licenses", "/orgs/acme/licenses", func() error {
			_, _, err := as.OrgBalances(ctx, "acme")
			return err
		}},
		{"instance", "/orgs/acme/instances/" + url.PathEscape(udi), func() error {
			_, err := as.ShowIn(ctx, "acme", udi)
			return err
		}},
		{"history", "/orgs/acme/history", func() error {
			_, _, err := as.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Limit: 100})
			return err
		}},
		{"near-expiry", "/orgs/acme/devices/near-expiry", func() error {
			_, err := as.DevicesIn(ctx, authority.DeviceQuery{Org: "acme", NearExpiry: true, Limit: 50}, 0)
			return err
		}},
	}
	for _, p := range pages {
		b.Run(p.name+"/page", func(b *testing.B) {
			var size int
			for b.Loop() {
				r := br.get(p.path)
				if r.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d\n%s", p.path, r.StatusCode, r.body)
				}
				size = len(r.body)
			}
			b.ReportMetric(float64(size), "B/page")
		})
		b.Run(p.name+"/library", func(b *testing.B) {
			for b.Loop() {
				if err := p.library(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
