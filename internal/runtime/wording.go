package runtime

import (
	"regexp"
	"strings"
)

var crunNotFound = regexp.MustCompile("executable file `([^`]*)` not found in \\$PATH: No such file or directory")

// DockerWording rewrites crun's errors into runc's words where the docker
// CLI and Docker's clients branch on them: "executable file not found"
// (exit 127) and a lower-case "permission denied" / "no such file or
// directory" (126 / 127). runc's messages pass unchanged.
func DockerWording(msg string) string {
	msg = crunNotFound.ReplaceAllString(msg, `exec: "$1": executable file not found in $$PATH`)
	msg = strings.ReplaceAll(msg, "open executable: Permission denied", "exec: permission denied")
	msg = strings.ReplaceAll(msg, ": No such file or directory", ": no such file or directory")
	msg = strings.ReplaceAll(msg, ": Permission denied", ": permission denied")
	return msg
}
