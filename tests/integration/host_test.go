package integration

import (
	"os/exec"
)

// hostCmd runs a host tool (nsenter, tar) and returns its combined output.
func hostCmd(c *tcase, name string, args ...string) (string, error) {
	c.Helper()
	out, err := exec.CommandContext(c.ctx, name, args...).CombinedOutput()
	return string(out), err
}
