package daemon

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		err  bool
	}{
		{"", []byte{16, 17}, false},
		{"ctrl-p,ctrl-q", []byte{16, 17}, false},
		{"ctrl-a,x", []byte{1, 'x'}, false},
		{"ctrl-@", []byte{0}, false},
		{"ctrl-[", []byte{27}, false},
		{"ctrl-", nil, true},
		{"foo", nil, true},
	} {
		got, err := parseDetachKeys(tc.in)
		if (err != nil) != tc.err {
			t.Fatalf("%q: err = %v", tc.in, err)
		}
		if !tc.err && !bytes.Equal(got, tc.want) {
			t.Fatalf("%q: got %v want %v", tc.in, got, tc.want)
		}
	}
}

func TestDetachReader(t *testing.T) {
	keys := []byte{16, 17}
	// A partial match followed by another byte is passed through intact.
	r := newDetachReader(bytes.NewReader([]byte{'a', 16, 'b', 'c'}), keys)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, []byte{'a', 16, 'b', 'c'}) {
		t.Fatalf("got %q, %v", got, err)
	}
	// The full sequence detaches; bytes before it arrive first.
	r = newDetachReader(bytes.NewReader([]byte{'x', 16, 17, 'y'}), keys)
	var out bytes.Buffer
	_, err = io.Copy(&out, r)
	if !errors.Is(err, errDetached) || out.String() != "x" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
}
