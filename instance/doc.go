// Package instance is the side of airlock that ships inside a licensed
// product: it keeps the instance's state folder, walks the reservation
// lifecycle (request, install, return) with codes carried across the air
// gap, and answers the product's question "may I use this feature, this
// many times, now?".
//
// Start with Init once, when the product is installed (it makes the
// instance key and starts a 90-day evaluation), and Open at every start.
// Then, in the product:
//
//	inst, err := instance.Open(dir)
//	…
//	if inst.Licensed("vms.analytics") { … }            // memory only, no allocation
//	if err := inst.Acquire("vms.camera.core", 1); err != nil { … }  // durable
//	defer inst.Release("vms.camera.core", 1)
//
// Licensed, Available and Warnings read an in-memory snapshot; Refresh
// picks up what an administrator changed from the command line (airlock
// instance install, return, …). Every change is one durable, atomic write
// of the state file under the folder's lock, so a crash at any point
// leaves the old state or the new one, and several processes may share the
// folder.
//
// A returned reservation never comes back: its codes are refused for good
// (ErrReturned), a cancelled request cannot be answered, and a copy of the
// state folder restored from before a request cannot install the code
// issued for it. What no software alone can stop is a full restore of the
// folder from before a return, which brings back what the folder held then;
// the usage reports (journal head and count, the head of the previous
// report, clock high-water mark, reservation) and the journal tag of
// return codes let the authority see two histories at the next contact.
// A state that does not verify is reported with ErrCorrupt and never
// replaced by a fresh one, which would forget returned reservations and
// the clock's high-water mark.
//
// The package never prints, never imports the authority's code, and reads
// the clock through WithClock, so tests can move it.
package instance
