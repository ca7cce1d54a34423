package logs

import (
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
)

// ParseOptions reads json-file's --log-opt values. Unknown keys are refused
// like dockerd does; max-size uses Docker's decimal units (10m = 10,000,000).
// Without max-size there is no rotation (maxSize 0, one file).
func ParseOptions(opts map[string]string) (maxSize int64, maxFiles int, err error) {
	for k := range opts {
		switch k {
		case "max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode", "max-buffer-size":
		default:
			return 0, 0, errdefs.Invalidf("unknown log opt '%s' for json-file log driver", k)
		}
	}
	maxFiles = 1
	if v, ok := opts["max-size"]; ok {
		maxSize, err = parseSize(v)
		if err != nil {
			return 0, 0, err
		}
		if maxSize <= 0 {
			return 0, 0, errdefs.Invalidf("max-size must be a positive number")
		}
	}
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, errdefs.Invalidf("strconv.Atoi: parsing %q: invalid syntax", v)
		}
		if n < 1 {
			return 0, 0, errdefs.Invalidf("max-file cannot be less than 1")
		}
		maxFiles = n
	}
	if maxSize == 0 {
		// Rotation needs a size; extra files would never be written.
		maxFiles = 1
	}
	return maxSize, maxFiles, nil
}

// parseSize accepts what go-units' FromHumanSize does: a decimal number,
// optional space, then an optional k/m/g/t/p unit with optional "b" or
// "ib" suffix, all case-insensitive, powers of 1000.
func parseSize(s string) (int64, error) {
	bad := errdefs.Invalidf("invalid size: '%s'", s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, err := strconv.ParseFloat(s[:i], 64)
	if i == 0 || err != nil || num < 0 {
		return 0, bad
	}
	unit := strings.ToLower(strings.TrimLeft(s[i:], " "))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	mult := map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}
	m, ok := mult[unit]
	if !ok || (unit == "" && strings.ContainsAny(strings.ToLower(s[i:]), "i")) {
		return 0, bad
	}
	return int64(num * m), nil
}
