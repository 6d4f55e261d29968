package store

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// cheap are argon2id parameters for tests: the real ones take a third of
// a second a hash.
var cheap = authority.PasswordParams{Time: 1, Memory: 64, Threads: 1}

// TestWebRecordsRoundTrip stores and reads back passwords and sessions
// through the Tx methods.
func TestWebRecordsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		var p authority.Person
		err := s.Update(ctx, func(tx authority.Tx) error {
			p = authority.Person{Email: "ann@desk.example", Name: "Ann", Role: authority.RoleVendor, CreatedAt: 1}
			return tx.InsertPerson(&p)
		})
		if err != nil {
			t.Fatal(err)
		}
		h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		err = s.Update(ctx, func(tx authority.Tx) error {
			if pw, err := tx.Password(p.ID); err != nil || pw != nil {
				t.Fatalf("password before any: %v %v", pw, err)
			}
			for _, h := range []string{"first", "second"} {
				if err := tx.SetPassword(&authority.Password{PersonID: p.ID, Hash: h, SetAt: 5, SetBy: "ann"}); err != nil {
					return err
				}
			}
			for i, h := range [][]byte{h1, h2} {
				if err := tx.InsertSession(&authority.Session{Hash: h, PersonID: p.ID, CreatedAt: 100 * int64(i+1), SeenAt: 100 * int64(i+1)}); err != nil {
					return err
				}
			}
			if err := tx.TouchSession(h1, 150); err != nil {
				return err
			}
			return tx.TouchSession(h1, 120) // never back
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.View(ctx, func(tx authority.ReadTx) error {
			pw, err := tx.Password(p.ID)
			if err != nil || pw == nil || pw.Hash != "second" || pw.SetBy != "ann" {
				t.Fatalf("password %+v %v", pw, err)
			}
			ss, err := tx.Session(h1)
			if err != nil || ss == nil || ss.PersonID != p.ID || ss.CreatedAt != 100 || ss.SeenAt != 150 || !bytes.Equal(ss.Hash, h1) {
				t.Fatalf("session %+v %v", ss, err)
			}
			if ss, err := tx.Session(bytes.Repeat([]byte{3}, 32)); err != nil || ss != nil {
				t.Fatalf("unknown session %+v %v", ss, err)
			}
			got, err := tx.PersonByID(p.ID)
			if err != nil || got == nil || got.Email != p.Email {
				t.Fatalf("person %+v %v", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Update(ctx, func(tx authority.Tx) error {
			// h1 seen at 150, h2 created and seen at 200.
			if n, err := tx.DeleteExpiredSessions(160, 0); err != nil || n != 1 {
				t.Fatalf("expired by idle: %d %v", n, err)
			}
			if ok, err := tx.DeleteSession(h1); err != nil || ok {
				t.Fatalf("deleted twice: %v %v", ok, err)
			}
			if n, err := tx.DeleteSessions(p.ID); err != nil || n != 1 {
				t.Fatalf("sessions of the person: %d %v", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestSessionsRefuseBadRows: a session of nobody, or with a hash that is
// no SHA-256, is refused by the schema.
func TestSessionsRefuseBadRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		for _, ss := range []authority.Session{
			{Hash: bytes.Repeat([]byte{1}, 32), PersonID: 42, CreatedAt: 1, SeenAt: 1},
			{Hash: []byte{1, 2, 3}, PersonID: 42, CreatedAt: 1, SeenAt: 1},
		} {
			err := s.Update(ctx, func(tx authority.Tx) error { return tx.InsertSession(&ss) })
			if err == nil {
				t.Errorf("session %x of person %d stored", ss.Hash, ss.PersonID)
			}
		}
	})
}

// A webClock is a settable clock for the sign-in tests.
type webClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *webClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *webClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSignInAndSessionsOnEachBackend runs the ledger's sign-in on each
// back end: a password set by the vendor's staff, sign-in, the session
// found and touched, the idle and absolute expiry, sign-out, and a new
// password ending every session; the history records who set which
// password and never the hash.
func TestSignInAndSessionsOnEachBackend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		clk := &webClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
		desk := authority.New(s, authority.Options{Actor: "desk", Now: clk.now})
		if err := desk.Init(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := desk.AddOrg(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		for _, p := range []authority.Person{
			{Email: "vera@vendor.example", Name: "Vera", Role: authority.RoleVendor},
			{Email: "ann@acme.example", Name: "Ann", Role: authority.RoleAdmin, Org: "acme"},
			{Email: "vic@acme.example", Name: "Vic", Role: authority.RoleViewer, Org: "acme"},
		} {
			// The first vendor staff adds the others.
			if _, err := desk.As("vera@vendor.example").AddPerson(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		vera := desk.As("vera@vendor.example")
		const pw = "correct horse battery staple"
		if err := vera.SetPassword(ctx, "ann@acme.example", pw, cheap); err != nil {
			t.Fatal(err)
		}
		// A viewer sets no one else's password.
		if err := desk.As("vic@acme.example").SetPassword(ctx, "ann@acme.example", "another long password", cheap); !errors.Is(err, authority.ErrDenied) {
			t.Fatalf("viewer set a password: %v", err)
		}
		for _, bad := range [][2]string{{"ann@acme.example", "wrong password!!"}, {"nobody@acme.example", pw}, {"vic@acme.example", pw}} {
			if _, _, err := desk.SignIn(ctx, bad[0], bad[1]); !errors.Is(err, authority.ErrSignIn) {
				t.Fatalf("sign-in %s: %v", bad[0], err)
			}
		}
		id, p, err := desk.SignIn(ctx, "ann@acme.example", pw)
		if err != nil || p.Email != "ann@acme.example" || len(id) != authority.SessionIDSize {
			t.Fatalf("sign-in: %v %+v", err, p)
		}
		// Only the hash is stored.
		var stored []byte
		if err := s.r.QueryRow(`SELECT hash FROM sessions`).Scan(&stored); err != nil || !bytes.Equal(stored, authority.SessionHash(id)) {
			t.Fatalf("stored %x, %v", stored, err)
		}
		// Used every 20 minutes, it lives past the idle time…
		for range 3 {
			clk.add(20 * time.Minute)
			if _, _, err := desk.SessionPerson(ctx, id); err != nil {
				t.Fatalf("session after 20 min: %v", err)
			}
		}
		// …and not past 31 minutes without a request.
		clk.add(31 * time.Minute)
		if _, _, err := desk.SessionPerson(ctx, id); !errors.Is(err, authority.ErrSessionExpired) {
			t.Fatalf("idle session: %v", err)
		}
		if _, _, err := desk.SessionPerson(ctx, id); !errors.Is(err, authority.ErrNoSession) || errors.Is(err, authority.ErrSessionExpired) {
			t.Fatalf("expired session kept: %v", err)
		}
		// 12 hours at most, however busy.
		id, _, err = desk.SignIn(ctx, "ann@acme.example", pw)
		if err != nil {
			t.Fatal(err)
		}
		for range 12 * 60 / 25 {
			clk.add(25 * time.Minute)
			if _, _, err := desk.SessionPerson(ctx, id); err != nil {
				t.Fatalf("busy session: %v", err)
			}
		}
		clk.add(25 * time.Minute)
		if _, _, err := desk.SessionPerson(ctx, id); !errors.Is(err, authority.ErrSessionExpired) {
			t.Fatalf("session past 12 h: %v", err)
		}
		// Sign-out ends it at once.
		id, _, err = desk.SignIn(ctx, "ann@acme.example", pw)
		if err != nil {
			t.Fatal(err)
		}
		if err := desk.SignOut(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := desk.SessionPerson(ctx, id); !errors.Is(err, authority.ErrNoSession) {
			t.Fatalf("after sign-out: %v", err)
		}
		// Ann changes her password: her other sessions end.
		id, _, err = desk.SignIn(ctx, "ann@acme.example", pw)
		if err != nil {
			t.Fatal(err)
		}
		if err := desk.As("ann@acme.example").SetPassword(ctx, "ann@acme.example", "a brand new passphrase", cheap); err != nil {
			t.Fatal(err)
		}
		if _, _, err := desk.SessionPerson(ctx, id); !errors.Is(err, authority.ErrNoSession) {
			t.Fatalf("session after a new password: %v", err)
		}
		if _, _, err := desk.SignIn(ctx, "ann@acme.example", pw); !errors.Is(err, authority.ErrSignIn) {
			t.Fatalf("old password: %v", err)
		}
		es, err := vera.History(ctx, authority.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var sets []string
		for _, e := range es {
			if e.Action == "password set" {
				sets = append(sets, e.Actor+": "+e.Detail)
				if strings.Contains(e.Detail, "argon2") || strings.Contains(e.Detail, "$") {
					t.Errorf("history shows the hash: %s", e.Detail)
				}
			}
		}
		want := []string{
			"vera@vendor.example: web sign-in password of ann@acme.example set",
			"ann@acme.example: web sign-in password of ann@acme.example set; 1 sessions ended",
		}
		if strings.Join(sets, "\n") != strings.Join(want, "\n") {
			t.Errorf("history:\n%s\nwant:\n%s", strings.Join(sets, "\n"), strings.Join(want, "\n"))
		}
		if _, err := vera.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFormMarksOnEachBackend: a mark is taken once, given back, taken
// again; it is forgotten FormMarkKeep after it was taken, and a mark of
// no length or too long is refused.
func TestFormMarksOnEachBackend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		clk := &webClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
		l := authority.New(s, authority.Options{Actor: "desk", Now: clk.now})
		if err := l.Init(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if err := l.TakeFormMark(ctx, "mark-1"); err != nil {
			t.Fatal(err)
		}
		if err := l.TakeFormMark(ctx, "mark-1"); !errors.Is(err, authority.ErrFormSent) {
			t.Fatalf("a mark taken twice: %v", err)
		}
		if err := l.TakeFormMark(ctx, "mark-2"); err != nil {
			t.Fatalf("another mark: %v", err)
		}
		if err := l.ReleaseFormMark(ctx, "mark-1"); err != nil {
			t.Fatal(err)
		}
		if err := l.TakeFormMark(ctx, "mark-1"); err != nil {
			t.Fatalf("a mark given back: %v", err)
		}
		clk.add(authority.FormMarkKeep - time.Second)
		if err := l.TakeFormMark(ctx, "mark-2"); !errors.Is(err, authority.ErrFormSent) {
			t.Fatalf("a mark within FormMarkKeep: %v", err)
		}
		clk.add(time.Second)
		if err := l.TakeFormMark(ctx, "mark-2"); err != nil {
			t.Fatalf("a mark FormMarkKeep old: %v", err)
		}
		for _, bad := range []string{"", strings.Repeat("m", authority.MaxFormMark+1)} {
			if err := l.TakeFormMark(ctx, bad); !errors.Is(err, authority.ErrInvalid) {
				t.Fatalf("mark of %d bytes: %v", len(bad), err)
			}
		}
		var n int
		if err := s.r.QueryRow(`SELECT COUNT(*) FROM form_marks`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d marks kept (%v), want the last one only: the older are deleted", n, err)
		}
	})
}
