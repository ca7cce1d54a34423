package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

type rawEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func readRaw(t *testing.T, path string) []rawEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e rawEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 26, 23, 26, 46, 358317660, time.UTC)
	if err := w.Write("stdout", []byte("hello\n"), ts); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := `{"log":"hello\n","stream":"stdout","time":"2026-11-26T23:26:46.35831766Z"}` + "\n"
	if string(got) != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// The hand-rolled escaping must produce what encoding/json produces, so
// every byte sequence decodes to json.Marshal's interpretation of it.
func TestWriterEscapingMatchesEncodingJSON(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	cases := [][]byte{
		[]byte("quote \" backslash \\ tab \t cr \r nl \n"),
		[]byte("<html> & \u2028 \u2029 é 日本 🐳"),
		{0xff, 0xfe, 'a', 0xc3, 0x28, 0xe2, 0x82},
		{0x00, 0x01, 0x1b, '[', '3', '1', 'm', 0x7f},
		all,
	}
	for _, in := range cases {
		got := appendString(nil, in)
		want, _ := json.Marshal(string(in))
		if !bytes.Equal(got, want) {
			t.Errorf("escape %q:\n got %s\nwant %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("decode %s: %v", got, err)
		}
	}
}

func TestWriterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	const maxSize = 1000
	w, err := NewWriter(path, maxSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now()
	for i := 0; i < 100; i++ {
		if err := w.Write("stdout", []byte("line "+strconv.Itoa(i)+"\n"), ts); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Fatalf("want 3 files (max-file=3), got %d: %v", len(ents), ents)
	}
	for _, name := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize || st.Size() == 0 {
			t.Errorf("%s: size %d, want 1..%d", name, st.Size(), maxSize)
		}
	}
	// The newest line is last in path, and files are contiguous in age.
	cur := readRaw(t, path)
	if cur[len(cur)-1].Log != "line 99\n" {
		t.Fatalf("last entry %q", cur[len(cur)-1].Log)
	}
	old := readRaw(t, path+".1")
	n1, _ := strconv.Atoi(old[len(old)-1].Log[5 : len(old[len(old)-1].Log)-1])
	n0, _ := strconv.Atoi(cur[0].Log[5 : len(cur[0].Log)-1])
	if n1+1 != n0 {
		t.Fatalf("path.1 ends at %d but path starts at %d", n1, n0)
	}
}

func TestWriterSingleFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	w, err := NewWriter(path, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 20; i++ {
		if err := w.Write("stderr", []byte("0123456789\n"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("want 1 file, got %v", ents)
	}
	if st, _ := os.Stat(path); st.Size() > 200 {
		t.Fatalf("size %d > 200", st.Size())
	}
}

func TestParseOptions(t *testing.T) {
	size, files, err := ParseOptions(map[string]string{"max-size": "10m", "max-file": "3"})
	if err != nil || size != 10_000_000 || files != 3 {
		t.Fatalf("got %d %d %v", size, files, err)
	}
	size, files, err = ParseOptions(map[string]string{"max-size": "1.5k"})
	if err != nil || size != 1500 || files != 1 {
		t.Fatalf("got %d %d %v", size, files, err)
	}
	size, _, _ = ParseOptions(map[string]string{"max-size": "2GB"})
	if size != 2_000_000_000 {
		t.Fatalf("2GB = %d", size)
	}
	for opts, msg := range map[string]string{
		"max-size=abc":  "invalid size: 'abc'",
		"max-size=0":    "max-size must be a positive number",
		"max-file=0":    "max-file cannot be less than 1",
		"max-file=x":    `strconv.Atoi: parsing "x": invalid syntax`,
		"bogus=1":       "unknown log opt 'bogus' for json-file log driver",
		"max-size=10 q": "invalid size: '10 q'",
	} {
		k, v, _ := bytes.Cut([]byte(opts), []byte("="))
		_, _, err := ParseOptions(map[string]string{string(k): string(v)})
		if err == nil || err.Error() != msg {
			t.Errorf("%s: got %v, want %q", opts, err, msg)
		}
		if err != nil && !errdefsIsInvalid(err) {
			t.Errorf("%s: not classed invalid", opts)
		}
	}
}

func errdefsIsInvalid(err error) bool { return errdefs.IsInvalid(err) }
