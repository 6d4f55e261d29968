package service

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes/api"
)

// TestClassifyUnavailable: a busy ledger and an unreachable database are
// 503 with a Retry-After, and say nothing of the database's address.
func TestClassifyUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: another writer", authority.ErrBusy),
		fmt.Errorf("%w: db.internal:5432: connection refused", store.ErrUnreachable),
	} {
		e := classify(err)
		if e.status != http.StatusServiceUnavailable || e.code != api.CodeUnavailable || e.retry <= 0 {
			t.Errorf("%v: answered %d %s, retry %d", err, e.status, e.code, e.retry)
		}
		if strings.Contains(e.msg, "db.internal") {
			t.Errorf("%v: the answer leaks the database: %q", err, e.msg)
		}
	}
}
