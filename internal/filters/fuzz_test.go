package filters

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

// FuzzParse reads arbitrary `filters` values: errors are client errors, and
// what parses survives a round trip through the map form the docker CLI sends.
func FuzzParse(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"label":{"a=b":true}}`, `{"name":["x","y"]}`,
		`{"status":{"running":false}}`, `{"a":{"b":true}`, `[]`, `{"until":{"10m":true},"dangling":["true"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errdefs.IsInvalid(err) {
				t.Fatalf("%q: error is not a client error: %v", s, err)
			}
			return
		}
		enc, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(string(enc))
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		if len(a) == 0 && len(b) == 0 {
			return
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q → %s → %v, want %v", s, enc, b, a)
		}
	})
}
