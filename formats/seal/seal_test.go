package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/airlock-dev/airlock/formats/armor"
)

// testIdentity is a throwaway key for these tests only; fuzz seeds made with
// it stay valid between runs.
const testIdentity = "AGE-SECRET-KEY-1JUFWASJK7LGJ758LZKA6GVSA468K6WYZCGVQDHP3GMHA0AWGNAPQJESYLV"

func fixedIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.ParseX25519Identity(testIdentity)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newX25519(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newSSHEd25519 returns an authorized_keys line and an OpenSSH private key
// file, protected by passphrase if it is not empty.
func newSSHEd25519(t testing.TB, passphrase string) (pub string, priv []byte) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sshKeyPair(t, pk, sk, passphrase)
}

func sshKeyPair(t testing.TB, pk, sk any, passphrase string) (pub string, priv []byte) {
	t.Helper()
	sshPub, err := ssh.NewPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(sk, "test@airlock")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(sk, "test@airlock", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " test@airlock", pem.EncodeToMemory(block)
}

// encryptBinary makes an unarmored age file.
func encryptBinary(t testing.TB, plaintext []byte, r ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headerLen returns the length of a binary age file's header, up to and
// including the MAC line; the 16-byte nonce and the payload follow.
func headerLen(t testing.TB, file []byte) int {
	t.Helper()
	i := bytes.Index(file, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no header MAC line")
	}
	return i + 1 + bytes.IndexByte(file[i+1:], '\n') + 1
}

func TestRoundTripX25519(t *testing.T) {
	id := newX25519(t)
	r, err := ParseRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities([]byte("# created: today\n# public key: " + id.Recipient().String() + "\n\n" + id.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 1000, 64 << 10, 64<<10 + 1, 200 << 10} {
		plaintext := make([]byte, n)
		rand.Read(plaintext)
		file, err := Encrypt(plaintext, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(file, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) || !IsEncrypted(file) {
			t.Fatalf("Encrypt output does not start with the age armor:\n%.80s", file)
		}
		got, err := Decrypt(file, ids...)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("%d bytes: Decrypt = %d bytes, %v", n, len(got), err)
		}
		// Binary files are accepted too.
		got, err = Decrypt(encryptBinary(t, plaintext, r), ids...)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("%d bytes binary: Decrypt = %d bytes, %v", n, len(got), err)
		}
	}
}

func TestRoundTripSSHEd25519(t *testing.T) {
	pub, priv := newSSHEd25519(t, "")
	r, err := ParseRecipient(pub)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities(priv)
	if err != nil {
		t.Fatal(err)
	}
	file, err := Encrypt([]byte("authorization"), r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(decodeArmor(t, file), []byte("\n-> ssh-ed25519 ")) {
		t.Fatalf("no ssh-ed25519 stanza")
	}
	got, err := Decrypt(file, ids...)
	if err != nil || string(got) != "authorization" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
}

func TestDecryptWithSeveralRecipientsAndIdentities(t *testing.T) {
	a, b, c := newX25519(t), newX25519(t), newX25519(t)
	pub, priv := newSSHEd25519(t, "")
	sshR, _ := ParseRecipient(pub)
	sshIDs, _ := ParseIdentities(priv)
	file, err := Encrypt([]byte("x"), a.Recipient(), sshR)
	if err != nil {
		t.Fatal(err)
	}
	for name, ids := range map[string][]age.Identity{
		"first":          {a},
		"ssh":            sshIDs,
		"wrong then ssh": {c, sshIDs[0]},
		"wrong then a":   {b, c, a},
	} {
		if got, err := Decrypt(file, ids...); err != nil || string(got) != "x" {
			t.Errorf("%s: Decrypt = %q, %v", name, got, err)
		}
	}
}

func TestDecryptWithWrongIdentity(t *testing.T) {
	file, err := Encrypt([]byte("x"), newX25519(t).Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, priv := newSSHEd25519(t, "")
	sshIDs, _ := ParseIdentities(priv)
	got, err := Decrypt(file, newX25519(t), sshIDs[0])
	if !errors.Is(err, ErrWrongIdentity) || got != nil {
		t.Fatalf("Decrypt = %q, %v, want ErrWrongIdentity", got, err)
	}
	want := `not encrypted to this identity: the file is for 1 recipient ("X25519")`
	if err.Error() != want {
		t.Fatalf("message\n got %s\nwant %s", err, want)
	}
}

func TestDecryptWithoutIdentity(t *testing.T) {
	file, _ := Encrypt([]byte("x"), newX25519(t).Recipient())
	_, err := Decrypt(file)
	if !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Decrypt = %v, want ErrNoIdentity", err)
	}
	// A broken file is reported as such, identity or not.
	if _, err := Decrypt([]byte("hello")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decrypt(garbage) = %v, want ErrMalformed", err)
	}
}

func decodeArmor(t testing.TB, file []byte) []byte {
	t.Helper()
	s := strings.TrimSpace(string(file))
	s = strings.TrimPrefix(s, "-----BEGIN AGE ENCRYPTED FILE-----")
	s = strings.TrimSuffix(s, "-----END AGE ENCRYPTED FILE-----")
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecryptRejectsDamagedFiles(t *testing.T) {
	id := newX25519(t)
	plaintext := bytes.Repeat([]byte("airlock "), 100)
	bin := encryptBinary(t, plaintext, id.Recipient())
	armored, err := Encrypt(plaintext, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	h := headerLen(t, bin)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	tests := map[string][]byte{
		"empty":                    {},
		"intro only":               bin[:len("age-encryption.org/v1\n")],
		"truncated in stanza":      bin[:40],
		"truncated before MAC":     bin[:h-20],
		"truncated after header":   bin[:h],
		"truncated in nonce":       bin[:h+8],
		"truncated after nonce":    bin[:h+16],
		"truncated in payload":     bin[:h+16+100],
		"last byte missing":        bin[:len(bin)-1],
		"flipped byte last chunk":  flip(bin, len(bin)-5),
		"flipped tag":              flip(bin, len(bin)-1),
		"flipped nonce":            flip(bin, h+3),
		"flipped header MAC":       flip(bin, h-5),
		"flipped stanza body":      flip(bin, h-50),
		"trailing byte":            append(bytes.Clone(bin), 0),
		"trailing garbage":         append(bytes.Clone(bin), "garbage"...),
		"second file appended":     append(bytes.Clone(bin), bin...),
		"unknown version":          append([]byte("age-encryption.org/v2\n"), bin[len("age-encryption.org/v1\n"):]...),
		"armor truncated":          armored[:len(armored)/2],
		"armor without footer":     armored[:bytes.Index(armored, []byte("-----END"))],
		"armor trailing garbage":   append(bytes.Clone(armored), "garbage\n"...),
		"armor second file":        append(bytes.Clone(armored), armored...),
		"armor bad base64":         bytes.Replace(armored, []byte("\n"), []byte("\n!"), 2),
		"armor lowercase header":   bytes.Replace(armored, []byte("BEGIN AGE"), []byte("begin age"), 1),
		"airlock armor, not age":   []byte("-----BEGIN AIRLOCK AUTHORIZATION-----\nYWlybG9jaw==\n-----END AIRLOCK AUTHORIZATION-----\n"),
		"plain text":               []byte("RQ-000000001"),
		"binary garbage":           {0x00, 0xff, 0x10},
		"intro without newline":    []byte("age-encryption.org/v1"),
		"header only, no payload":  bin[:h+16],
		"stanza with bad argument": bytes.Replace(bin, []byte("-> X25519 "), []byte("-> X25519 !"), 1),
	}
	for name, file := range tests {
		got, err := Decrypt(file, id)
		if !errors.Is(err, ErrMalformed) || got != nil {
			t.Errorf("%s: Decrypt = %d bytes, %v; want nil, ErrMalformed", name, len(got), err)
		}
	}
}

// TestDecryptNeverReturnsPartialPlaintext: the first 64 KiB chunk is intact
// and would decrypt to something usable, but the second chunk is corrupted.
// Nothing may come back (T58).
func TestDecryptNeverReturnsPartialPlaintext(t *testing.T) {
	id := newX25519(t)
	plaintext := make([]byte, 100<<10)
	copy(plaintext, "a complete, valid authorization code")
	bin := encryptBinary(t, plaintext, id.Recipient())
	second := headerLen(t, bin) + 16 + 64<<10 + 16
	for _, off := range []int{0, 10, 100} {
		bad := bytes.Clone(bin)
		bad[second+off] ^= 0x80
		got, err := Decrypt(bad, id)
		if !errors.Is(err, ErrMalformed) || got != nil {
			t.Fatalf("offset %d: Decrypt = %d bytes, %v; want nil, ErrMalformed", off, len(got), err)
		}
	}
	// Dropping the whole second chunk leaves a first chunk not marked last.
	got, err := Decrypt(bin[:second], id)
	if !errors.Is(err, ErrMalformed) || got != nil {
		t.Fatalf("first chunk only: Decrypt = %d bytes, %v; want nil, ErrMalformed", len(got), err)
	}
	// The same file, armored and corrupted in the second chunk.
	bad := bytes.Clone(bin)
	bad[second+1] ^= 0x80
	var buf bytes.Buffer
	enc := base64.StdEncoding.EncodeToString(bad)
	buf.WriteString("-----BEGIN AGE ENCRYPTED FILE-----\n")
	for len(enc) > 0 {
		n := min(64, len(enc))
		buf.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	buf.WriteString("-----END AGE ENCRYPTED FILE-----\n")
	got, err = Decrypt(buf.Bytes(), id)
	if !errors.Is(err, ErrMalformed) || got != nil {
		t.Fatalf("armored: Decrypt = %d bytes, %v; want nil, ErrMalformed", len(got), err)
	}
}

func TestSizeLimits(t *testing.T) {
	id := newX25519(t)
	big := make([]byte, MaxSize+1)
	if _, err := Decrypt(big, id); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decrypt(MaxSize+1) = %v, want ErrTooLarge", err)
	}
	if _, err := DecryptPassphrase(big, "x"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecryptPassphrase(MaxSize+1) = %v, want ErrTooLarge", err)
	}
	// Encrypt refuses to make a file that Decrypt would refuse.
	if _, err := Encrypt(make([]byte, MaxSize), id.Recipient()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encrypt(MaxSize) = %v, want ErrTooLarge", err)
	}
	// The largest binary file within the cap decrypts.
	bin := encryptBinary(t, make([]byte, MaxSize-20<<10), id.Recipient())
	if len(bin) > MaxSize {
		t.Fatalf("test file is %d bytes", len(bin))
	}
	if _, err := Decrypt(bin, id); err != nil {
		t.Fatal(err)
	}
}

// headerBomb returns an age header with n X25519 stanzas that match no one.
func headerBomb(n int) []byte {
	var b bytes.Buffer
	b.WriteString("age-encryption.org/v1\n")
	arg := strings.Repeat("A", 43)
	for range n {
		b.WriteString("-> X25519 " + arg + "\n" + arg + "\n")
	}
	b.WriteString("--- " + arg + "\n")
	b.Write(make([]byte, 16+17))
	return b.Bytes()
}

// TestHeaderBombIsRejectedByTheCap: 400,000 stanzas (about 40 MB) are
// refused on size alone, before age parses anything (T55).
func TestHeaderBombIsRejectedByTheCap(t *testing.T) {
	bomb := headerBomb(400_000)
	if len(bomb) <= MaxSize {
		t.Fatalf("bomb is %d bytes, not over the cap", len(bomb))
	}
	id := newX25519(t)
	start := time.Now()
	_, err := Decrypt(bomb, id)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decrypt(bomb) = %v, want ErrTooLarge", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("rejecting the bomb took %v", d)
	}
	// Under the cap, age's own stanza limit (1024) applies.
	small := headerBomb(5000)
	if len(small) > MaxSize {
		t.Fatalf("small bomb is %d bytes", len(small))
	}
	start = time.Now()
	if _, err := Decrypt(small, id); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decrypt(small bomb) = %v, want ErrMalformed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("rejecting the small bomb took %v", d)
	}
}

// testPassphraseFile makes a passphrase file with a cheap work factor.
func testPassphraseFile(t testing.TB, plaintext []byte, passphrase string, logN int) []byte {
	t.Helper()
	file, err := encryptPassphrase(plaintext, passphrase, logN)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// withWorkFactor rewrites the scrypt work factor of an armored passphrase
// file, returned binary. The header MAC no longer matches, which does not
// matter: the work factor is checked before anything else.
func withWorkFactor(t testing.TB, armored []byte, from, to int) []byte {
	t.Helper()
	bin := decodeArmor(t, armored)
	line := bytes.Index(bin, []byte("\n-> scrypt "))
	end := line + 1 + bytes.IndexByte(bin[line+1:], '\n')
	old := []byte(fmt.Sprintf(" %d\n", from))
	if !bytes.HasSuffix(bin[:end+1], old) {
		t.Fatalf("stanza line %q does not end with work factor %d", bin[line+1:end], from)
	}
	out := append(bytes.Clone(bin[:end+1-len(old)]), fmt.Sprintf(" %d\n", to)...)
	return append(out, bin[end+1:]...)
}

func TestDecryptRefusesPassphraseFiles(t *testing.T) {
	file := testPassphraseFile(t, []byte("secret"), "correct horse", 10)
	for name, ids := range map[string][]age.Identity{
		"no identity":     nil,
		"X25519 identity": {newX25519(t)},
	} {
		got, err := Decrypt(file, ids...)
		if !errors.Is(err, ErrPassphraseEncrypted) || got != nil {
			t.Fatalf("%s: Decrypt = %q, %v, want ErrPassphraseEncrypted", name, got, err)
		}
		if !strings.Contains(err.Error(), "DecryptPassphrase") {
			t.Fatalf("%s: message %q does not point to DecryptPassphrase", name, err)
		}
	}
	// Even a scrypt identity passed by the caller does not open it here.
	sid, _ := age.NewScryptIdentity("correct horse")
	if _, err := Decrypt(file, sid); !errors.Is(err, ErrPassphraseEncrypted) {
		t.Fatalf("Decrypt with a scrypt identity = %v, want ErrPassphraseEncrypted", err)
	}
	// A work factor of 2^23 is refused without running scrypt (T54).
	start := time.Now()
	if _, err := Decrypt(withWorkFactor(t, file, 10, 23), newX25519(t)); !errors.Is(err, ErrPassphraseEncrypted) {
		t.Fatalf("logN 23: Decrypt = %v, want ErrPassphraseEncrypted", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %v", d)
	}
}

func TestDecryptPassphrase(t *testing.T) {
	plaintext := []byte("authority private key")
	file := testPassphraseFile(t, plaintext, "correct horse", 10)
	if !IsEncrypted(file) {
		t.Fatal("IsEncrypted = false")
	}
	got, err := DecryptPassphrase(file, "correct horse")
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("DecryptPassphrase = %q, %v", got, err)
	}
	got, err = DecryptPassphrase(decodeArmor(t, file), "correct horse")
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("DecryptPassphrase(binary) = %q, %v", got, err)
	}

	keyFile, _ := Encrypt(plaintext, newX25519(t).Recipient())
	tests := []struct {
		name       string
		file       []byte
		passphrase string
		want       error
	}{
		{"wrong passphrase", file, "battery staple", ErrPassphrase},
		{"empty passphrase", file, "", ErrPassphrase},
		{"encrypted to a key", keyFile, "correct horse", ErrWrongIdentity},
		{"work factor above the cap", withWorkFactor(t, file, 10, scryptMaxWorkFactor+1), "correct horse", ErrMalformed},
		{"work factor 2^23", withWorkFactor(t, file, 10, 23), "correct horse", ErrMalformed},
		{"truncated", file[:len(file)-40], "correct horse", ErrMalformed},
		{"garbage", []byte("not an age file"), "correct horse", ErrMalformed},
	}
	for _, tt := range tests {
		start := time.Now()
		got, err := DecryptPassphrase(tt.file, tt.passphrase)
		if !errors.Is(err, tt.want) || got != nil {
			t.Errorf("%s: DecryptPassphrase = %q, %v; want %v", tt.name, got, err, tt.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", tt.name, d)
		}
	}
}

func TestEncryptPassphraseUsesTheDefaultWorkFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at 2^18 takes seconds")
	}
	file, err := EncryptPassphrase([]byte("k"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	bin := decodeArmor(t, file)
	if !bytes.Contains(bin, []byte(fmt.Sprintf(" %d\n", scryptWorkFactor))) {
		t.Fatalf("no work factor %d in the header", scryptWorkFactor)
	}
	got, err := DecryptPassphrase(file, "correct horse")
	if err != nil || string(got) != "k" {
		t.Fatalf("DecryptPassphrase = %q, %v", got, err)
	}
	if _, err := EncryptPassphrase([]byte("k"), ""); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("EncryptPassphrase with an empty passphrase = %v", err)
	}
}

func TestEncryptNeedsARecipient(t *testing.T) {
	if _, err := Encrypt([]byte("x")); err == nil {
		t.Fatal("Encrypt with no recipient succeeded")
	}
}

func TestIsEncrypted(t *testing.T) {
	id := newX25519(t)
	armored, _ := Encrypt([]byte("x"), id.Recipient())
	for name, tt := range map[string]struct {
		in   []byte
		want bool
	}{
		"armored":            {armored, true},
		"armored, indented":  {append([]byte("\n  "), armored...), true},
		"binary":             {encryptBinary(t, []byte("x"), id.Recipient()), true},
		"binary intro":       {[]byte("age-encryption.org/v1\n"), true},
		"other version":      {[]byte("age-encryption.org/v2\n"), false},
		"airlock armor":      {[]byte("-----BEGIN AIRLOCK AUTHORIZATION-----\n"), false},
		"typed code":         {[]byte("RQ-000000001"), false},
		"empty":              {nil, false},
		"armor header alone": {[]byte("-----BEGIN AGE ENCRYPTED FILE-----"), true},
	} {
		if got := IsEncrypted(tt.in); got != tt.want {
			t.Errorf("%s: IsEncrypted = %v, want %v", name, got, tt.want)
		}
	}
}

func TestParseRecipient(t *testing.T) {
	x := newX25519(t)
	edPub, _ := newSSHEd25519(t, "")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := sshKeyPair(t, &rsaKey.PublicKey, rsaKey, "")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := sshKeyPair(t, &ecKey.PublicKey, ecKey, "")
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}

	good := []string{
		x.Recipient().String(),
		"  " + x.Recipient().String() + "\n",
		edPub,
		strings.Fields(edPub)[0] + " " + strings.Fields(edPub)[1], // no comment
	}
	for _, s := range good {
		if _, err := ParseRecipient(s); err != nil {
			t.Errorf("ParseRecipient(%q): %v", s, err)
		}
	}

	bad := []struct {
		in  string
		msg string
	}{
		{rsaPub, `only ssh-ed25519 SSH keys are supported, got "ssh-rsa"`},
		{ecPub, `only ssh-ed25519 SSH keys are supported, got "ecdsa-sha2-nistp256"`},
		{x.String(), "this is an age secret key, not a recipient"},
		{strings.ToLower(x.String()), "this is an age secret key, not a recipient"},
		{pq.Recipient().String(), "post-quantum age recipients are not supported"},
		{"age1notakey", "invalid key: malformed recipient"},
		{x.Recipient().String()[:20], "invalid key: malformed recipient"},
		{"", "want an age recipient (age1…) or an ssh-ed25519 public key"},
		{"ssh-ed25519 AAAA", "want an age recipient"},
		{"hello", "want an age recipient"},
	}
	for _, tt := range bad {
		_, err := ParseRecipient(tt.in)
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseRecipient(%.30q) = %v, want ErrKey with %q", tt.in, err, tt.msg)
		}
	}
	// A secret key is never echoed.
	_, err = ParseRecipient(x.String())
	if strings.Contains(strings.ToUpper(err.Error()), x.String()[20:]) {
		t.Errorf("error shows the secret key: %v", err)
	}
}

func TestParseIdentities(t *testing.T) {
	a, b := newX25519(t), newX25519(t)
	ids, err := ParseIdentities([]byte("# two keys\n" + a.String() + "\n\n# second\n" + b.String()))
	if err != nil || len(ids) != 2 {
		t.Fatalf("ParseIdentities = %d identities, %v", len(ids), err)
	}

	_, edPriv := newSSHEd25519(t, "")
	if ids, err := ParseIdentities(append([]byte("\n"), edPriv...)); err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities(ssh-ed25519) = %d identities, %v", len(ids), err)
	}
	_, edLocked := newSSHEd25519(t, "hunter2")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, rsaPriv := sshKeyPair(t, &rsaKey.PublicKey, rsaKey, "")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ecPriv := sshKeyPair(t, &ecKey.PublicKey, ecKey, "")
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"passphrase-protected ssh key", edLocked, "the SSH private key is protected by a passphrase"},
		{"ssh-rsa key", rsaPriv, "only ssh-ed25519 SSH keys are supported"},
		{"ecdsa key", ecPriv, "only ssh-ed25519 SSH keys are supported"},
		{"truncated ssh key", edPriv[:len(edPriv)/2], "SSH private key"},
		{"post-quantum identity", []byte(pq.String() + "\n"), "only X25519 age identities"},
		{"empty", nil, "no identities found"},
		{"comments only", []byte("# nothing\n"), "no identities found"},
		{"public key", []byte(a.Recipient().String()), "unknown identity type"},
		{"damaged secret key", []byte(a.String()[:40] + "\n"), "age identity file"},
	}
	for _, tt := range bad {
		_, err := ParseIdentities(tt.in)
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: ParseIdentities = %v, want ErrKey with %q", tt.name, err, tt.msg)
		}
	}
}

