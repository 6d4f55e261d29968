package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/airlock-dev/airlock/codes"
)

// FuzzReviewRequest posts arbitrary input as a request code to the review
// page: every answer is a page (200 for a request, 4xx for anything else,
// never 500), with the security headers, and nothing is reserved.
func FuzzReviewRequest(f *testing.F) {
	d := newDesk(f)
	b, tok := d.signedIn(ann)
	v := d.device("cam-f", d.f.Authority)
	good := v.request(lic(camera, 1))
	for _, seed := range []string{
		typed(codes.KindRequest, good),
		string(codes.EncodeArmor(codes.KindRequest, good)),
		string(good),
		typed(codes.KindConfirmation, v.confirm([]byte{1, 2, 3, 4}, 1)),
		"RQ-", "", "-----BEGIN AIRLOCK REQUEST-----\n\n-----END AIRLOCK REQUEST-----\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		r := b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {input}})
		if r.StatusCode != http.StatusOK && (r.StatusCode < 400 || r.StatusCode >= 500) {
			t.Fatalf("status %d for %q\n%s", r.StatusCode, input, r.body)
		}
		wantHeaders(t, "review", r)
		bs, err := d.l.As(vera).Licenses(ctx, "acme/plant")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.Reserved != 0 {
				t.Fatalf("the review reserved %d %s", b.Reserved, b.Tag)
			}
		}
	})
}
