package authority

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// The connected mode's registration tokens and instances, and the
// satellites' sync requests, for the web portal. The desk's calls
// (CreateToken, RevokeToken, ConnectedShow) find what they touch by a
// reference that spans every organization, then check the actor's role on
// the organization they found; these take the organization of the page
// first and refuse what is of another one in the words they use for what
// does not exist, so that a page of one organization never shows or
// changes another's and nobody learns what another organization holds.

// OrgTokens returns the registration tokens of the accounts of an
// organization, by creation, for an actor who may read it.
func (l *Ledger) OrgTokens(ctx context.Context, org string) ([]Token, error) {
	var out []Token
	err := l.view(ctx, func(tx ReadTx) error {
		out = nil
		mine, err := l.orgAccountIDs(tx, org, needRead)
		if err != nil {
			return err
		}
		all, err := tx.Tokens(0)
		if err != nil {
			return err
		}
		for _, t := range all {
			if mine[t.AccountID] {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}

// orgAccountIDs checks n on org and returns the ids of its accounts.
func (l *Ledger) orgAccountIDs(tx ReadTx, org string, n need) (map[int64]bool, error) {
	o, _, err := l.authorize(tx, org, n)
	if err != nil {
		return nil, err
	}
	all, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	mine := map[int64]bool{}
	for _, a := range all {
		if a.OrgID == o.ID {
			mine[a.ID] = true
		}
	}
	return mine, nil
}

// CreateOrgToken is CreateToken for an account of org: an account of
// another organization is refused as one that does not exist. CreateToken
// checks, in its own transaction, that the actor manages org.
func (l *Ledger) CreateOrgToken(ctx context.Context, org string, s TokenSpec) (string, *Token, error) {
	o, _, err := ParseAccountRef(s.Account)
	if err != nil {
		return "", nil, err
	}
	if o != org {
		return "", nil, fmt.Errorf("%w: organization %q has no account %q", ErrNotFound, org, s.Account)
	}
	return l.CreateToken(ctx, s)
}

// RevokeOrgToken is RevokeToken for a token of an account of org, named
// by its id: a token of another organization is refused in the words of
// one that does not exist. RevokeToken checks, in its own transaction,
// that the actor manages org; a token's account, and an account's
// organization, never change.
func (l *Ledger) RevokeOrgToken(ctx context.Context, org, id string) (*Token, error) {
	var hashID string
	err := l.view(ctx, func(tx ReadTx) error {
		mine, err := l.orgAccountIDs(tx, org, needRead)
		if err != nil {
			return err
		}
		t, err := tokenByID(tx, id)
		if err != nil && !isNotFound(err) {
			return err
		}
		if t == nil || !mine[t.AccountID] {
			return fmt.Errorf("%w: organization %q has no registration token %q ('Connected mode' lists its tokens)", ErrNotFound, org, id)
		}
		hashID = t.ID()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l.RevokeToken(ctx, hashID)
}

// OrgConnected returns the instances registered in connected mode to the
// accounts of an organization, ended registrations included, for an
// actor who may read it.
func (l *Ledger) OrgConnected(ctx context.Context, org string) ([]ConnectedInfo, error) {
	var out []ConnectedInfo
	err := l.view(ctx, func(tx ReadTx) error {
		out = nil
		mine, err := l.orgAccountIDs(tx, org, needRead)
		if err != nil {
			return err
		}
		regs, err := tx.ConnectedInstances(0)
		if err != nil {
			return err
		}
		now := l.now()
		for i := range regs {
			if !mine[regs[i].AccountID] {
				continue
			}
			info, err := connectedInfo(tx, &regs[i], now)
			if err != nil {
				return err
			}
			out = append(out, *info)
		}
		return nil
	})
	return out, err
}

// OrgConnectedShow is ConnectedShow for an instance registered to an
// account of org: one of another organization, one never registered and
// one that does not exist are refused in the same words.
func (l *Ledger) OrgConnectedShow(ctx context.Context, org, ref string) (*ConnectedInfo, error) {
	notHere := fmt.Errorf("%w: organization %q has no instance %q registered in connected mode", ErrNotFound, org, ref)
	var mine map[int64]bool
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		if mine, err = l.orgAccountIDs(tx, org, needRead); err != nil {
			return err
		}
		inst, err := anyInstance(tx, ref)
		if isNotFound(err) {
			return notHere
		} else if err != nil {
			return err
		}
		reg, err := tx.Connected(inst.ID)
		if err != nil {
			return err
		}
		if reg == nil || !mine[reg.AccountID] {
			return notHere
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := l.ConnectedShow(ctx, ref)
	if isNotFound(err) || errors.Is(err, ErrDenied) || (err == nil && !mine[out.AccountID]) {
		// It re-registered to another organization meanwhile.
		return nil, notHere
	}
	return out, err
}

// A SyncReview is what a satellite's sync request reports, verified with
// the trust file the satellite was registered with, before it is
// answered.
type SyncReview struct {
	Request *codes.SyncRequest
	Hash    []byte // SHA-256 of the binary code
	// Last is the satellite's latest sync answered, nil before the first:
	// a request whose sequence is not above its is refused.
	Last     *SatelliteSync
	Accounts []SatelliteAccount // delegated to the satellite now: the answer's snapshot covers them
}

// ReviewSync opens a satellite's sync request (binary) for the vendor's
// staff, as AnswerSync will, and says what it reports. It changes
// nothing.
func (l *Ledger) ReviewSync(ctx context.Context, request []byte) (*SyncReview, error) {
	claimed, err := codes.ParseUnverifiedSyncRequest(request)
	if err != nil {
		return nil, fmt.Errorf("sync request: %w", err)
	}
	out := &SyncReview{Hash: codeHash(request)}
	err = l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "answer sync requests"); err != nil {
			return err
		}
		if err := refuseOnSatellite(tx, "answer sync requests"); err != nil {
			return err
		}
		s, err := liveSatellite(tx, claimed.Satellite)
		if err != nil {
			return err
		}
		trust, err := codes.OpenTrustFile(s.Trust)
		if err != nil {
			return fmt.Errorf("%w: the stored trust file of satellite %q: %v", ErrCorrupt, s.Name, err)
		}
		if out.Request, err = codes.OpenSyncRequest(request, trust); err != nil {
			return fmt.Errorf("sync request of satellite %q: %w", s.Name, err)
		}
		syncs, err := tx.SatelliteSyncs(s.ID)
		if err != nil {
			return err
		}
		out.Last = nil
		if n := len(syncs); n > 0 {
			out.Last = &syncs[n-1]
		}
		out.Accounts, err = tx.SatelliteAccounts(s.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeskAnswerSync is AnswerSync for a person: the vendor's staff only,
// checked in the transaction that answers. AnswerSync itself checks no
// person: a satellite's own sync over HTTPS runs it, authenticated by
// its key.
func (l *Ledger) DeskAnswerSync(ctx context.Context, request []byte) (*SyncAnswered, error) {
	return l.answerSync(ctx, request, func(tx ReadTx) error {
		_, err := l.actingVendor(tx, "answer sync requests")
		return err
	})
}
