package runtime

import (
	"errors"
	"regexp"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
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

// CreateFailed is a failed create or start as dockerd words it ("failed
// to create task for container: OCI runtime create failed: ...: unknown"),
// in runc's words whichever runtime ran. It is bad input (400) when the
// user's command is at fault (ExitCode other than 128), as with dockerd.
func CreateFailed(err error) error {
	worded := errors.New(DockerWording(err.Error()))
	msg := "failed to create task for container: OCI runtime create failed: " + worded.Error() + ": unknown"
	if ExitCode(worded) != 128 {
		return errdefs.Invalid(errors.New(msg))
	}
	return errors.New(msg)
}

// ExecFailed is a refused exec as dockerd words it ("OCI runtime exec
// failed: exec failed: unable to start container process: ...: unknown"),
// with runc's prefix whichever runtime ran. Like CreateFailed it is bad
// input when the user's command is at fault. (dockerd's exit code of an
// exec that did not start is 126 whatever the cause.)
func ExecFailed(err error) error {
	const prefix = "unable to start container process: "
	msg := DockerWording(err.Error())
	if !strings.HasPrefix(msg, prefix) {
		msg = prefix + msg
	}
	out := errors.New("OCI runtime exec failed: exec failed: " + msg + ": unknown")
	if ExitCode(errors.New(msg)) != 128 {
		return errdefs.Invalid(out)
	}
	return out
}

// ExitCode is the exit status Docker gives a process the runtime could
// not start: 127 when the command is missing, 126 when it may not be
// executed, 128 for anything else. err is in runc's words (DockerWording).
func ExitCode(err error) int {
	s := err.Error()
	switch {
	case strings.Contains(s, "executable file not found"), strings.Contains(s, "no such file or directory"):
		return 127
	case strings.Contains(s, "permission denied"):
		return 126
	}
	return 128
}
