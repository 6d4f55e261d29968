package authority

// As returns a ledger that acts as actor: the same store, keys, clock and
// options, with Options.Actor set to actor. The copy is cheap (no
// goroutine, no connection, no key is opened) and meant for one request
// of a front end that serves several people on one ledger, such as the
// web portal: every role check and every history event of the copy names
// actor, exactly as if the ledger had been opened with that actor.
//
// What the copy shares with l, and so with every other copy:
//
//   - the Store, with its connections and its write lock: closing it is
//     still the business of whoever opened it, once no copy is in use;
//   - the keys of Options.Keys, and the retired keys of Options.Retired,
//     each opened at most once for all copies;
//   - the connected mode's state: the cache of pairwise MAC keys and the
//     renewal batcher. There is one batcher goroutine for l and all its
//     copies, started by the first renewal and ended when none waits;
//     its batches run as l, the ledger New made, whichever copy a
//     renewal came through. Renewals are the instances' own acts,
//     authenticated by their keys, so they are recorded under the
//     service's actor, never a person's.
//
// As does not check that actor is anybody: the role checks do, in each
// operation's transaction, against the people of the ledger. Note that
// until the vendor registers a first person with the vendor role, an
// actor who is nobody acts as the desk (see the portal): a front end
// must only pass the e-mail address of a person it has authenticated,
// and must check that the person still exists (SessionPerson does).
func (l *Ledger) As(actor string) *Ledger {
	opts := l.opts
	if actor == "" {
		actor = "unknown" // as New
	}
	opts.Actor = actor
	return &Ledger{st: l.st, opts: opts, retired: l.retired, conn: l.conn}
}

// Actor returns who the ledger acts as: Options.Actor.
func (l *Ledger) Actor() string { return l.opts.Actor }
