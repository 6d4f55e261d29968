package web_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var historyRowRE = regexp.MustCompile(`<tr><td class="n">(\d+)</td>`)

// historyIDs returns the event numbers of a history page, in its order.
func historyIDs(t *testing.T, body string) []int {
	t.Helper()
	var out []int
	for _, m := range historyRowRE.FindAllStringSubmatch(body, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

var historyNextRE = regexp.MustCompile(`<a href="([^"]+)" rel="next">Older events</a>`)

// TestHistoryPageShowsTheOrganizationsEventsNewestFirst: acme's history,
// newest first, 100 a page with a link to older ones that keeps the
// filters; only acme's events, for the vendor too; code hashes where
// events carry them; filters by account, instance and date.
func TestHistoryPageShowsTheOrganizationsEventsNewestFirst(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	admin := d.l.As(ann)
	for range 60 {
		_, err := admin.Transfer(ctx, "acme/plant", "acme/lab", analytics, 1)
		d.must(err)
		_, err = admin.Transfer(ctx, "acme/lab", "acme/plant", analytics, 1)
		d.must(err)
	}
	for _, who := range []string{vic, vera} {
		b, _ := d.signedIn(who)
		page := b.get("/orgs/acme/history")
		page.want(t, 200, "Events of acme, newest first", `<label for="account">`, `<label for="instance">`, `<label for="since">`, "Show events")
		ids := historyIDs(t, page.body)
		if len(ids) != 100 {
			t.Fatalf("%s: %d events on the first page", who, len(ids))
		}
		var all []int
		for {
			all = append(all, historyIDs(t, page.body)...)
			m := historyNextRE.FindStringSubmatch(page.body)
			if m == nil {
				break
			}
			page = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
			page.want(t, 200, "older page")
		}
		for i := 1; i < len(all); i++ {
			if all[i] >= all[i-1] {
				t.Fatalf("%s: not newest first: %d after %d", who, all[i], all[i-1])
			}
		}
		if len(all) < 120 {
			t.Fatalf("%s: %d events in all", who, len(all))
		}
		if strings.Contains(page.body, "globex") {
			t.Fatalf("%s: acme's history shows globex", who)
		}
	}
	b, _ := d.signedIn(ann)
	inst := b.get("/orgs/acme/history?instance=" + url.QueryEscape("P:VMS,S:cam-1"))
	inst.want(t, 200, ">reserve<", hexHash(f.res.Code), `value="P:VMS,S:cam-1"`)
	if ids := historyIDs(t, inst.body); len(ids) != 1 {
		t.Fatalf("cam-1 has %d events", len(ids))
	}
	lab := b.get("/orgs/acme/history?account=lab")
	lab.want(t, 200, `<option value="lab" selected>`)
	if ids := historyIDs(t, lab.body); len(ids) != 100 || !strings.Contains(lab.body, "account=lab") {
		t.Fatalf("lab: %d events, next link keeps the filter: %v", len(ids), strings.Contains(lab.body, "account=lab"))
	}
	future := b.get("/orgs/acme/history?since=2030-01-01")
	future.want(t, 200, "No events match.", `value="2030-01-01"`)
	b.get("/orgs/acme/history?since="+url.QueryEscape(t0.Format("2006-01-02T15:04:05Z"))).want(t, 200)
	// Globex's instance in acme's history has no events there.
	b.get("/orgs/acme/history?instance="+url.QueryEscape(f.udiG)).want(t, 200, "No events match.")
}

// TestHistoryPageRefusals: another organization's people are refused;
// an account of another organization is refused as an unknown one; bad
// filters get a clear message, escaped.
func TestHistoryPageRefusals(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	g, _ := d.signedIn(gus)
	g.get("/orgs/acme/history").want(t, 403)
	b, _ := d.signedIn(ann)
	theirs := b.get("/orgs/acme/history?account=hq")
	nobody := b.get("/orgs/acme/history?account=nothing")
	theirs.want(t, 404, `no account &#34;hq&#34;`)
	nobody.want(t, 404)
	// Both pages carry the session's form token, random base64, which
	// holds "hq" now and then: it is left out of the comparison.
	tok := theirs.token()
	if strings.ReplaceAll(strings.ReplaceAll(theirs.body, tok, ""), "hq", "X") != strings.ReplaceAll(strings.ReplaceAll(nobody.body, tok, ""), "nothing", "X") {
		t.Fatal("another organization's account is told apart from an unknown one")
	}
	b.get("/orgs/acme/history?account="+url.QueryEscape("globex/hq")).want(t, 400)
	for _, q := range []string{
		"since=" + url.QueryEscape("<b>yesterday</b>"),
		"since=2026-13-45",
		"before=-1",
		"before=" + url.QueryEscape("<i>"),
		"instance=" + url.QueryEscape("<script>alert(1)</script>"),
		"account=" + url.QueryEscape("<script>"),
	} {
		r := b.get("/orgs/acme/history?" + q)
		r.want(t, 400)
		if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<b>yesterday") || strings.Contains(r.body, "<i>") {
			t.Fatalf("%s: unescaped:\n%s", q, r.body)
		}
	}
	b.get(fmt.Sprintf("/orgs/acme/history?before=%d", 1<<62)).want(t, 200)
}
