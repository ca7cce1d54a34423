package benchtable

import (
	"strings"
	"testing"
)

func TestTableRatiosAndSkips(t *testing.T) {
	type r struct{ a, b float64 }
	res := map[string]*r{"berthd": {a: 10}, "dockerd": {a: 40}}
	var out strings.Builder
	tab := NewTo(&out, "metric", []string{"berthd", "dockerd"}, res,
		Ratio{Num: "berthd", Den: "dockerd"}, Ratio{Num: "podman", Den: "dockerd"})
	tab.SkipUnmeasured = true
	tab.Row("a", func(x *r) float64 { return x.a }, Ms(0))
	tab.Row("b", func(x *r) float64 { return x.b }, Ms(0))
	tab.Fact("fact", func(x *r) string { return "f" })
	tab.Flush()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header, row a and the fact (b is unmeasured, podman absent), got:\n%s", out.String())
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "metric berthd dockerd berthd/dockerd" {
		t.Errorf("header %q", lines[0])
	}
	if got := strings.Fields(lines[1]); strings.Join(got, " ") != "a 10 ms 40 ms 0.25x" {
		t.Errorf("row %q", lines[1])
	}
}
