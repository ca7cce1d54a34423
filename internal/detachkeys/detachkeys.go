// Package detachkeys parses Docker's detach key sequences ("ctrl-p,ctrl-q"),
// shared by the daemon (which acts on them) and the CLI (which only needs to
// know the user detached).
package detachkeys

import (
	"fmt"
	"strings"
)

// Default is Docker's sequence when none is given.
const Default = "ctrl-p,ctrl-q"

// Parse turns "ctrl-p,ctrl-q" (or single characters like "a") into bytes.
func Parse(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(c) != 1 {
			return nil, fmt.Errorf("Invalid escape keys (%s) provided", s)
		}
		switch b := c[0]; {
		case b >= 'a' && b <= 'z':
			out = append(out, b-'a'+1)
		case b == '@':
			out = append(out, 0)
		case b >= '[' && b <= '_':
			out = append(out, b-'['+27)
		default:
			return nil, fmt.Errorf("Invalid escape keys (%s) provided", s)
		}
	}
	return out, nil
}
