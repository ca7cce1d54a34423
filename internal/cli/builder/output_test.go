package builder

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// okStream is the classic builder's answer for a two-step build whose RUN
// prints two lines.
const okStream = `{"stream":"Step 1/3 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e 050f015d5a36\n"}
{"stream":"Step 2/3 : COPY a /a"}
{"stream":"\n"}
{"stream":" ---\u003e Using cache\n"}
{"stream":" ---\u003e 3b4491be7174\n"}
{"stream":"Step 3/3 : RUN make"}
{"stream":"\n"}
{"stream":" ---\u003e Running in 8da4adb8359c\n"}
{"stream":"compiling\nlinking"}
{"stream":"\n"}
{"stream":"Removing intermediate container 8da4adb8359c\n"}
{"stream":" ---\u003e d0d0de0cff58\n"}
{"stream":"[Warning] One or more build-args [X] were not consumed\n"}
{"aux":{"ID":"sha256:d0d0de0cff58aaaa"}}
{"stream":"Successfully built d0d0de0cff58\n"}
{"stream":"Successfully tagged app:1\n"}
`

func fixedClock() func() time.Time {
	t := time.Unix(1700000000, 0)
	return func() time.Time { t = t.Add(1500 * time.Millisecond); return t }
}

func TestBuildStreamPlainIsVerbatim(t *testing.T) {
	var out bytes.Buffer
	s := &buildStreamer{out: &out, now: time.Now}
	if err := s.run(strings.NewReader(okStream)); err != nil {
		t.Fatal(err)
	}
	want := "Step 1/3 : FROM busybox\n ---> 050f015d5a36\nStep 2/3 : COPY a /a\n ---> Using cache\n ---> 3b4491be7174\n" +
		"Step 3/3 : RUN make\n ---> Running in 8da4adb8359c\ncompiling\nlinking\nRemoving intermediate container 8da4adb8359c\n" +
		" ---> d0d0de0cff58\n[Warning] One or more build-args [X] were not consumed\nSuccessfully built d0d0de0cff58\nSuccessfully tagged app:1\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if s.imageID != "sha256:d0d0de0cff58aaaa" {
		t.Errorf("image ID %q", s.imageID)
	}
}

func TestBuildStreamCompact(t *testing.T) {
	var out, log bytes.Buffer
	s := &buildStreamer{out: &out, log: &log, compact: true, now: fixedClock()}
	if err := s.run(strings.NewReader(okStream)); err != nil {
		t.Fatal(err)
	}
	want := "Step 1/3 : FROM busybox  ---> 050f015d5a36 1.5s\n" +
		"Step 2/3 : COPY a /a  ---> 3b4491be7174 (cached)\n" +
		"Step 3/3 : RUN make  ---> d0d0de0cff58 1.5s\n" +
		"[Warning] One or more build-args [X] were not consumed\n" +
		"Successfully built d0d0de0cff58\nSuccessfully tagged app:1\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.Contains(log.String(), "compiling\nlinking\nRemoving intermediate container") {
		t.Errorf("log lacks the RUN output:\n%s", log.String())
	}
}

func TestBuildStreamCompactFailure(t *testing.T) {
	stream := `{"stream":"Step 1/2 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e 050f015d5a36\n"}
{"stream":"Step 2/2 : RUN make"}
{"stream":"\n"}
{"stream":" ---\u003e Running in 8da4adb8359c\n"}
{"stream":"cc: error: no input files"}
{"errorDetail":{"code":2,"message":"The command '/bin/sh -c make' returned a non-zero code: 2"},"error":"The command '/bin/sh -c make' returned a non-zero code: 2"}
`
	var out, log bytes.Buffer
	s := &buildStreamer{out: &out, log: &log, compact: true, now: fixedClock()}
	err := s.run(strings.NewReader(stream))
	var be *buildError
	if !errors.As(err, &be) || be.Code != 2 || be.Message != "The command '/bin/sh -c make' returned a non-zero code: 2" {
		t.Fatalf("error %#v", err)
	}
	want := "Step 1/2 : FROM busybox  ---> 050f015d5a36 1.5s\n" +
		"Step 2/2 : RUN make  ERROR\n ---> Running in 8da4adb8359c\ncc: error: no input files\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestBuildStreamStatusAndProgress(t *testing.T) {
	stream := `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[==>  ]","id":"abc"}
{"status":"Digest: sha256:1"}
`
	var out bytes.Buffer
	s := &buildStreamer{out: &out, now: time.Now}
	if err := s.run(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if want := "latest: Pulling from library/busybox\nDigest: sha256:1\n"; out.String() != want {
		t.Errorf("got %q, want %q (no progress bars outside a terminal)", out.String(), want)
	}
}

func TestProgressText(t *testing.T) {
	if got := progressText(4608, -1); got != " 4.608kB" {
		t.Errorf("unknown total: %q", got)
	}
	want := "[" + strings.Repeat("=", 50) + ">] " + " 10.24kB/10.24kB"
	if got := progressText(10240, 10240); got != want {
		t.Errorf("full bar: %q", got)
	}
	var b bytes.Buffer
	progressLine(&b, "Sending build context to Docker daemon", false)(3072, -1, true)
	if b.String() != "Sending build context to Docker daemon  3.072kB\r\r\n" {
		t.Errorf("plain line %q", b.String())
	}
}

// On a terminal berth prints one line per step and keeps the full output
// in a log file it names; a failing step's output is shown.