func TestDescribeRecipients(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"X25519"}, `1 recipient ("X25519")`},
		{[]string{"X25519", "X25519", "ssh-ed25519"}, `3 recipients ("X25519", "ssh-ed25519")`},
		{[]string{"a", "b", "c", "d", "e"}, `5 recipients ("a", "b", "c", …)`},
		{[]string{strings.Repeat("x", 40)}, `1 recipient ("` + strings.Repeat("x", 32) + `…")`},
	}
	for _, tt := range tests {
		if got := describeRecipients(tt.in); got != tt.want {
			t.Errorf("describeRecipients(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	id := fixedIdentity(f)
	other := newX25519(f)
	bin := encryptBinary(f, []byte("authorization"), id.Recipient())
	armored, err := Encrypt([]byte("authorization"), id.Recipient())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bin)
	f.Add(armored)
	f.Add(encryptBinary(f, nil, id.Recipient()))
	f.Add(encryptBinary(f, []byte("x"), other.Recipient(), id.Recipient()))
	f.Add(encryptBinary(f, []byte("x"), other.Recipient()))
	f.Add(bin[:len(bin)-1])
	f.Add(append(bytes.Clone(bin), 'x'))
	f.Add(armored[:len(armored)-10])
	f.Add(testPassphraseFile(f, []byte("x"), "p", 1))
	f.Add(headerBomb(3))
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Add([]byte("-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := Decrypt(b, id)
		if err != nil {
			if pt != nil {
				t.Fatalf("Decrypt returned %d bytes with an error: %v", len(pt), err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoIdentity) &&
				!errors.Is(err, ErrWrongIdentity) && !errors.Is(err, ErrPassphraseEncrypted) {
				t.Fatalf("Decrypt: error matches no sentinel: %v", err)
			}
			return
		}
		if len(pt) > MaxSize {
			t.Fatalf("Decrypt returned %d bytes", len(pt))
		}
		// Encryption is randomised, so the check is a round trip of the
		// plaintext rather than of the file.
		again, err := Encrypt(pt, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		pt2, err := Decrypt(again, id)
		if err != nil || !bytes.Equal(pt, pt2) {
			t.Fatalf("re-encrypting %d bytes does not round trip: %v", len(pt), err)
		}
	})
}

// TestLargestBulkArmoredFileFits: an armored file of armor.MaxBulkSize, the
// largest an activation file may be, encrypts within MaxSize and comes back
// whole.
func TestLargestBulkArmoredFileFits(t *testing.T) {
	id := newX25519(t)
	pt := bytes.Repeat([]byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n"), armor.MaxBulkSize/65)
	pt = append(pt, make([]byte, armor.MaxBulkSize-len(pt))...)
	sealed, err := Encrypt(pt, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes of plaintext encrypt to %d bytes; MaxSize is %d", len(pt), len(sealed), MaxSize)
	got, err := Decrypt(sealed, id)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %d bytes, %v", len(got), err)
	}
}
