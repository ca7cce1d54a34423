package command

import (
	"sort"
	"strings"
	"testing"
)

func TestNaturalLess(t *testing.T) {
	in := []string{"web.10", "web.2", "web.1", "db.3", "web", "web.2a"}
	sort.SliceStable(in, func(i, j int) bool { return NaturalLess(in[i], in[j]) })
	if got := strings.Join(in, " "); got != "db.3 web web.1 web.2 web.2a web.10" {
		t.Errorf("%s", got)
	}
}

func TestPrettyPrint(t *testing.T) {
	if PrettyPrint("running") != "Running" || PrettyPrint("") != "" || PrettyPrint("2026-12-07 16:29:58 +0000 UTC") != "2026-12-07 16:29:58 +0000 utc" || PrettyPrint("X") != "x" {
		t.Error(PrettyPrint("running"))
	}
}
