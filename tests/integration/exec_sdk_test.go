package integration

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestExecPythonSDK drives exec through docker-py (testdata/exec_sdk.py):
// TTY and plain output, streamed and not, a start whose Tty differs from
// the create's, Detach, the raw socket with and without a terminal, and
// failures. The expected answers are dockerd's (BERTH_TEST_TARGET=dockerd).
func TestExecPythonSDK(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	if err := exec.Command(python3(), "-c", "import docker").Run(); err != nil {
		t.Skip("python3-docker is not installed")
	}
	network := ""
	if env.daemon.Target == testutil.TargetDockerd {
		network = "none"
	}
	out, err := exec.Command(python3(), "testdata/exec_sdk.py", env.daemon.Sock, network).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("exec_sdk.py: %v\n%s\n%s", err, out, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	const missing = `OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown`
	want := map[string]any{
		"run":            []any{0.0, []any{"err\n", "out\n"}},
		"run_demux":      []any{"out\n", "err\n"},
		"run_tty":        []any{0.0, "out\r\nerr\r\n"},
		"run_tty_stream": "out\r\nerr\r\n",
		"run_exit":       3.0,
		// A TTY process behind a multiplexed stream: its one stream comes
		// as stdout frames.
		"create_tty_start_plain": "out\r\nerr\r\n",
		// No terminal behind a raw stream: stdout only.
		"create_plain_start_tty":  "out\n",
		"detach_answer":           "",
		"detach_exit":             0.0,
		"detach_effect":           "hi\n",
		"run_detach":              []any{nil, ""},
		"socket":                  map[string]any{"1": "sockout\n", "2": "sockerr\n"},
		"socket_tty":              "sockout\r\nsockerr\r\n",
		"socket_stdin":            []any{map[string]any{"1": "hello stdin\n"}, true, 0.0},
		"socket_tty_stdin_closed": []any{true, true},
		"missing_run":             []any{126.0, missing + "\r\n"},
		"missing_detach":          []any{400.0, missing},
		"missing_detach_exit":     126.0,
		"again_detach":            []any{409.0, "Error: Exec command ID has already run"},
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %#v, want %#v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unchecked result %s", k)
		}
	}
}
