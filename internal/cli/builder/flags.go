package builder

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
)

// listValue is a repeatable flag whose values are checked (and possibly
// rewritten) as they are parsed, so a bad value fails like docker's
// opts.ListOpts: "invalid argument ... for ... flag", exit 125.
type listValue struct {
	vals     []string
	validate func(string) (string, error)
}

func (l *listValue) String() string {
	if len(l.vals) == 0 {
		return "" // no "(default [])" in help, as docker
	}
	return "[" + strings.Join(l.vals, " ") + "]"
}

func (l *listValue) Set(s string) error {
	if l.validate != nil {
		v, err := l.validate(s)
		if err != nil {
			return err
		}
		s = v
	}
	l.vals = append(l.vals, s)
	return nil
}

func (l *listValue) Type() string { return "list" }

// bytesValue is a size flag ("64m", "1g") parsed like docker's opts.MemBytes;
// allowUnlimited accepts -1 as --memory-swap does.
type bytesValue struct {
	n              int64
	allowUnlimited bool
}

func (b *bytesValue) String() string {
	if b.n == 0 {
		return "0"
	}
	return units.BytesSize(float64(b.n))
}

func (b *bytesValue) Set(s string) error {
	if b.allowUnlimited && s == "-1" {
		b.n = -1
		return nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil {
		return err
	}
	b.n = n
	return nil
}

func (b *bytesValue) Type() string { return "bytes" }

// ulimitValue collects --ulimit name=soft[:hard] values.
type ulimitValue struct{ vals []*units.Ulimit }

func (u *ulimitValue) String() string {
	s := make([]string, len(u.vals))
	for i, v := range u.vals {
		s[i] = v.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (u *ulimitValue) Set(s string) error {
	l, err := units.ParseUlimit(s)
	if err != nil {
		return err
	}
	u.vals = append(u.vals, l)
	return nil
}

func (u *ulimitValue) Type() string { return "ulimit" }

// validateTag accepts what docker's -t accepts: a reference that normalizes.
func validateTag(s string) (string, error) {
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return "", err
	}
	return s, nil
}

// validateBuildArg is docker's ValidateEnv: KEY=VAL as given, a bare KEY
// takes its value from the environment (and stays bare when unset, which
// the daemon reads as "use the ARG default").
func validateBuildArg(s string) (string, error) {
	k, _, hasValue := strings.Cut(s, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + s)
	}
	if hasValue {
		return s, nil
	}
	if v, ok := os.LookupEnv(k); ok {
		return k + "=" + v, nil
	}
	return s, nil
}

// validateLabel rejects an empty key or one with white space, as docker.
func validateLabel(s string) (string, error) {
	k, _, _ := strings.Cut(s, "=")
	k = strings.TrimLeft(k, " \t\n\v\f\r")
	if k == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", s)
	}
	if strings.ContainsAny(k, " \t\n\v\f\r") {
		return "", fmt.Errorf("label '%s' contains whitespaces", k)
	}
	return s, nil
}

// validateExtraHost accepts host:ip and host=ip (IPv6 in brackets or not,
// or "host-gateway") and returns the host:ip form the API understands.
func validateExtraHost(s string) (string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		k, v, ok = strings.Cut(s, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", s)
	}
	if v != "host-gateway" {
		if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
			v = v[1 : len(v)-1]
		}
		if net.ParseIP(v) == nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", v)
		}
	}
	return k + ":" + v, nil
}

// kvMap turns KEY=VAL strings into a map; a bare KEY maps to "" (labels).
func kvMap(vals []string) map[string]string {
	m := make(map[string]string, len(vals))
	for _, s := range vals {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// kvMapWithNil is kvMap where a bare KEY maps to null (build args).
func kvMapWithNil(vals []string) map[string]*string {
	m := make(map[string]*string, len(vals))
	for _, s := range vals {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			m[k] = nil
			continue
		}
		m[k] = &v
	}
	return m
}
