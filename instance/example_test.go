package instance_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

// A product embeds the instance: Init once when it is installed, Open at
// every start, then ask before each use. Licensed costs well under a
// microsecond and allocates nothing; Acquire and Release are durable.
func ExampleInstance_Licensed() {
	// The state folder: in a product, instance.DefaultDir() or a folder of
	// its own, kept across upgrades.
	tmp, err := os.MkdirTemp("", "airlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "state")

	// Once, when the product is installed: the vendor's trust file, shipped
	// with it, and the UDI of this machine.
	trustFile, err := os.ReadFile("testdata/trust.airlock")
	if err != nil {
		log.Fatal(err)
	}
	trust, err := codes.ReadTrustFile(trustFile)
	if err != nil {
		log.Fatal(err)
	}
	udi, err := codes.ParseUDI("P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := instance.Init(dir, udi, trust); err != nil {
		log.Fatal(err)
	}

	// At every start of the product.
	inst, err := instance.Open(dir)
	if err != nil {
		log.Fatal(err) // instance.ErrCorrupt: restore the folder from a backup
	}

	// Before turning a feature on.
	if inst.Licensed("vms.analytics") {
		fmt.Println("analytics: on")
	}

	// For each camera that connects, take a license; give it back when the
	// camera leaves. Acquire is refused beyond the reserved count.
	if err := inst.Acquire("vms.camera.core", 1); err != nil {
		fmt.Println("camera refused:", err) // instance.ErrExceeded, ErrNotLicensed, ErrClock
	}
	fmt.Println("cameras in use:", inst.InUse("vms.camera.core"))
	if err := inst.Release("vms.camera.core", 1); err != nil {
		log.Fatal(err)
	}

	// Now and then: see what an administrator installed or returned with
	// airlock instance …, and show what needs attention.
	if err := inst.Refresh(); err != nil {
		log.Fatal(err)
	}
	for _, w := range inst.Warnings() {
		fmt.Println("warning:", w.Message)
	}
	// Output:
	// analytics: on
	// cameras in use: 1
}
