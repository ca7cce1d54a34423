package jsonstream

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	steps := []func() error{
		func() error { return w.Status("v1", "Pulling from demo/rand") },
		func() error { return w.Progress("12f73c254fb4", "Downloading", 1227, 1227, "[==>]") },
		func() error { return w.Progress("bdd44404c237", "Pulling fs layer", 0, 0, "") },
		func() error { return w.Stream("Loaded image: busybox:latest\n") },
		func() error { return w.Aux(map[string]any{"Tag": "v1", "Size": 527}) },
		func() error { return w.Error(errors.New("boom")) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"status":"Pulling from demo/rand","id":"v1"}` + "\r\n" +
		`{"status":"Downloading","progressDetail":{"current":1227,"total":1227},"progress":"[==\u003e]","id":"12f73c254fb4"}` + "\r\n" +
		`{"status":"Pulling fs layer","progressDetail":{},"id":"bdd44404c237"}` + "\r\n" +
		`{"stream":"Loaded image: busybox:latest\n"}` + "\r\n" +
		`{"progressDetail":{},"aux":{"Size":527,"Tag":"v1"}}` + "\r\n" +
		`{"errorDetail":{"message":"boom"},"error":"boom"}` + "\r\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !rec.Flushed {
		t.Fatal("stream was not flushed")
	}
	var statuses []string
	err := Decode(strings.NewReader(want), func(m Message) error {
		statuses = append(statuses, m.Status+m.Stream)
		return nil
	})
	if err == nil || err.Error() != "boom" {
		t.Fatalf("Decode error = %v", err)
	}
	if len(statuses) != 5 || statuses[0] != "Pulling from demo/rand" {
		t.Fatalf("decoded %q", statuses)
	}
}
