package proto

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzConfig checks the hand-rolled monitor.json codec against
// encoding/json: what UnmarshalConfig accepts encodes back to JSON that both
// readers agree on, and any Config encodes to JSON encoding/json reads
// back identically.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(MarshalConfig(&Config{ID: "abc", Dir: "/run/x", Tty: true, LogMaxSize: 1 << 20})))
	f.Add([]byte(`{"ID":"a\u00e9\n","LogFormat":"cri","ConsoleWidth":80}`))
	f.Add([]byte(`{"a":"b",}`))
	f.Add([]byte(`{"ID":"\ud800"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := UnmarshalConfig(data)
		if err != nil {
			return
		}
		enc := MarshalConfig(c)
		var std Config
		if err := json.Unmarshal(enc, &std); err != nil {
			t.Fatalf("encoding/json rejects our encoding %q of %q: %v", enc, data, err)
		}
		if std != *c {
			t.Fatalf("encoding/json read %+v from %q, we had %+v", std, enc, *c)
		}
		again, err := UnmarshalConfig(enc)
		if err != nil || *again != *c {
			t.Fatalf("round trip of %q: %+v, %v", enc, again, err)
		}
	})
}

// FuzzConfigStrings encodes arbitrary strings (invalid UTF-8 included) and
// checks that encoding/json and our decoder read the same values back.
func FuzzConfigStrings(f *testing.F) {
	f.Add("abc", "/log \"q\" \\", "\xff\xfe", int64(-1))
	f.Fuzz(func(t *testing.T, id, path, bundle string, size int64) {
		in := &Config{ID: id, LogPath: path, Bundle: bundle, LogMaxSize: size}
		enc := MarshalConfig(in)
		var std Config
		if err := json.Unmarshal(enc, &std); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", enc, err)
		}
		ours, err := UnmarshalConfig(enc)
		if err != nil {
			t.Fatalf("we reject our own %q: %v", enc, err)
		}
		if *ours != std {
			t.Fatalf("readers disagree on %q: ours %+v, encoding/json %+v", enc, *ours, std)
		}
	})
}

// FuzzReadFrame reads arbitrary bytes as a frame stream: no panic, no frame
// over MaxPayload, and every frame read re-encodes to the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	WriteFrame(&seed, Exit, ExitInfo{Code: 137, ExitedAt: 1, OOMKilled: true}.Encode())
	WriteFrame(&seed, State, StateInfo{Pid: 42, Running: true}.Encode())
	f.Add(seed.Bytes())
	f.Add([]byte{Exit, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{State, 0, 0, 0, 13, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		consumed := 0
		for {
			typ, p, err := ReadFrame(r, nil)
			if err != nil {
				return
			}
			if len(p) > MaxPayload {
				t.Fatalf("frame of %d bytes", len(p))
			}
			var out bytes.Buffer
			if err := WriteFrame(&out, typ, p); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), data[consumed:consumed+out.Len()]) {
				t.Fatalf("frame does not re-encode to its bytes")
			}
			consumed += out.Len()
			switch typ {
			case Exit:
				if e, err := DecodeExit(p); err == nil && !bytes.Equal(e.Encode(), p) && p[12] <= 1 {
					t.Fatalf("exit %x decodes to %+v", p, e)
				}
			case State:
				if s, err := DecodeState(p); err == nil && !bytes.Equal(s.Encode(), p) && p[4] <= 1 {
					t.Fatalf("state %x decodes to %+v", p, s)
				}
			}
		}
	})
}
