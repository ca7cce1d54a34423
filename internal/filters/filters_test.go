package filters

import (
	"reflect"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestParseForms(t *testing.T) {
	cases := []struct {
		in   string
		want Args
	}{
		{"", Args{}},
		{"{}", Args{}},
		{`{"name":{"c1":true},"status":{"running":true}}`, Args{"name": {"c1": true}, "status": {"running": true}}},
		{`{"dangling":{"true":true,"false":false}}`, Args{"dangling": {"true": true}}},
		// docker-py / compose 1.x: list form with a space after the colon.
		{`{"label": ["com.docker.compose.project=p", "com.docker.compose.oneoff=False"]}`,
			Args{"label": {"com.docker.compose.project=p": true, "com.docker.compose.oneoff=False": true}}},
		{`{"container":["abc"],"type":["container"]}`, Args{"container": {"abc": true}, "type": {"container": true}}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("Parse(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`{"a":`, `["x"]`, `{"a":"b"}`} {
		if _, err := Parse(bad); !errdefs.IsInvalid(err) {
			t.Fatalf("Parse(%q) err = %v, want invalid", bad, err)
		}
	}
}

func TestMatchers(t *testing.T) {
	a, err := Parse(`{"label":{"app=web":true,"tier":true},"name":{"^/c[0-9]$":true},"id":{"abc":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !a.MatchKVList("label", map[string]string{"app": "web", "tier": "front"}) {
		t.Fatal("labels app=web,tier should match")
	}
	if a.MatchKVList("label", map[string]string{"app": "db", "tier": "x"}) || a.MatchKVList("label", map[string]string{"app": "web"}) {
		t.Fatal("wrong label value or missing key matched")
	}
	if !a.Match("name", "/c1") || a.Match("name", "/c12") {
		t.Fatal("regexp name match wrong")
	}
	if !a.ExactMatch("id", "abc") || a.ExactMatch("id", "abcd") || !a.ExactMatch("nokey", "x") {
		t.Fatal("ExactMatch wrong")
	}
	if !a.FuzzyMatch("id", "abcdef") || a.FuzzyMatch("id", "xabc") {
		t.Fatal("FuzzyMatch wrong")
	}
	if got := a.Get("label"); !reflect.DeepEqual(got, []string{"app=web", "tier"}) {
		t.Fatalf("Get = %v", got)
	}
	if !a.Contains("name") || a.Contains("status") || a.Len() != 3 {
		t.Fatal("Contains/Len wrong")
	}
}

func TestValidateAndBool(t *testing.T) {
	a := Args{"dangling": {"True": true}, "x": {"1": true}}
	err := a.Validate("dangling", "label")
	if !errdefs.IsInvalid(err) || err.Error() != "invalid filter 'x'" {
		t.Fatalf("Validate = %v", err)
	}
	if err := a.Validate("dangling", "x"); err != nil {
		t.Fatal(err)
	}
	if v, err := a.GetBoolOrDefault("dangling", false); err != nil || !v {
		t.Fatalf("dangling=True: %v %v", v, err)
	}
	if v, err := a.GetBoolOrDefault("missing", true); err != nil || !v {
		t.Fatalf("default: %v %v", v, err)
	}
	if _, err := (Args{"dangling": {"maybe": true}}).GetBoolOrDefault("dangling", false); !errdefs.IsInvalid(err) {
		t.Fatalf("bad bool: %v", err)
	}
	s, err := Args{"a": {"b": true}}.Encode()
	if err != nil || s != `{"a":{"b":true}}` {
		t.Fatalf("Encode = %q %v", s, err)
	}
}
