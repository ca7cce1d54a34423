package builder

import (
	"testing"
)

func TestBuildFlagValidators(t *testing.T) {
	t.Setenv("FROM_ENV", "v")
	ok := []struct {
		fn       func(string) (string, error)
		in, want string
	}{
		{validateBuildArg, "A=1", "A=1"},
		{validateBuildArg, "A=", "A="},
		{validateBuildArg, "FROM_ENV", "FROM_ENV=v"},
		{validateBuildArg, "NOT_IN_ENV_X", "NOT_IN_ENV_X"},
		{validateLabel, "a=b", "a=b"},
		{validateLabel, "bare", "bare"},
		{validateExtraHost, "h:1.2.3.4", "h:1.2.3.4"},
		{validateExtraHost, "h=::1", "h:::1"},
		{validateExtraHost, "h=[::1]", "h:::1"},
		{validateExtraHost, "h:host-gateway", "h:host-gateway"},
		{validateTag, "reg.example:5000/a/b:1", "reg.example:5000/a/b:1"},
	}
	for _, c := range ok {
		if got, err := c.fn(c.in); err != nil || got != c.want {
			t.Errorf("%q → %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		fn func(string) (string, error)
		in string
	}{
		{validateBuildArg, "=x"}, {validateLabel, "=x"}, {validateLabel, "a b=c"}, {validateExtraHost, "h"},
		{validateExtraHost, "h:notanip"}, {validateExtraHost, ":1.2.3.4"}, {validateTag, "UP"}, {validateTag, "a:b:c"},
	} {
		if _, err := c.fn(c.in); err == nil {
			t.Errorf("%q accepted", c.in)
		}
	}
}

func TestBuildQueryDefaults(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	o := &buildOpts{rm: true, network: "default", isolation: ""}
	if got := o.apiOptions("", "unix:///x").Query().Encode(); got != "version=1" {
		t.Errorf("defaults send %q, want only version=1", got)
	}
}
