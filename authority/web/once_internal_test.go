package web

import (
	"fmt"
	"testing"
	"time"
)

// TestMarksForgetTheOldest fills the marks to their bound: the oldest are
// forgotten, the newest still refused when sent again.
func TestMarksForgetTheOldest(t *testing.T) {
	var m marks
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxMarks + 10 {
		if err := m.take(fmt.Sprint(i), start.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("mark %d: %v", i, err)
		}
	}
	if len(m.seen) > maxMarks {
		t.Fatalf("%d marks kept, bound %d", len(m.seen), maxMarks)
	}
	now := start.Add(time.Duration(maxMarks+10) * time.Second)
	if err := m.take(fmt.Sprint(maxMarks+9), now); err != errSentAgain {
		t.Fatalf("the newest mark sent again: %v", err)
	}
	if err := m.take("0", now); err != nil {
		t.Fatalf("the oldest mark was not forgotten: %v", err)
	}
	if err := m.take("1", start.Add(onceKeep+time.Hour)); err != nil {
		t.Fatalf("a mark older than onceKeep: %v", err)
	}
}
