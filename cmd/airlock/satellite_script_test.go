package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestSatelliteScripts runs testdata/satellite: the built command line as
// the vendor's desk and as a satellite on a customer's site, exchanging
// sync files, and serving and syncing over HTTPS in the background, with
// instances that reserve or register at the satellite. Besides airlock the
// scripts get mkcodes and fakeinstance (TestScripts), waitfile, connected
// and serviceurl (TestServeScripts, TestConnectedScripts), and:
//
//	waitstatus DIR REGEXP   wait (30 s at most) until 'airlock satellite
//	                        status --dir DIR' prints a line matching REGEXP
func TestSatelliteScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/satellite",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkcodes":      cmdMkcodes,
			"fakeinstance": cmdFakeinstance,
			"waitfile":     cmdWaitfile,
			"connected":    cmdConnected,
			"serviceurl":   cmdServiceURL,
			"waitstatus":   cmdWaitstatus,
		},
	})
}

func cmdWaitstatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitstatus DIR REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var stdout, stderr bytes.Buffer
		code := run([]string{"airlock", "satellite", "status", "--dir", ts.MkAbs(args[0])}, strings.NewReader(""), &stdout, &stderr)
		if code == 0 && re.Match(stdout.Bytes()) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("satellite status matched no %q after 30 s:\n%s%s", args[1], stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
