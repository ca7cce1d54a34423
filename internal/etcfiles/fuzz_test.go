package etcfiles

import (
	"strings"
	"testing"
)

// FuzzParseExtraHost: --add-host specs give a non-empty name without a
// separator and a non-empty address, or an error.
func FuzzParseExtraHost(f *testing.F) {
	for _, s := range []string{"a:1.2.3.4", "b=::1", "c:[fe80::1]", "host-gateway", ":1", "x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ip, err := ParseExtraHost(s)
		if err != nil {
			return
		}
		if name == "" || ip == "" || strings.ContainsAny(name, ":=") {
			t.Fatalf("%q → name %q ip %q", s, name, ip)
		}
	})
}
