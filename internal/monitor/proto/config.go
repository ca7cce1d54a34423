package proto

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Config is monitor.json: what berth-monitor needs to run one container.
// It is a flat JSON object; the codec below is hand-rolled so the monitor
// does not link encoding/json.
type Config struct {
	ID, Dir, Bundle          string
	RuntimePath, RuntimeRoot string
	// RuntimeFD, when not 0, is the monitor's descriptor of a sealed copy
	// of the runtime binary, to execute instead of RuntimePath.
	RuntimeFD int
	// HideCgroup2: the runtime runs in a mount namespace of its own
	// without the host's cgroup2 mount at /sys/fs/cgroup/unified (crun on a
	// hybrid cgroup host, what cmd/berth-crun does for berthd's own calls).
	HideCgroup2 bool
	LogPath     string
	// LogFormat is "" for Docker's json-file or "cri" for the Kubernetes
	// container log format (CRI front end; the kubelet rotates those).
	LogFormat        string
	LogMaxSize       int64
	LogMaxFiles      int
	Tty, OpenStdin   bool
	StdinOnce        bool
	ConsoleHeight    uint
	ConsoleWidth     uint
	CgroupMemoryPath string
}

// MarshalConfig encodes c as a flat JSON object.
func MarshalConfig(c *Config) []byte {
	b := []byte{'{'}
	str := func(k, v string) { b = appendKey(b, k); b = AppendJSONString(b, v) }
	num := func(k string, v int64) { b = appendKey(b, k); b = strconv.AppendInt(b, v, 10) }
	boo := func(k string, v bool) { b = appendKey(b, k); b = strconv.AppendBool(b, v) }
	str("ID", c.ID)
	str("Dir", c.Dir)
	str("Bundle", c.Bundle)
	str("RuntimePath", c.RuntimePath)
	str("RuntimeRoot", c.RuntimeRoot)
	num("RuntimeFD", int64(c.RuntimeFD))
	if c.HideCgroup2 {
		boo("HideCgroup2", true)
	}
	str("LogPath", c.LogPath)
	if c.LogFormat != "" {
		str("LogFormat", c.LogFormat)
	}
	num("LogMaxSize", c.LogMaxSize)
	num("LogMaxFiles", int64(c.LogMaxFiles))
	boo("Tty", c.Tty)
	boo("OpenStdin", c.OpenStdin)
	boo("StdinOnce", c.StdinOnce)
	num("ConsoleHeight", int64(c.ConsoleHeight))
	num("ConsoleWidth", int64(c.ConsoleWidth))
	str("CgroupMemoryPath", c.CgroupMemoryPath)
	return append(b, '}')
}

func appendKey(b []byte, k string) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = AppendJSONString(b, k)
	return append(b, ':')
}

// UnmarshalConfig decodes what MarshalConfig wrote (any flat object of
// strings, integers and booleans; unknown keys are ignored).
func UnmarshalConfig(data []byte) (*Config, error) {
	m, err := ParseFlat(data)
	if err != nil {
		return nil, err
	}
	c := &Config{
		ID: m["ID"], Dir: m["Dir"], Bundle: m["Bundle"],
		RuntimePath: m["RuntimePath"], RuntimeRoot: m["RuntimeRoot"],
		LogPath: m["LogPath"], LogFormat: m["LogFormat"], CgroupMemoryPath: m["CgroupMemoryPath"],
		Tty: m["Tty"] == "true", OpenStdin: m["OpenStdin"] == "true", StdinOnce: m["StdinOnce"] == "true",
		HideCgroup2: m["HideCgroup2"] == "true",
	}
	ints := []struct {
		k string
		p *int64
	}{{"LogMaxSize", &c.LogMaxSize}}
	for _, f := range ints {
		if v, ok := m[f.k]; ok {
			if *f.p, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, errors.New("monitor config: bad " + f.k)
			}
		}
	}
	for _, f := range []struct {
		k string
		p *uint
	}{{"ConsoleHeight", &c.ConsoleHeight}, {"ConsoleWidth", &c.ConsoleWidth}} {
		if v, ok := m[f.k]; ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, errors.New("monitor config: bad " + f.k)
			}
			*f.p = uint(n)
		}
	}
	if v, ok := m["RuntimeFD"]; ok {
		if c.RuntimeFD, err = strconv.Atoi(v); err != nil || c.RuntimeFD < 0 {
			return nil, errors.New("monitor config: bad RuntimeFD")
		}
	}
	if v, ok := m["LogMaxFiles"]; ok {
		if c.LogMaxFiles, err = strconv.Atoi(v); err != nil {
			return nil, errors.New("monitor config: bad LogMaxFiles")
		}
	}
	return c, nil
}

var errSyntax = errors.New("monitor config: JSON syntax error")

// ParseFlat reads {"k": "str" | number | true | false, ...}. Strings are
// unescaped; other values are kept as their literal text.
func ParseFlat(d []byte) (map[string]string, error) {
	m := map[string]string{}
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, errSyntax
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return m, nil
	}
	for {
		k, n, err := parseString(d, i)
		if err != nil {
			return nil, err
		}
		i = skipWS(d, n)
		if i >= len(d) || d[i] != ':' {
			return nil, errSyntax
		}
		i = skipWS(d, i+1)
		var v string
		if i < len(d) && d[i] == '"' {
			v, i, err = parseString(d, i)
			if err != nil {
				return nil, err
			}
		} else {
			j := i
			for j < len(d) && d[j] != ',' && d[j] != '}' && d[j] > ' ' {
				j++
			}
			v, i = string(d[i:j]), j
			if !isLiteral(v) {
				return nil, errSyntax
			}
		}
		m[k] = v
		i = skipWS(d, i)
		if i >= len(d) {
			return nil, errSyntax
		}
		if d[i] == '}' {
			return m, nil
		}
		if d[i] != ',' {
			return nil, errSyntax
		}
		i = skipWS(d, i+1)
	}
}

// isLiteral reports whether s is a JSON literal other than a string: true,
// false, null or a number.
func isLiteral(s string) bool {
	switch s {
	case "true", "false", "null":
		return true
	case "":
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// parseString reads a JSON string starting at d[i] == '"' and returns it
// and the index after the closing quote.
func parseString(d []byte, i int) (string, int, error) {
	if i >= len(d) || d[i] != '"' {
		return "", 0, errSyntax
	}
	var out []byte
	for i++; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '"':
			return validUTF8(out), i + 1, nil
		case c != '\\':
			out = append(out, c)
			continue
		}
		i++
		if i >= len(d) {
			return "", 0, errSyntax
		}
		switch d[i] {
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			if i+4 >= len(d) {
				return "", 0, errSyntax
			}
			r, err := strconv.ParseUint(string(d[i+1:i+5]), 16, 32)
			if err != nil {
				return "", 0, errSyntax
			}
			i += 4
			// A surrogate pair is one character, as encoding/json reads it;
			// a lone surrogate becomes U+FFFD (utf8.AppendRune does that).
			if r >= 0xd800 && r < 0xdc00 && i+6 < len(d) && d[i+1] == '\\' && d[i+2] == 'u' {
				if lo, err := strconv.ParseUint(string(d[i+3:i+7]), 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
					r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
					i += 6
				}
			}
			out = utf8.AppendRune(out, rune(r))
		default:
			out = append(out, d[i])
		}
	}
	return "", 0, errSyntax
}

// validUTF8 replaces each invalid byte by U+FFFD, as encoding/json does
// when it decodes, so both readers of monitor.json see the same strings.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 is
// replaced by U+FFFD, as encoding/json does.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
