package authority

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// The files a person exchanges with a site at the portal, for one
// organization: a gateway's activation request, an instance's usage
// report, an instance's export request code. The desk's own calls
// (ProcessActivation, ImportUsage, AnswerExportRequest) take them from
// any organization; these take the organization first, as a page names
// it, check in the call's own transaction that the actor manages it, and
// refuse a file of another organization in the words of one the ledger
// does not know, having changed nothing. Each has a review that opens
// the file and says what it would do, changing nothing.

// An ActivationReview is what a gateway's activation request lists,
// verified, before it is processed.
type ActivationReview struct {
	Request *codes.ActivationRequest
	Hash    []byte   // SHA-256 of the binary request
	Gateway *Gateway // nil when the request would pin a new gateway
	// Products are the request's product keys, in its order, with what
	// the organization's products have left.
	Products []ReviewedProduct
	// Answered is the activation file signed for this very request, or
	// nil: processing it again serves the same file and consumes nothing.
	Answered   []byte
	AnsweredAt int64 // Unix seconds
	// KeyChanged is set when the request carries another key than the
	// one its gateway was pinned to: processing it is refused
	// (ErrGatewayKey) until the old key is retired (RetireGateway).
	KeyChanged bool
}

// A ReviewedProduct is one product key of an activation request.
type ReviewedProduct struct {
	PK     string
	Listed int
	// Ours is set when the organization has a product with this key;
	// the rest are refused (a key of another organization's product is
	// not told from an unknown one).
	Ours      bool
	Name      string
	Deleted   bool
	Pooled    bool  // codes were ever allocated to it
	Valid     int   // listed devices that hold a valid code now
	Remaining int64 // codes left
}

