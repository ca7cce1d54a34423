package logs

import (
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

// FuzzParseOptions: json-file options give a positive size (or none) and at
// least one file, or a client error.
func FuzzParseOptions(f *testing.F) {
	f.Add("10m", "3", "")
	f.Add("1.5GiB", "0", "bogus")
	f.Add("-1", "x", "")
	f.Fuzz(func(t *testing.T, size, files, extra string) {
		opts := map[string]string{"max-size": size, "max-file": files}
		if extra != "" {
			opts[extra] = "1"
		}
		ms, mf, err := ParseOptions(opts)
		if err != nil {
			if !errdefs.IsInvalid(err) {
				t.Fatalf("%v: %v", opts, err)
			}
			return
		}
		if ms <= 0 || mf < 1 {
			t.Fatalf("%v → size %d files %d", opts, ms, mf)
		}
	})
}
