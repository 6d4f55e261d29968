package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

func TestMain(m *testing.M) {
	testscript.Main(stopPostgres{m}, map[string]func(){
		"airlock": func() {
			setTestClock()
			os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command-line scripts in testdata/script: two
// parties in folders exchanging files, stdout and stderr pinned. The
// scripts get commands besides airlock: mkcodes writes codes of every
// kind made with fixed keys, checkkey opens a key file keygen wrote,
// fakeinstance and mkauth play the other party, and sftpserver, sftpquota,
// mkbig and lsdir run and watch an SFTP drop (sftp_script_test.go).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkcodes":      cmdMkcodes,
			"checkkey":     cmdCheckkey,
			"fakeinstance": cmdFakeinstance,
			"mkauth":       cmdMkauth,
			"sftpserver":   cmdSftpserver,
			"sftpquota":    cmdSftpquota,
			"mkbig":        cmdMkbig,
			"lsdir":        cmdLsdir,
		},
	})
}

// fixed returns n bytes derived from label, as the randomness of a fixed
// test key.
func fixed(label string, n int) *bytes.Reader {
	sum := sha512.Sum512([]byte("airlock cmd test: " + label))
	return bytes.NewReader(sum[:n])
}

// testTime is the fixed clock of the test codes: 2025-01-15 09:30 UTC.
var testTime = time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC)

// testCodes holds codes made with fixed keys, for scripts and in-process
// tests. Every field is a file mkcodes writes.
type testCodes struct {
	files map[string][]byte
}

func mustDo(err error) {
	if err != nil {
		panic(err)
	}
}

func must[T any](v T, err error) T {
	mustDo(err)
	return v
}

// makeTestCodes builds the codes. Only the age and SSH encrypted files and
// identities vary from run to run; everything inspect prints is fixed.
func makeTestCodes() *testCodes {
	files := map[string][]byte{}
	authority := must(codes.GenerateAuthorityKey(fixed("authority", 64), time.Time{}, time.Time{}))
	rogue := must(codes.GenerateAuthorityKey(fixed("rogue authority", 64), time.Time{}, time.Time{}))
	inst := must(codes.GenerateInstanceKey(fixed("instance", 32)))
	udi := must(codes.ParseUDI("P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16"))
	mac := must(inst.MACKey(&authority.Public))
	t0 := testTime.Unix()

	trust := func(k *codes.AuthorityKey) []byte {
		b := must(codes.SignTrustSet(&codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: t0}, k))
		return codes.EncodeArmor(codes.KindTrustUpdate, b)
	}
	files["trust.airlock"] = trust(authority)
	files["rogue-trust.airlock"] = trust(rogue)

	nonce := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	rq := must(codes.SealRequest(&codes.Request{
		UDI: udi, Nonce: nonce, IssuedAt: t0,
		Wanted: []codes.License{{Tag: "vms.camera.core", Count: 25}, {Tag: "vms.analytics", Count: 4}},
	}, inst, &authority.Public))
	files["request.txt"] = []byte(codes.EncodeText(codes.KindRequest, rq) + "\n")

	auth := &codes.Authorization{
		Reservation: []byte{0x0a, 0x1b, 0x2c, 0x3d},
		Serial:      1,
		UDI:         udi,
		InstanceKey: inst.Hash(),
		Nonce:       nonce,
		Entitlements: []codes.Entitlement{
			{Tag: "vms.camera.core", Count: 25, Kind: codes.Perpetual},
			{Tag: "vms.analytics", Count: 4, Kind: codes.Term, ExportControlled: true,
				Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), End: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		},
		IssuedAt:  t0,
		InstallBy: testTime.Add(30 * 24 * time.Hour).Unix(),
	}
	au := must(codes.SignAuthorization(auth, authority))
	files["authorization.airlock"] = codes.EncodeArmor(codes.KindAuthorization, au)
	files["authorization.txt"] = []byte(codes.EncodeText(codes.KindAuthorization, au) + "\n")
	files["authorization.bin"] = au
	tampered := bytes.Clone(au)
	tampered[len(tampered)-1] ^= 0x01 // the last byte of the signature
	files["tampered.airlock"] = codes.EncodeArmor(codes.KindAuthorization, tampered)
	files["rogue.airlock"] = codes.EncodeArmor(codes.KindAuthorization, must(codes.SignAuthorization(auth, rogue)))

	cf := must(codes.SealConfirmation(&codes.Confirmation{Reservation: auth.Reservation, Serial: 1}, mac))
	files["confirmation.bin"] = cf
	rt := must(codes.SealReturn(&codes.Return{Reservation: auth.Reservation, Serial: 1}, mac))
	files["return.txt"] = []byte(codes.EncodeText(codes.KindReturn, rt) + "\n")

	sd := must(codes.SealSystem(&codes.System{
		UDI: udi, Name: "Plant 4 \u202e VMS", IssuedAt: t0, Nonce: nonce,
		Components: []codes.Component{
			{ID: "SN-0042", Model: "Camera X1", Tag: "vms.camera.hw"},
			{ID: "SN-0043", Model: "Recorder R2"},
		},
		Demand: []codes.License{{Tag: "vms.camera.core", Count: 25}},
	}, inst, &authority.Public))
	files["system.airlock"] = codes.EncodeArmor(codes.KindSystem, sd)

	ur := must(codes.SealUsage(&codes.Usage{
		UDI: udi, Reservation: auth.Reservation, Serial: 1,
		From: t0, To: testTime.Add(24 * time.Hour).Unix(), HighWater: testTime.Add(24 * time.Hour).Unix(),
		Tags: []codes.TagUsage{{Tag: "vms.camera.core", Peak: 20, Current: 12}},
	}, mac))
	files["usage.airlock"] = codes.EncodeArmor(codes.KindUsage, ur)

	// age: an X25519 identity and an ssh-ed25519 key.
	id := must(age.GenerateX25519Identity())
	files["age.key"] = []byte("# test identity\n" + id.String() + "\n")
	files["age.pub"] = []byte(id.Recipient().String() + "\n")
	files["authorization.age"] = must(seal.Encrypt(files["authorization.airlock"], id.Recipient()))

	sshPub, sshPriv := must2(ed25519.GenerateKey(fixed("ssh", 32)))
	files["ssh.pub"] = ssh.MarshalAuthorizedKey(must(ssh.NewPublicKey(sshPub)))
	files["ssh.key"] = pem.EncodeToMemory(must(ssh.MarshalPrivateKey(sshPriv, "test key")))
	sshRecipient := must(seal.ParseRecipient(string(files["ssh.pub"])))
	files["return.age"] = must(seal.Encrypt(files["return.txt"], sshRecipient))
	return &testCodes{files: files}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	mustDo(err)
	return a, b
}

