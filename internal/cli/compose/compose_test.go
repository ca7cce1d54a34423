package compose

import (
	"strings"
	"testing"
)

func TestComposeShorthands(t *testing.T) {
	for in, want := range map[string]string{
		"compose -f a.yml -p demo logs -f":  "compose --file=a.yml --project-name=demo logs -f",
		"compose -fa.yml -p=demo run -p 80": "compose --file=a.yml --project-name=demo run -p 80",
		"compose --ansi never up -d":        "compose --ansi never up -d",
		"compose --ansi never -f x.yml ps":  "compose --ansi never --file=x.yml ps",
		"ps -f name=x":                      "ps -f name=x",
	} {
		if got := strings.Join(Shorthands(strings.Fields(in)), " "); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestParseScale(t *testing.T) {
	m, err := parseScale([]string{"web=3", "db=0"})
	if err != nil || m["web"] != 3 || m["db"] != 0 {
		t.Errorf("parseScale: %v %v", m, err)
	}
	if _, err := parseScale([]string{"web"}); err == nil || !strings.Contains(err.Error(), "invalid scale specifier: web") {
		t.Errorf("bad scale: %v", err)
	}
}
