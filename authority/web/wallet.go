package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The pages of products, their wallets and subscriptions (README
// runbooks 11 and 12): each is a call of the library as the person, the
// one `airlock authority product|wallet|subscription|hardware` makes.
// Every change that cannot be undone is shown first: a license key by
// CheckRedeem, a start, an allocation and an extension by their dry
// runs, a system description and a delivery by what they would act on.
func (s *server) walletRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/wallet", s.inOrg(s.walletPage))
	m.HandleFunc("POST /orgs/{org}/wallet/product", s.inOrg(s.walletAddProduct))
	m.HandleFunc("POST /orgs/{org}/wallet/review", s.inOrg(s.walletRedeemReview))
	m.HandleFunc("POST /orgs/{org}/wallet/redeem", s.inOrg(s.onceInOrg(s.walletRedeem)))
	m.HandleFunc("GET /orgs/{org}/subscriptions", s.inOrg(s.subsPage))
	m.HandleFunc("POST /orgs/{org}/subscriptions/start", s.inOrg(s.onceInOrg(s.subsStart)))
	m.HandleFunc("POST /orgs/{org}/subscriptions/allocate", s.inOrg(s.onceInOrg(s.subsAllocate)))
	m.HandleFunc("POST /orgs/{org}/subscriptions/extend", s.inOrg(s.onceInOrg(s.subsExtend)))
	m.HandleFunc("POST /orgs/{org}/subscriptions/register", s.inOrg(s.subsRegister))
	m.HandleFunc("POST /orgs/{org}/subscriptions/deliver", s.inOrg(s.onceInOrg(s.subsDeliver)))
	m.HandleFunc("POST /orgs/{org}/subscriptions/download", s.inOrg(s.subsDownload))
}

// A walletView is one product and its wallet.
type walletView struct {
	Product authority.Product
	Wallet  *authority.Wallet
	Tags    []walletTag
}

// A walletTag sums a wallet's lots of one tag: what is free (in lots not
// expired), what was taken out of them, and what expired unused.
type walletTag struct {
	Tag       string
	Extension bool
	Free      int64
	Taken     int64
	Expired   int64
}

// tags sums the wallet's lots per tag and kind, in the order of
// Wallet.Totals (by tag).
func walletTags(w *authority.Wallet) []walletTag {
	var out []walletTag
	find := func(tag string, ext bool) *walletTag {
		for i := range out {
			if out[i].Tag == tag && out[i].Extension == ext {
				return &out[i]
			}
		}
		out = append(out, walletTag{Tag: tag, Extension: ext})
		return &out[len(out)-1]
	}
	for _, l := range w.Lots {
		t := find(l.Tag, l.Extension)
		t.Taken += l.Initial - l.Count
		if l.Expired(w.At) {
			t.Expired += l.Count
		} else {
			t.Free += l.Count
		}
	}
	slices.SortStableFunc(out, func(a, b walletTag) int {
		if c := strings.Compare(a.Tag, b.Tag); c != 0 {
			return c
		}
		return walletCmpBool(a.Extension, b.Extension)
	})
	return out
}

// walletCmpBool orders false before true.
func walletCmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

type walletData struct {
	Products []walletView
	Product  string // the product a form preselects
}

// walletViews returns the organization's products with their wallets.
func (s *server) walletViews(r *http.Request, ss *session, acc *authority.Access) ([]walletView, error) {
	ps, err := ss.l.Products(r.Context(), acc.Org.Name)
	if err != nil {
		return nil, err
	}
	out := make([]walletView, 0, len(ps))
	for _, p := range ps {
		w, err := ss.l.Wallet(r.Context(), acc.Org.Name, p.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, walletView{Product: p, Wallet: w, Tags: walletTags(w)})
	}
	return out, nil
}

// wallet shows the organization's products and their wallets: what
// `airlock authority product list` and `wallet show` print, for each.
func (s *server) walletPage(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	vs, err := s.walletViews(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "wallet.html", ss.page("Wallet", acc, &walletData{Products: vs, Product: r.URL.Query().Get("product")}))
}

// addProduct adds a product, as `airlock authority product add`, and
// goes back to the wallet.
func (s *server) walletAddProduct(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	p, err := ss.l.AddProduct(r.Context(), acc.Org.Name, strings.TrimSpace(onlyValue(r, "name")), strings.TrimSpace(onlyValue(r, "software")))
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+acc.Org.Name+"/wallet?product="+p.Name+"#product-"+p.Name, http.StatusSeeOther)
}

type walletRedeemData struct {
	Product  string
	Key      string // as typed, for the next form
	Redeemed *authority.Redeemed
	Wallet   *walletView // after the redemption
}

// walletKey returns the license key of the form, bounded: ParseKey
// refuses a longer one in its own words.
func walletKey(r *http.Request) string { return onlyValue(r, "key") }

// redeemReview says what a license key brings into a product's wallet,
// with every check of the redemption and no change (CheckRedeem).
func (s *server) walletRedeemReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, key := onlyValue(r, "product"), walletKey(r)
	rd, err := ss.l.CheckRedeem(r.Context(), acc.Org.Name, product, key)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "wallet_review.html", ss.page("Review the license key", acc, &walletRedeemData{Product: product, Key: strings.TrimSpace(key), Redeemed: rd}))
}

// redeem redeems the key reviewed, as `airlock authority wallet redeem`,
// and shows the wallet after it.
func (s *server) walletRedeem(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, key := onlyValue(r, "product"), walletKey(r)
	rd, err := ss.l.Redeem(r.Context(), acc.Org.Name, product, key)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &walletRedeemData{Product: product, Redeemed: rd}
	if wl, err := ss.l.Wallet(r.Context(), acc.Org.Name, product); err == nil {
		d.Wallet = &walletView{Product: wl.Product, Wallet: wl, Tags: walletTags(wl)}
	}
	s.render(w, r, http.StatusOK, "wallet_redeemed.html", ss.page("License key redeemed", acc, d))
}

// walletFormTag reads an optional tag from a form field.
func walletFormTag(r *http.Request, field string) (string, error) {
	tag := strings.TrimSpace(onlyValue(r, field))
	if tag == "" {
		return "", nil
	}
	if codes.CheckTag(tag) != nil {
		return "", &pageError{status: http.StatusBadRequest, title: "Not a tag",
			msg:  fmt.Sprintf("%q is not a license tag: a tag has 1 to %d printable ASCII characters, no space and no '='.", shown(tag), codes.MaxTagLen),
			hint: "Leave the tag empty to take the only tag of the demand or the wallet, or type one the wallet holds."}
	}
	return tag, nil
}

// walletReviewing reports whether a form asks for the review (a dry run) of a
// change rather than the change: its button sends step=review.
func walletReviewing(r *http.Request) bool { return onlyValue(r, "step") != "do" }
