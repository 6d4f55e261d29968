package web

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority/internal/printable"
)

// The fields the portal reads itself, before the library judges what they
// say: numbers and dates. Each refusal names the field as the form labels
// it and shows what was typed, cut short.

// badField is the refusal of a form field: label names it as the form
// does, why says what is wrong with it.
func badField(label, why string) error {
	return &pageError{status: http.StatusBadRequest, title: "Not accepted", msg: label + ": " + why + ".",
		hint: "Correct the field and send the form again."}
}

// shown is a typed value as a refusal shows it: one printable line, cut
// short.
func shown(v string) string { return printable.Line(v, 40) }

// anyNumber is the range of wholeNumber that leaves the bounds to the
// library, whose refusal says what they are.
const anyLow, anyHigh = math.MinInt64, math.MaxInt64

// wholeNumber reads v, a whole number from lo to hi.
func wholeNumber(label, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err == nil && n >= lo && n <= hi {
		return n, nil
	}
	why := fmt.Sprintf("%q is not a whole number", shown(v))
	if lo != anyLow || hi != anyHigh {
		why += fmt.Sprintf(" from %d to %d", lo, hi)
	}
	return 0, badField(label, why)
}

// oneValue is the value of a field of a POST form, trimmed; a field sent
// more than once is refused rather than one of its values taken.
func oneValue(r *http.Request, field, label string) (string, error) {
	switch vs := r.PostForm[field]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vs[0]), nil
	}
	return "", badField(label, "sent more than once: send the form from the portal's page")
}

// formNumber reads a whole number from lo to hi from a field of the form.
func formNumber(r *http.Request, field, label string, lo, hi int64) (int64, error) {
	v, err := oneValue(r, field, label)
	if err != nil {
		return 0, err
	}
	return wholeNumber(label, v, lo, hi)
}

// formNumberOr is formNumber with def for an empty field.
func formNumberOr(r *http.Request, field, label string, lo, hi, def int64) (int64, error) {
	v, err := oneValue(r, field, label)
	if err != nil || v == "" {
		return def, err
	}
	return wholeNumber(label, v, lo, hi)
}

// date reads v, a date YYYY-MM-DD, as its midnight UTC.
func date(label, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, badField(label, fmt.Sprintf("%q is not a date: write it as 2027-12-31", shown(v)))
	}
	return t, nil
}

// dateOrTime reads v as the command line's filters do: a date (from its
// midnight UTC) or an RFC 3339 time, as Unix seconds.
func dateOrTime(label, v string) (int64, error) {
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
		return t.Unix(), nil
	}
	if t, err := time.Parse(time.DateOnly, strings.TrimSpace(v)); err == nil {
		return t.Unix(), nil
	}
	return 0, badField(label, fmt.Sprintf("%q is not a date: write a date as 2027-12-31, or a time as 2027-12-31T12:00:00Z", shown(v)))
}

// formDay reads a date from a field of the form as the Unix seconds of
// its midnight UTC; an empty field gives 0 when optional.
func formDay(r *http.Request, field, label string, optional bool) (int64, error) {
	v, err := oneValue(r, field, label)
	if err != nil || v == "" && optional {
		return 0, err
	}
	t, err := date(label, v)
	return t.Unix(), err
}

// pageSizes are the sizes a list offers for a page (?size=N).
var pageSizes = []int{25, 50, 100, 200}

// maxPageNumber bounds a page number read from the address.
const maxPageNumber = 1 << 20

// pageOf reads the page of a list the address asks for: ?page=N (from 1)
// and ?size=N (one of pageSizes), def when not given.
func pageOf(q url.Values, def int) (page, size int, err error) {
	page, size = 1, def
	if v := strings.TrimSpace(q.Get("size")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(pageSizes, n) {
			return 0, 0, badField("Page size", fmt.Sprintf("%q is not one of 25, 50, 100 and 200", shown(v)))
		}
		size = n
	}
	if v := strings.TrimSpace(q.Get("page")); v != "" {
		n, err := wholeNumber("Page", v, 1, maxPageNumber)
		if err != nil {
			return 0, 0, err
		}
		page = int(n)
	}
	return page, size, nil
}
