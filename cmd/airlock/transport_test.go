package main

import (
	"fmt"
	"testing"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
)

// TestEveryDropErrorHasAHint covers the sentinels a transfer can fail with.
func TestEveryDropErrorHasAHint(t *testing.T) {
	for _, sentinel := range []error{
		drop.ErrURL, drop.ErrHostKey, drop.ErrAuth, drop.ErrConnect, drop.ErrNotFound, drop.ErrPermission,
		drop.ErrTooLarge, drop.ErrNotRegular, drop.ErrTimeout, drop.ErrTransfer,
	} {
		if len(hintsFor(fmt.Errorf("%w: details", sentinel))) == 0 {
			t.Errorf("no hint for %v", sentinel)
		}
	}
}
