package portmap

import (
	"strconv"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

// FuzzParseHostPort: host port specs either fail as client errors or give
// an ordered range that prints back to an equivalent spec.
func FuzzParseHostPort(f *testing.F) {
	for _, s := range []string{"", "80", "8000-8010", "10-1", "65536", "-1", "0", "1-", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := parseHostPort(s)
		if err != nil {
			if !errdefs.IsInvalid(err) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if lo > hi {
			t.Fatalf("%q: range %d-%d", s, lo, hi)
		}
		if s == "" {
			return
		}
		spec := strconv.Itoa(int(lo))
		if hi != lo {
			spec += "-" + strconv.Itoa(int(hi))
		}
		if lo2, hi2, err := parseHostPort(spec); err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("%q → %s → %d-%d %v", s, spec, lo2, hi2, err)
		}
	})
}
