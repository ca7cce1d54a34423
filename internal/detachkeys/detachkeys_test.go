package detachkeys

import (
	"bytes"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string][]byte{
		Default: {16, 17}, "ctrl-a,x": {1, 'x'}, "ctrl-@": {0}, "ctrl-[": {27}, "CTRL-Q": {17},
	} {
		got, err := Parse(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: got %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"ctrl-", "foo", "ctrl-1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}
