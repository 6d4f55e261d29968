package authority

// verifyPortal checks the portal's records:
//
//   - every agreement as its history event recorded it, its draws of
//     tags it caps, adding up to its counts, each key registered to its
//     organization;
//   - every converted voucher's key registered to the organization it
//     was converted for;
//   - every registration names a license key issued, recorded by exactly
//     one issue event, and, when it came from a serial number, the serial
//     names it back;
//   - no upgrade converted more of a key's licenses than it carries.
func verifyPortal(tx ReadTx, hashes map[string]bool, keyEvents map[string]int) error {
	ags, err := tx.Agreements(0)
	if err != nil {
		return err
	}
	for i := range ags {
		ag := &ags[i]
		if !hashes[string(agreementHash(ag))] {
			return corrupt("agreement %q of %q is not the agreement its history event recorded: its term or caps were changed", ag.Name, ag.Org)
		}
		o, err := tx.OrgByID(ag.OrgID)
		if err != nil {
			return err
		}
		if o == nil {
			return corrupt("agreement %q names organization %d, which is missing", ag.Name, ag.OrgID)
		}
		if _, err := agreementReport(tx, o, ag); err != nil {
			return err
		}
	}
	people, err := tx.People(0)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range people {
		if p.Role != RolePartner || seen[p.Partner] {
			continue
		}
		seen[p.Partner] = true
		vs, err := tx.Vouchers(p.Partner)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if !v.Used() {
				continue
			}
			g, err := tx.Registration(v.KeyHash)
			if err != nil {
				return err
			}
			if g == nil || g.OrgID != v.OrgID {
				return corrupt("voucher %s was converted into key %s, which is not registered to the organization it names", KeyID(v.Hash), KeyID(v.KeyHash))
			}
		}
	}
	regs, err := tx.Registrations(0)
	if err != nil {
		return err
	}
	for _, g := range regs {
		k, err := tx.LicenseKey(g.KeyHash)
		if err != nil {
			return err
		}
		if k == nil {
			return corrupt("a registration to organization %d names license key %s, which was never issued", g.OrgID, KeyID(g.KeyHash))
		}
		if n := keyEvents[actionKeyIssue+"\x00"+string(k.Hash)]; n != 1 {
			return corrupt("registered license key %s is recorded by %d issue events, want 1", k.KeyID(), n)
		}
		if len(g.SerialHash) > 0 {
			s, err := tx.Serial(g.SerialHash)
			if err != nil {
				return err
			}
			if s == nil || s.OrgID != g.OrgID || string(s.KeyHash) != string(g.KeyHash) {
				return corrupt("license key %s was registered from serial %s, which does not name it", k.KeyID(), KeyID(g.SerialHash))
			}
		}
		conv, err := tx.Conversions(g.KeyHash)
		if err != nil {
			return err
		}
		var converted, carried int64
		for _, cv := range conv {
			converted += cv.Count
		}
		for _, ln := range k.Lines {
			carried += ln.Count
		}
		if converted > carried {
			return corrupt("upgrades converted %d licenses of key %s, which carries %d", converted, k.KeyID(), carried)
		}
	}
	return nil
}
