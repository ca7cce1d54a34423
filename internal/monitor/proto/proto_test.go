package proto

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestConfigRoundTrip(t *testing.T) {
	in := &Config{
		ID: "abc", Dir: "/run/x \"q\" \\ é", Bundle: "/b\n", RuntimePath: "/usr/sbin/runc", RuntimeFD: 4,
		RuntimeRoot: "/r", LogPath: "/l<>&", LogMaxSize: 1 << 40, LogMaxFiles: 3,
		Tty: true, StdinOnce: true, ConsoleHeight: 40, ConsoleWidth: 120, CgroupMemoryPath: "/sys/fs/cgroup/memory/x",
	}
	data := MarshalConfig(in)
	// The hand-rolled encoder must produce JSON encoding/json agrees with.
	var std Config
	if err := json.Unmarshal(data, &std); err != nil {
		t.Fatalf("encoding/json rejects %s: %v", data, err)
	}
	if std != *in {
		t.Errorf("encoding/json read %+v, want %+v", std, *in)
	}
	out, err := UnmarshalConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if *out != *in {
		t.Errorf("got %+v, want %+v", *out, *in)
	}
	// And it must read what encoding/json writes.
	std2, _ := json.MarshalIndent(in, "", "  ")
	out2, err := UnmarshalConfig(std2)
	if err != nil {
		t.Fatal(err)
	}
	if *out2 != *in {
		t.Errorf("from encoding/json: got %+v, want %+v", *out2, *in)
	}
}

func TestConfigSyntaxErrors(t *testing.T) {
	for _, s := range []string{"", "[]", `{"a"}`, `{"a":"b"`, `{"a":"b",}`, `{"a":"\u12"}`} {
		if _, err := UnmarshalConfig([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	ex := ExitInfo{Code: -1, ExitedAt: 1234567890123, OOMKilled: true}
	if err := WriteFrame(&buf, Exit, ex.Encode()); err != nil {
		t.Fatal(err)
	}
	st := StateInfo{Pid: 4242, Running: true, StartedAt: 99}
	WriteFrame(&buf, State, st.Encode())
	typ, p, err := ReadFrame(&buf, nil)
	if err != nil || typ != Exit {
		t.Fatalf("typ %c err %v", typ, err)
	}
	if got, _ := DecodeExit(p); got != ex {
		t.Errorf("exit %+v, want %+v", got, ex)
	}
	typ, p, _ = ReadFrame(&buf, nil)
	if got, _ := DecodeState(p); typ != State || got != st {
		t.Errorf("state %+v, want %+v", got, st)
	}
	if _, _, err := ReadFrame(&buf, nil); err == nil {
		t.Error("read past end succeeded")
	}
}