// cmdMkcodes writes the test codes into the current folder, all of them
// or the files named: mkcodes [FILE...].
func cmdMkcodes(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: mkcodes [FILE...]")
	}
	files := makeTestCodes().files
	if len(args) == 0 {
		for name := range files {
			args = append(args, name)
		}
	}
	for _, name := range args {
		b, ok := files[name]
		if !ok {
			ts.Fatalf("mkcodes: no file %q", name)
		}
		ts.Check(os.WriteFile(ts.MkAbs(name), b, 0o600))
	}
}

// cmdCheckkey opens a key file that keygen wrote and checks that it is the
// key of the trust file and that only its owner may read it:
// checkkey KEYFILE TRUSTFILE [IDENTITYFILE]. Without an identity file it
// uses AIRLOCK_PASSPHRASE.
func cmdCheckkey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: checkkey KEYFILE TRUSTFILE [IDENTITYFILE]")
	}
	keyPath := ts.MkAbs(args[0])
	fi, err := os.Stat(keyPath)
	ts.Check(err)
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		ts.Fatalf("%s has mode %v, want 0600", args[0], fi.Mode().Perm())
	}
	sealed := []byte(ts.ReadFile(args[0]))
	var key *codes.AuthorityKey
	if len(args) == 3 {
		ids, err := seal.ParseIdentities([]byte(ts.ReadFile(args[2])))
		ts.Check(err)
		key, err = codes.OpenAuthorityKey(sealed, ids...)
		ts.Check(err)
	} else {
		key, err = codes.OpenAuthorityKeyPassphrase(sealed, ts.Getenv(envPassphrase))
		ts.Check(err)
	}
	trust, err := codes.ReadTrustFile([]byte(ts.ReadFile(args[1])))
	ts.Check(err)
	if len(trust.Keys) != 1 || trust.Keys[0].ID() != key.ID() || trust.SignedBy != key.ID() {
		ts.Fatalf("trust file lists %d keys, signed by %s; the key file holds %s", len(trust.Keys), trust.SignedBy, key.ID())
	}
	fmt.Fprintf(ts.Stdout(), "%s opens and matches %s\n", filepath.Base(args[0]), filepath.Base(args[1]))
}