// ReviewActivationIn opens a gateway's activation request (binary) for
// an actor who may manage org and says what it lists and what org's
// products have left. It changes nothing. A request of a gateway of
// another organization, or that lists none of org's products while its
// gateway is new, is refused as one org cannot answer.
func (l *Ledger) ReviewActivationIn(ctx context.Context, org string, code []byte) (*ActivationReview, error) {
	req, err := l.openActivationRequest(code)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(code)
	var out *ActivationReview
	err = l.view(ctx, func(tx ReadTx) error {
		out = &ActivationReview{Request: req, Hash: h[:]}
		gw, err := tx.Gateway(req.UDI.String())
		if err != nil {
			return err
		}
		prev, err := tx.ActivationAnswer(out.Hash)
		if err != nil {
			return err
		}
		if prev != nil {
			if gw, err = tx.GatewayByID(prev.GatewayID); err != nil {
				return err
			}
			if gw == nil {
				return fmt.Errorf("%w: the stored answer names gateway %d, which is missing", ErrCorrupt, prev.GatewayID)
			}
			out.Answered, out.AnsweredAt = prev.Code, prev.At
		}
		products := make([]*FleetProduct, len(req.Products))
		for i, g := range req.Products {
			if products[i], err = tx.FleetProduct(g.ProductKey); err != nil {
				return err
			}
		}
		o, err := l.gatewayOf(tx, org, req, gw, products)
		if err != nil {
			return err
		}
		// Processing refuses a request with another key than the one
		// its gateway was pinned to; the review says so.
		out.KeyChanged = prev == nil && gw != nil && len(gw.PublicKey) > 0 && !bytes.Equal(gw.PublicKey, req.InstanceKey)
		out.Gateway = gw
		now := l.now()
		for i, g := range req.Products {
			r := ReviewedProduct{PK: g.ProductKey, Listed: len(g.Devices)}
			if p := products[i]; p != nil && p.OrgID == o.ID {
				r.Ours, r.Name, r.Deleted, r.Pooled, r.Remaining = true, p.Name, p.Deleted(), p.SpecID != 0, p.Remaining()
				known, err := knownDevices(tx, p, g.Devices)
				if err != nil {
					return err
				}
				for _, d := range known {
					if now < d.Until {
						r.Valid++
					}
				}
			}
			out.Products = append(out.Products, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ProcessActivationIn is ProcessActivation for an actor who may manage
// org, of a request whose gateway is org's (or, new, lists one of org's
// products): checked in its transaction before anything is pinned,
// renewed or consumed. A product key of another organization is refused
// as the desk refuses it, and reported here as an unknown one, so that
// the page tells org nothing of another organization's products.
func (l *Ledger) ProcessActivationIn(ctx context.Context, org string, code []byte) (*Activated, error) {
	a, err := l.processActivation(ctx, code, func(tx Tx, req *codes.ActivationRequest, gw *Gateway, products []*FleetProduct) error {
		_, err := l.gatewayOf(tx, org, req, gw, products)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range a.Products {
		if p := &a.Products[i]; p.Reason == codes.RefusedOtherGateway {
			p.Reason, p.Name, p.Remaining = codes.RefusedUnknownProduct, "", 0
		}
	}
	return a, nil
}

// gatewayOf checks that the actor may manage org and that an activation
// request is org's to answer: its gateway is org's, or it is new and
// lists a product of org.
func (l *Ledger) gatewayOf(tx ReadTx, org string, req *codes.ActivationRequest, gw *Gateway, products []*FleetProduct) (*Org, error) {
	o, _, err := l.authorize(tx, org, needManage)
	if err != nil {
		return nil, err
	}
	if gw != nil {
		if gw.OrgID == o.ID {
			return o, nil
		}
		return nil, notOrgsGateway(req, org)
	}
	for _, p := range products {
		if p != nil && p.OrgID == o.ID {
			return o, nil
		}
	}
	return nil, notOrgsGateway(req, org)
}

// notOrgsGateway is the refusal of an activation request org cannot
// answer: the same words for a gateway of another organization and for
// one the ledger does not know.
func notOrgsGateway(req *codes.ActivationRequest, org string) error {
	return fmt.Errorf("%w: %q cannot answer this activation request: gateway %s is not one of its gateways, or the request lists none of its products (%s): a gateway activates the devices of its own organization's products ('Activation codes' lists them)",
		ErrNotFound, org, req.UDI.Short(), productKeys(req))
}

func (l *Ledger) openActivationRequest(code []byte) (*codes.ActivationRequest, error) {
	var req *codes.ActivationRequest
	err := l.openWithKeys("activation request", func(k *codes.AuthorityKey) error {
		var err error
		req, err = codes.OpenActivationRequest(code, k)
		return err
	})
	return req, err
}

// ReviewUsageIn opens a usage report (binary) of an instance of org for
// an actor who may manage org, and says what importing it would record:
// whether it was imported before, and whether it comes from a second
// history of the instance. It changes nothing. A report of another
// organization's instance is refused in the words of an unknown one.
func (l *Ledger) ReviewUsageIn(ctx context.Context, org string, code []byte) (*UsageImported, error) {
	unverified, err := codes.ParseUnverifiedUsage(code)
	if err != nil {
		return nil, err
	}
	var out *UsageImported
	err = l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		inst, err := tx.LiveInstance(unverified.UDI.String())
		if err != nil {
			return err
		}
		if inst == nil {
			return unknownUsageInstance(unverified.UDI)
		}
		var u *codes.Usage
		if err := l.openWithKeys("usage report", func(k *codes.AuthorityKey) error {
			mk, err := k.MACKey(inst.PublicKey)
			if err != nil {
				return err
			}
			u, err = codes.OpenUsage(code, mk)
			return err
		}); err != nil {
			return err
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		if acct == nil || acct.OrgID != o.ID {
			return unknownUsageInstance(unverified.UDI)
		}
		out, _, err = judgeUsage(tx, inst, acct, u, codeHash(code))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ImportUsageIn is ImportUsage of a report of an instance of org, for an
// actor who may manage org; a report of another organization's instance
// is refused in the words of an unknown instance, and records nothing.
func (l *Ledger) ImportUsageIn(ctx context.Context, org string, code []byte) (*UsageImported, error) {
	return l.importUsage(ctx, code, func(tx Tx, _ *chain, inst *Instance) error {
		o, _, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		if acct == nil || acct.OrgID != o.ID {
			u, err := codes.ParseUDI(inst.UDI)
			if err != nil {
				return fmt.Errorf("%w: instance UDI %q: %v", ErrCorrupt, inst.UDI, err)
			}
			return unknownUsageInstance(u)
		}
		return nil
	})
}

// unknownUsageInstance is ImportUsage's refusal of a report from an
// instance the ledger does not know, in its words.
func unknownUsageInstance(u codes.UDI) error {
	return fmt.Errorf("%w: the usage report is from %s, which this ledger does not know (removed instances are not counted): reserve for it or import its system description first",
		ErrNotFound, u.Short())
}

// UsageEventsIn returns the latest usage reports imported from
// instances of org's accounts, and the second histories they flagged
// ("usage" and "fork" events), newest first, at most n, for an actor who
// may read org.
func (l *Ledger) UsageEventsIn(ctx context.Context, org string, n int) ([]Event, error) {
	var out []Event
	err := l.view(ctx, func(tx ReadTx) error {
		out = nil
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		accts, err := tx.Accounts()
		if err != nil {
			return err
		}
		for _, a := range accts {
			if a.OrgID != o.ID {
				continue
			}
			if err := tx.History(HistoryFilter{Account: a.Ref()}, func(e *Event) error {
				if e.Action == "usage" || e.Action == "fork" {
					out = append(out, *e)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		slices.SortStableFunc(out, func(a, b Event) int { return cmp.Compare(b.ID, a.ID) })
		if len(out) > n {
			out = out[:n]
		}
		return nil
	})
	return out, err
}

// An ExportReview is what an export request code asks, verified, before
// it is answered.
type ExportReview struct {
	Request     *codes.ExportRequest
	Hash        []byte // SHA-256 of the binary code
	UDI         string
	Account     string // "ORG/ACCOUNT"
	Reservation string
	Latest      uint64 // the reservation's latest serial
	Carries     int64  // what the latest code carries of the tag
	// Refusal says why answering would be refused, as it would be: the
	// reservation closed, the code stale, the tag not export-controlled in
	// the account, the vendor denying it. Empty when it would be answered
	// (an account that does not cover the request is refused only then).
	Refusal string
	// Answered is the code that answered this very export request, or nil.
	Answered *Issued
}

// ReviewExportIn opens an export request code (binary) of an instance of
// org for an actor who may manage org, and says what it asks and whether
// it would be answered. It changes nothing. A code of another
// organization's instance is refused in the words of one the ledger never
// issued.
func (l *Ledger) ReviewExportIn(ctx context.Context, org string, code []byte) (*ExportReview, error) {
	unverified, err := codes.ParseUnverifiedExportRequest(code)
	if err != nil {
		return nil, err
	}
	var out *ExportReview
	err = l.view(ctx, func(tx ReadTx) error {
		var xr *codes.ExportRequest
		res, inst, acct, err := l.instanceCode(tx, codes.KindExportRequest, unverified.Reservation, func(mk []byte) error {
			var err error
			xr, err = codes.OpenExportRequest(code, mk)
			return err
		})
		if err != nil {
			return err
		}
		if err := l.exportOf(tx, org, acct, unverified.Reservation); err != nil {
			return err
		}
		h := codeHash(code)
		out = &ExportReview{Request: xr, Hash: h, UDI: inst.UDI, Account: acct.Ref(), Reservation: res.IDString(), Latest: res.Serial}
		if out.Answered, err = exportAnswer(tx, res, inst, h); err != nil {
			return err
		}
		switch {
		case !res.Status.Live():
			out.Refusal = fmt.Sprintf("reservation %s was %s %s: its export requests are void", res.IDString(), res.Status, codes.FormatTime(res.ClosedAt))
			return nil
		case xr.Serial != res.Serial:
			out.Refusal = fmt.Sprintf("the export request code names serial %d of reservation %s, whose latest is serial %d: it was answered, or the reservation changed since", xr.Serial, res.IDString(), res.Serial)
			return nil
		}
		want, _, err := exportWant(tx, inst, xr.Tag)
		if err != nil {
			return err
		}
		out.Carries = countOf(want, xr.Tag)
		if xr.Return {
			if out.Carries < int64(xr.Count) {
				out.Refusal = fmt.Sprintf("reservation %s carries %d of %q, fewer than the %d given back", res.IDString(), out.Carries, xr.Tag, xr.Count)
			}
			return nil
		}
		if err := exportControlled(tx, acct, xr.Tag); err != nil {
			out.Refusal = strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
			return nil
		}
		reg, err := tx.Connected(inst.ID)
		if err != nil {
			return err
		}
		if reg != nil && reg.DeregisteredAt != 0 {
			reg = nil
		}
		if why, _ := exportDenied(reg, acct); why != "" {
			out.Refusal = why
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AnswerExportRequestIn is AnswerExportRequest of a code of an instance
// of org, for an actor who may manage org; a code of another
// organization's instance is refused in the words of one the ledger never
// issued, and records nothing.
func (l *Ledger) AnswerExportRequestIn(ctx context.Context, org string, code []byte) (*Authorized, error) {
	unverified, err := codes.ParseUnverifiedExportRequest(code)
	if err != nil {
		return nil, err
	}
	return l.answerExportRequest(ctx, code, func(tx ReadTx, acct *Account) error {
		return l.exportOf(tx, org, acct, unverified.Reservation)
	})
}

// exportOf checks that the actor may manage org and that acct, the
// account of an export request's reservation, is org's.
func (l *Ledger) exportOf(tx ReadTx, org string, acct *Account, reservation []byte) error {
	o, _, err := l.authorize(tx, org, needManage)
	if err != nil {
		return err
	}
	if acct == nil || acct.OrgID != o.ID {
		// instanceCode's words for a reservation never issued.
		return fmt.Errorf("%w: the %s code names reservation %x, which this ledger never issued", ErrNotFound, codes.KindExportRequest, reservation)
	}
	return nil
}

// exportAnswer finds the code that answered the export request code of
// hash h: the one its grant or return event names.
func exportAnswer(tx ReadTx, res *Reservation, inst *Instance, h []byte) (*Issued, error) {
	mark := fmt.Sprintf("by export request code %x;", h[:8])
	var answer []byte
	err := tx.History(HistoryFilter{Instance: inst.UDI}, func(e *Event) error {
		if (e.Action == actionExportGrant || e.Action == actionExportReturn) && strings.Contains(e.Detail, mark) {
			answer = e.CodeHash
		}
		return nil
	})
	if err != nil || answer == nil {
		return nil, err
	}
	is, err := tx.Issued(res.ID, false)
	if err != nil {
		return nil, err
	}
	for i := range is {
		if bytes.Equal(is[i].Hash, answer) {
			return &is[i], nil
		}
	}
	return nil, nil
}
