package web

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// A subsTimeline is a product's subscription years and wallet lots as bars
// over time, with today (the ledger's clock): the picture is SVG drawn
// here from numbers, and the page shows the same bars as a table.
type subsTimeline struct {
	ID    string // of the SVG's title, unique on the page
	Title string
	Now   int64 // Unix seconds: the ledger's clock
	Bars  []subsTimelineBar
	SVG   template.HTML
}

// A subsTimelineBar runs from Start to End (Unix seconds, End exclusive);
// a year's has its grace period, to Grace.
type subsTimelineBar struct {
	Label string
	Kind  string // "year", "lot", "extension lot"
	Start int64
	End   int64
	Grace int64 // 0 for none
	Note  string
	fill  string
}

// Colors of the bars (presentation attributes: no style).
const (
	tlFillMet       = "#1a7f37"
	tlFillUnmet     = "#b54708"
	tlFillLot       = "#0b5cad"
	tlFillExtension = "#6e40c9"
	tlFillGrace     = "#ffe9a8"
	tlStrokeGrid    = "#d0d4da"
	tlStrokeToday   = "#b42318"
	tlFillText      = "#1b1f24"
)

// newSubsTimeline returns the timeline of a product's state: a bar per
// subscription year from the current one (with its grace period) and
// per wallet lot not expired with licenses left, by start date; nil
// when there is nothing to draw.
func newSubsTimeline(st *authority.SubscriptionStatus) *subsTimeline {
	t := &subsTimeline{ID: "timeline-" + st.Product.Name, Title: "Timeline of " + st.Product.Ref(), Now: st.At}
	for _, y := range st.Years {
		b := subsTimelineBar{Label: fmt.Sprintf("Year %d", y.Year), Kind: "year", Start: y.Start, End: y.End, Grace: st.GraceEnd(y.Year)}
		if y.Met {
			b.Note, b.fill = "fully allocated: "+authority.FormatKeyLines(y.Allocated), tlFillMet
		} else {
			b.Note, b.fill = "not fully allocated", tlFillUnmet
			if len(y.Allocated) > 0 {
				b.Note += ": " + authority.FormatKeyLines(y.Allocated)
			}
		}
		t.Bars = append(t.Bars, b)
	}
	for _, w := range st.Wallet {
		b := subsTimelineBar{Label: fmt.Sprintf("Lot %d: %d %s", w.ID, w.Count, w.Tag), Kind: "lot", Start: w.EnteredAt, End: w.ExpiresAt,
			Note: fmt.Sprintf("%d of %d left, key %s", w.Count, w.Initial, authority.KeyID(w.KeyHash)), fill: tlFillLot}
		if w.Extension {
			b.Kind, b.fill = "extension lot", tlFillExtension
		}
		t.Bars = append(t.Bars, b)
	}
	if len(t.Bars) == 0 {
		return nil
	}
	sort.SliceStable(t.Bars, func(i, j int) bool {
		a, b := t.Bars[i], t.Bars[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.End < b.End
	})
	t.SVG = t.draw()
	return t
}

// Geometry of the picture, in SVG user units.
const (
	tlWidth  = 760
	tlLabels = 230 // the column of the bars' labels
	tlRight  = 20
	tlTop    = 30 // the axis labels
	tlRow    = 24
	tlBar    = 14
	tlBottom = 24 // the today label
	tlMaxLab = 34 // characters of a label; the whole one is in the bar's title
)

// esc escapes text for SVG inside HTML: html/template's escaping, whose
// entities XML knows too.
func tlEsc(s string) string { return template.HTMLEscapeString(s) }

// month returns the first day of t's month (UTC), or of the next with
// up set and t not on a month's first instant.
func tlMonth(t int64, up bool) time.Time {
	u := time.Unix(t, 0).UTC()
	m := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
	if up && m.Unix() < t {
		m = m.AddDate(0, 1, 0)
	}
	return m
}

// draw returns the SVG of the timeline. Every value in it is a number
// formatted here or text escaped here.
func (t *subsTimeline) draw() template.HTML {
	lo, hi := t.Now, t.Now
	for _, b := range t.Bars {
		lo, hi = min(lo, b.Start), max(hi, b.End, b.Grace)
	}
	from, to := tlMonth(lo, false), tlMonth(hi, true)
	if !to.After(from) {
		to = from.AddDate(0, 1, 0)
	}
	span := float64(to.Unix() - from.Unix())
	x := func(u int64) float64 {
		return tlLabels + float64(u-from.Unix())/span*(tlWidth-tlLabels-tlRight)
	}
	height := tlTop + len(t.Bars)*tlRow + tlBottom
	var b strings.Builder
	id := tlEsc(t.ID)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-title %s-desc">`,
		tlWidth, height, tlWidth, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, id, tlEsc(t.Title))
	fmt.Fprintf(&b, `<desc id="%s-desc">%s</desc>`, id, tlEsc(fmt.Sprintf("%d bars from %s to %s; today is %s. The table below gives the same dates.",
		len(t.Bars), authority.FormatDay(lo), authority.FormatDay(hi), authority.FormatDay(t.Now))))
	// The axis: a line per month, labelled at a step that leaves room.
	months := (to.Year()-from.Year())*12 + int(to.Month()-from.Month())
	step := 12
	switch {
	case months <= 8:
		step = 1
	case months <= 24:
		step = 3
	}
	// The first month is labelled too when the next label is far
	// enough not to overlap it: the axis then says where it starts.
	first := from
	for (int(first.Month())-1)%step != 0 {
		first = first.AddDate(0, 1, 0)
	}
	if x(first.Unix())-x(from.Unix()) >= 50 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="%s" text-anchor="start">%s</text>`, x(from.Unix()), tlTop-12, tlFillText, from.Format("2006-01"))
	}
	for m := first; !m.After(to); m = m.AddDate(0, step, 0) {
		mx := x(m.Unix())
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1"/>`, mx, tlTop-8, mx, height-tlBottom, tlStrokeGrid)
		label := m.Format("2006-01")
		if step == 12 {
			label = m.Format("2006")
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="%s" text-anchor="middle">%s</text>`, mx, tlTop-12, tlFillText, label)
	}
	for i, bar := range t.Bars {
		y := tlTop + i*tlRow
		label := bar.Label
		if r := []rune(label); len(r) > tlMaxLab {
			label = string(r[:tlMaxLab-1]) + "…"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" font-size="11" fill="%s">%s</text>`, y+tlBar-2, tlFillText, tlEsc(label))
		x1, x2 := x(bar.Start), x(bar.End)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s"><title>%s</title></rect>`,
			x1, y, max(x2-x1, 1), tlBar, bar.fill, tlEsc(fmt.Sprintf("%s: %s to %s, %s", bar.Label, authority.FormatDay(bar.Start), authority.FormatDay(bar.End), bar.Note)))
		if bar.Grace > bar.Start {
			g1 := x(max(bar.Start, bar.Grace-authority.GraceDays*24*60*60))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="%s" stroke-width="1"><title>%s</title></rect>`,
				g1, y+tlBar/4, max(x(bar.Grace)-g1, 1), tlBar/2, tlFillGrace, tlFillText, tlEsc(fmt.Sprintf("Grace period of %s: until %s", bar.Label, authority.FormatDay(bar.Grace))))
		}
	}
	nx := x(t.Now)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`, nx, tlTop-8, nx, height-tlBottom+4, tlStrokeToday)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="%s" text-anchor="middle">today %s</text>`, nx, height-6, tlStrokeToday, authority.FormatDay(t.Now))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
