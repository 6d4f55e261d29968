package authority

// verifyPortal checks the portal's records:
//
//   - every registration names a license key issued, recorded by exactly
//     one issue event, and, when it came from a serial number, the serial
//     names it back;
//   - no upgrade converted more of a key's licenses than it carries.
func verifyPortal(tx ReadTx, keyEvents map[string]int) error {
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
