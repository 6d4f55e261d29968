package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func formOf(v url.Values) *http.Request {
	return &http.Request{PostForm: v}
}

func TestFormNumbers(t *testing.T) {
	long := strings.Repeat("9", 200)
	for _, c := range []struct {
		name   string
		form   url.Values
		lo, hi int64
		def    int64
		want   int64
		says   string // "" for accepted
	}{
		{"plain", url.Values{"n": {"12"}}, 1, 100, -1, 12, ""},
		{"spaces", url.Values{"n": {" 12\t"}}, 1, 100, -1, 12, ""},
		{"lowest", url.Values{"n": {"1"}}, 1, 100, -1, 1, ""},
		{"highest", url.Values{"n": {"100"}}, 1, 100, -1, 100, ""},
		{"empty gives the default", url.Values{}, 1, 100, 7, 7, ""},
		{"blank gives the default", url.Values{"n": {"  "}}, 1, 100, 7, 7, ""},
		{"empty without a default", url.Values{}, 1, 100, -1, 0, `N: "" is not a whole number from 1 to 100.`},
		{"below", url.Values{"n": {"0"}}, 1, 100, -1, 0, `N: "0" is not a whole number from 1 to 100.`},
		{"above", url.Values{"n": {"101"}}, 1, 100, -1, 0, `N: "101" is not a whole number from 1 to 100.`},
		{"letters", url.Values{"n": {"ten"}}, 1, 100, -1, 0, `"ten" is not a whole number from 1 to 100`},
		{"exponent", url.Values{"n": {"1e3"}}, 1, 100000, -1, 0, `"1e3" is not a whole number`},
		{"overflow, unbounded", url.Values{"n": {long}}, anyLow, anyHigh, -1, 0, `is not a whole number.`},
		{"negative, unbounded", url.Values{"n": {"-5"}}, anyLow, anyHigh, -1, -5, ""},
		{"twice", url.Values{"n": {"1", "2"}}, 1, 100, 7, 0, "N: sent more than once"},
		{"markup", url.Values{"n": {"<b>1</b>"}}, 1, 100, -1, 0, `"<b>1</b>" is not a whole number`},
	} {
		r := formOf(c.form)
		var got int64
		var err error
		if c.def >= 0 {
			got, err = formNumberOr(r, "n", "N", c.lo, c.hi, c.def)
		} else {
			got, err = formNumber(r, "n", "N", c.lo, c.hi)
		}
		switch {
		case c.says == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.says == "" && got != c.want:
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		case c.says != "":
			var pe *pageError
			if !errors.As(err, &pe) || pe.status != http.StatusBadRequest || !strings.Contains(pe.msg, c.says) {
				t.Errorf("%s: %v, want a 400 saying %q", c.name, err, c.says)
			} else if len(pe.msg) > 200 {
				t.Errorf("%s: the refusal quotes all of the input: %q", c.name, pe.msg)
			}
		}
	}
}

func TestFormDates(t *testing.T) {
	mar1 := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, c := range []struct {
		v      string
		date   int64 // of date; -1 refused
		either int64 // of dateOrTime; -1 refused
	}{
		{"2027-03-01", mar1, mar1},
		{" 2027-03-01 ", mar1, mar1},
		{"2027-03-01T12:00:00Z", -1, mar1 + 12*3600},
		{"2027-03-01T12:00:00+02:00", -1, mar1 + 10*3600},
		{"2027-02-30", -1, -1},
		{"01/03/2027", -1, -1},
		{"March", -1, -1},
		{"", -1, -1},
		{"2027-03-01\n<script>", -1, -1},
	} {
		d, err := date("Start", c.v)
		if c.date < 0 {
			if err == nil || !strings.Contains(err.Error(), "Start: ") || !strings.Contains(err.Error(), "is not a date") {
				t.Errorf("date(%q): %v, %v; want a refusal naming the field", c.v, d, err)
			}
		} else if err != nil || d.Unix() != c.date {
			t.Errorf("date(%q): %v, %v; want %d", c.v, d.Unix(), err, c.date)
		}
		e, err := dateOrTime("Since", c.v)
		if c.either < 0 {
			if err == nil || !strings.Contains(err.Error(), "Since: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("dateOrTime(%q): %d, %v; want a one-line refusal naming the field", c.v, e, err)
			}
		} else if err != nil || e != c.either {
			t.Errorf("dateOrTime(%q): %d, %v; want %d", c.v, e, err, c.either)
		}
	}
	if got, err := formDay(formOf(url.Values{}), "until", "Until", true); got != 0 || err != nil {
		t.Errorf("an optional empty day: %d, %v", got, err)
	}
	if _, err := formDay(formOf(url.Values{}), "until", "Until", false); err == nil {
		t.Error("a required empty day was accepted")
	}
	if got, err := formDay(formOf(url.Values{"until": {"2027-03-01"}}), "until", "Until", false); got != mar1 || err != nil {
		t.Errorf("a day: %d, %v", got, err)
	}
}
