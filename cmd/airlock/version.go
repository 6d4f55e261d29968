package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
// Without it, the module version from the build information is used.
var version string

const versionDescription = `version prints the version of airlock, the Go version it was built with,
and the platform, on one line.

Example:

    $ airlock version
    airlock v0.1.0 (go1.26.0, linux/amd64)`

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print the version of airlock",
		UsageText:    "airlock version",
		Description:  versionDescription,
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			line := fmt.Sprintf("airlock %s (%s, %s/%s)\n", programVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return writeResult(c.App.Writer, []byte(line))
		},
	}
}

// programVersion returns the version set at link time, else the module
// version go install recorded, else "devel".
func programVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
