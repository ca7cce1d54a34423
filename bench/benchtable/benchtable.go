// Package benchtable prints the benches' tables: a column of figures per
// target measured, then one column per ratio between two targets. Every
// bench (`go run ./bench`, `./bench/load`) prints through it, so the
// tables look alike and the ratio rule lives in one place.
package benchtable

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

// Ratio is a column num/den, printed when both targets were measured.
type Ratio struct{ Num, Den string }

// Table collects rows for the targets in order, whose results are in res.
type Table[R any] struct {
	w      *tabwriter.Writer
	order  []string
	res    map[string]R
	ratios []Ratio
	// SkipUnmeasured leaves out a row that is zero for every target (a
	// section not run).
	SkipUnmeasured bool
}

// New starts a table on stdout with the header title, the targets and the
// ratio columns of which both sides were measured.
func New[R any](title string, order []string, res map[string]R, ratios ...Ratio) *Table[R] {
	return NewTo(os.Stdout, title, order, res, ratios...)
}

// NewTo is New writing to out.
func NewTo[R any](out io.Writer, title string, order []string, res map[string]R, ratios ...Ratio) *Table[R] {
	t := &Table[R]{w: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0), order: order, res: res}
	fmt.Fprint(t.w, title)
	for _, o := range order {
		fmt.Fprintf(t.w, "\t%s", o)
	}
	for _, r := range ratios {
		_, num := res[r.Num]
		_, den := res[r.Den]
		if num && den {
			t.ratios = append(t.ratios, r)
			fmt.Fprintf(t.w, "\t%s/%s", r.Num, r.Den)
		}
	}
	fmt.Fprintln(t.w)
	return t
}

// Row prints one figure per target, formatted, and the ratios ("-" where
// the denominator is zero).
func (t *Table[R]) Row(name string, get func(R) float64, format func(float64) string) {
	if t.SkipUnmeasured {
		measured := false
		for _, o := range t.order {
			measured = measured || get(t.res[o]) != 0
		}
		if !measured {
			return
		}
	}
	fmt.Fprint(t.w, name)
	for _, o := range t.order {
		fmt.Fprintf(t.w, "\t%s", format(get(t.res[o])))
	}
	for _, r := range t.ratios {
		if den := get(t.res[r.Den]); den != 0 {
			fmt.Fprintf(t.w, "\t%.2fx", get(t.res[r.Num])/den)
		} else {
			fmt.Fprint(t.w, "\t-")
		}
	}
	fmt.Fprintln(t.w)
}

// Fact prints one cell per target and no ratio.
func (t *Table[R]) Fact(name string, cell func(R) string) {
	fmt.Fprint(t.w, name)
	for _, o := range t.order {
		fmt.Fprintf(t.w, "\t%s", cell(t.res[o]))
	}
	for range t.ratios {
		fmt.Fprint(t.w, "\t")
	}
	fmt.Fprintln(t.w)
}

// Flush writes the table out.
func (t *Table[R]) Flush() { t.w.Flush() }

// Ms formats milliseconds with the given decimals; zero is "-".
func Ms(decimals int) func(float64) string {
	return func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.*f ms", decimals, v)
	}
}

// MB formats kB as MB with the given decimals.
func MB(decimals int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f MB", decimals, v/1024) }
}

// Millis is d in milliseconds, for Row.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
