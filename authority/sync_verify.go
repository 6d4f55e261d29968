package authority

import (
	"bytes"

	"github.com/airlock-dev/airlock/codes"
)

// addSyncShrunk adds to out, by lot, what syncs took out of the mirrored
// lots of a satellite: a lot's count is its initial count less its
// transfers out and that.
func addSyncShrunk(tx ReadTx, out map[int64]int64) error {
	synced, err := tx.SyncedLots(0, "")
	if err != nil {
		return err
	}
	for _, s := range synced {
		out[s.LotID] += s.Shrunk
	}
	return nil
}

// verifySync checks satellites and their syncs, on either side.
//
// On the vendor's ledger: each satellite's trust file opens; each sync
// answered keeps the request it answered, which hashes to its recorded
// hash and opens against that satellite's trust file, with the sequence
// recorded; request and answer are in the history; each delegated
// account is delegated to a satellite still registered and holds nothing
// reserved here.
//
// On a satellite's: each sync request made and each answer imported is in
// the history, each answer answers a request made; every lot mirrors one
// lot of the vendor's (a satellite holds nothing else), each vendor lot
// once.
func verifySync(tx ReadTx, hashes map[string]bool) error {
	sats, err := tx.Satellites()
	if err != nil {
		return err
	}
	trusts := map[int64]*codes.TrustSet{}
	live := map[int64]bool{}
	for _, s := range sats {
		t, err := codes.OpenTrustFile(s.Trust)
		if err != nil {
			return corrupt("the trust file of satellite %q does not open: %v", s.Name, err)
		}
		if !hashes[string(codeHash(s.Trust))] {
			return corrupt("satellite %q is not the satellite its history event recorded: it was added or changed outside the ledger", s.Name)
		}
		trusts[s.ID] = t
		live[s.ID] = s.RemovedAt == 0
	}
	syncs, err := tx.SatelliteSyncs(0)
	if err != nil {
		return err
	}
	for _, x := range syncs {
		t := trusts[x.SatelliteID]
		if t == nil {
			return corrupt("sync %d names satellite %d, which does not exist", x.Sequence, x.SatelliteID)
		}
		if !bytes.Equal(codeHash(x.Request), x.RequestHash) {
			return corrupt("the stored sync request %d of satellite %d does not match its hash", x.Sequence, x.SatelliteID)
		}
		r, err := codes.OpenSyncRequest(x.Request, t)
		if err != nil {
			return corrupt("the stored sync request %d of satellite %d does not open: %v", x.Sequence, x.SatelliteID, err)
		}
		if r.Sequence != x.Sequence {
			return corrupt("the stored sync request %d of satellite %d has sequence %d", x.Sequence, x.SatelliteID, r.Sequence)
		}
		if !hashes[string(x.RequestHash)] || !hashes[string(x.AnswerHash)] {
			return corrupt("sync %d of satellite %q is not in the history: it was added outside the ledger", x.Sequence, r.Satellite)
		}
	}
	delegated, err := tx.SatelliteAccounts(0)
	if err != nil {
		return err
	}
	for _, d := range delegated {
		if !live[d.SatelliteID] {
			return corrupt("account %q is delegated to satellite %d, which is removed or does not exist", d.Account, d.SatelliteID)
		}
		lots, err := tx.Lots(d.AccountID, "")
		if err != nil {
			return err
		}
		for _, l := range lots {
			if l.Held != 0 {
				return corrupt("lot %d of %q holds %d here, but the account is delegated to a satellite", l.ID, d.Account, l.Held)
			}
		}
	}

	self, err := tx.SatelliteSelf()
	if err != nil {
		return err
	}
	exports, imports, err := syncFiles(tx)
	if err != nil {
		return err
	}
	synced, err := tx.SyncedLots(0, "")
	if err != nil {
		return err
	}
	if self == nil {
		if len(exports)+len(imports)+len(synced) > 0 {
			return corrupt("the ledger is no satellite, yet it holds %d sync requests, %d answers and %d mirrored lots", len(exports), len(imports), len(synced))
		}
		return nil
	}
	if len(sats) > 0 {
		return corrupt("the ledger is a satellite with %d satellites of its own", len(sats))
	}
	if _, err := codes.OpenTrustFile(self.VendorTrust); err != nil {
		return corrupt("the vendor's trust file does not open: %v", err)
	}
	if !hashes[string(codeHash(self.VendorTrust))] {
		return corrupt("the vendor's trust file is not the one the history recorded: it was changed outside the ledger")
	}
	made := map[uint64]bool{}
	for _, e := range exports {
		if !hashes[string(e.Hash)] {
			return corrupt("sync request %d is not in the history: it was added outside the ledger", e.Sequence)
		}
		made[e.Sequence] = true
	}
	for _, i := range imports {
		if !made[i.Sequence] || !hashes[string(i.Hash)] {
			return corrupt("the sync answer to request %d answers no request made, or is not in the history", i.Sequence)
		}
	}
	mirrored := map[int64]bool{}
	vendor := map[int64]bool{}
	for _, s := range synced {
		if vendor[s.VendorLot] {
			return corrupt("the vendor's lot %d is mirrored twice", s.VendorLot)
		}
		vendor[s.VendorLot] = true
		mirrored[s.LotID] = true
	}
	lots, err := tx.Lots(0, "")
	if err != nil {
		return err
	}
	for _, l := range lots {
		if !mirrored[l.ID] {
			return corrupt("lot %d (%s) of the satellite mirrors no lot of its vendor: it was added outside a sync", l.ID, l.Tag)
		}
	}
	return nil
}
