package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestConnectedScripts runs testdata/connected: the instance side of
// connected mode with the built command line against airlock authority
// serve in the background. Besides the commands of TestServeScripts, the
// scripts get:
//
//	serviceurl ADDRFILE VAR   set VAR to https:// and the address serve wrote
func TestConnectedScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/connected",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkcodes":    cmdMkcodes,
			"waitfile":   cmdWaitfile,
			"serviceurl": cmdServiceURL,
		},
	})
}

func cmdServiceURL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: serviceurl ADDRFILE VAR")
	}
	ts.Setenv(args[1], serviceURL(ts, args[0]))
}
