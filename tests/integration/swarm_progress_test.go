package integration

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/berth-project/berth/tests/testutil"
)

// The wait of service create/update/rollback: berth's output against
// docker's, off a terminal (plain lines) and on one (bars redrawn in
// place). Which counts a poll happens to see, and how many seconds of the
// verification it shows, depend on timing; the rest must be the same.

// moving are the parts of the plain progress output that depend on when
// the polls fell.
var moving = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`^overall progress: (rolling back update: )?\d+ out of`), "overall progress: ${1}K out of"},
	{regexp.MustCompile(`^verify: Waiting \d+ seconds`), "verify: Waiting N seconds"},
}

// plainProgress is progress output without a terminal, with the moving
// counts masked and repeated lines folded into one.
func plainProgress(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, m := range moving {
			l = m.re.ReplaceAllString(l, m.with)
		}
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// screen is what a terminal shows after raw: text, CR, LF and the
// cursor-up/down and erase-line sequences of the progress renderer.
func screen(raw string) string {
	var rows [][]rune
	r, c := 0, 0
	row := func() {
		for len(rows) <= r {
			rows = append(rows, nil)
		}
	}
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "\x1b["):
			j := i + 2
			for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
				j++
			}
			if j == len(raw) {
				return "unterminated escape in " + strconv.Quote(raw)
			}
			n, _ := strconv.Atoi(raw[i+2 : j])
			switch raw[j] {
			case 'A':
				r = max(r-max(n, 1), 0)
			case 'B':
				r += max(n, 1)
			case 'K':
				row()
				rows[r] = nil
			default:
				return "unexpected escape " + strconv.Quote(raw[i:j+1])
			}
			i = j + 1
		case raw[i] == '\r':
			c, i = 0, i+1
		case raw[i] == '\n':
			r, i = r+1, i+1
		default:
			ch, size := utf8.DecodeRuneInString(raw[i:])
			row()
			for len(rows[r]) <= c {
				rows[r] = append(rows[r], ' ')
			}
			rows[r][c] = ch
			c, i = c+1, i+size
		}
	}
	lines := make([]string, len(rows))
	for i, l := range rows {
		lines[i] = strings.TrimRight(string(l), " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// onTerminal runs the CLI under script(1), on a pseudo-terminal of 150
// columns, and returns what it wrote there and its exit status.
func onTerminal(ctx context.Context, dr testutil.Driver, args ...string) (string, int) {
	line := "stty cols 150 rows 50 && exec"
	for _, a := range append(append([]string{dr.Bin}, dr.Args...), args...) {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.CommandContext(ctx, "script", "-q", "-e", "-c", line, "/dev/null")
	cmd.Env = dr.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), code
}

// checkProgress holds berth's waits for a service to what docker prints
// for the same daemon: create off a terminal, update on one and off one,
// rollback off one.
func checkProgress(t *testing.T, docker, berth testutil.Driver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	drivers := []testutil.Driver{docker, berth}

	// create, off a terminal: a service each, whose ID is masked.
	var plain [2]string
	for i, dr := range drivers {
		name := "prog" + dr.Name
		start := time.Now()
		r := runLong(ctx, dr, "service", "create", "--name", name, "--replicas", "2", "busybox", "sleep", "600")
		t.Logf("%s service create: %v", dr.Name, time.Since(start).Round(time.Second))
		id, _, _ := strings.Cut(r.Stdout, "\n")
		if r.Code != 0 || len(id) < 12 || strings.Contains(r.Stdout, "\x1b") {
			t.Fatalf("%s service create: %s", dr.Name, r)
		}
		plain[i] = plainProgress(strings.ReplaceAll(r.Stdout, id, "ID"))
	}
	want := "ID\noverall progress: K out of 2 tasks\n1/2:  \n2/2:  \noverall progress: K out of 2 tasks\n" +
		"verify: Waiting N seconds to verify that tasks are stable...\nverify: Service ID converged\n"
	if plain[0] != want || plain[1] != want {
		t.Errorf("service create progress (plain):\n--- docker\n%s--- berth\n%s--- want\n%s", plain[0], plain[1], want)
	}

	// update, on a terminal: the same service, a new env value each time;
	// the screens at the end are the same and the bars were redrawn.
	for i, dr := range drivers {
		start := time.Now()
		raw, code := onTerminal(ctx, dr, "service", "update", "--env-add", "RUN="+strconv.Itoa(i), "progdocker")
		t.Logf("%s service update on a terminal: %v", dr.Name, time.Since(start).Round(time.Second))
		want := "progdocker\noverall progress: 2 out of 2 tasks\n" +
			"1/2: running   [==================================================>]\n" +
			"2/2: running   [==================================================>]\n" +
			"verify: Service progdocker converged"
		if got := screen(raw); code != 0 || got != want || !strings.Contains(raw, "\x1b[2K") || !strings.Contains(raw, "\x1b[1A") {
			t.Errorf("%s service update on a terminal (exit %d):\n%s\n--- raw\n%q\n--- want\n%s", dr.Name, code, got, raw, want)
		}
	}

	// update and rollback, off a terminal.
	for _, step := range [][]string{{"update", "--env-add", "RUN=plain"}, {"rollback"}} {
		for i, dr := range drivers {
			args := append(append([]string{"service"}, step...), "progdocker")
			if step[0] == "update" {
				args[len(args)-2] += dr.Name // a change each time
			}
			start := time.Now()
			r := runLong(ctx, dr, args...)
			t.Logf("%s: %v", strings.Join(args, " "), time.Since(start).Round(time.Second))
			if r.Code != 0 {
				t.Fatalf("%s: %s", strings.Join(args, " "), r)
			}
			plain[i] = plainProgress(r.Stdout)
		}
		if plain[0] != plain[1] || !strings.HasSuffix(plain[1], "verify: Service progdocker converged\n") {
			t.Errorf("service %s progress (plain):\n--- docker\n%s--- berth\n%s", step[0], plain[0], plain[1])
		}
	}
	if r := berth.Run(ctx, nil, "service", "rm", "progdocker", "progberth"); r.Code != 0 {
		t.Errorf("service rm: %s", r)
	}
}

// checkLogsAcrossRestarts follows a service whose task exits non-zero
// after a line and is restarted in its pod (a new container, a new CRI
// log file): `service logs -f` of the service and of its task goes on
// with each run, with either CLI. It starts them and returns the check,
// which waits for the restarts (the kubelet's back-off is 10 s, then 20).
func checkLogsAcrossRestarts(t *testing.T, docker, berth testutil.Driver) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	r := berth.Run(ctx, nil, "service", "create", "-d", "--name", "crasher", "--restart-condition", "on-failure",
		"busybox", "sh", "-c", "echo run $(cat /proc/sys/kernel/random/uuid); sleep 1; exit 3")
	var fs []follower
	stop := func() {
		cancel()
		for _, f := range fs {
			<-f.done
		}
		berth.Run(context.Background(), nil, "service", "rm", "crasher")
	}
	t.Cleanup(stop) // when a check fails fatally before the end
	if r.Code != 0 {
		t.Fatalf("service create: %s", r)
	}
	follow := func(dr testutil.Driver, ref string) follower {
		cmd := dr.Command(ctx, "service", "logs", "-f", ref)
		f := follower{name: dr.Name + " service logs -f " + ref, out: &syncBuffer{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = f.out, f.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); close(f.done) }()
		return f
	}
	fs = append(fs, follow(docker, "crasher"), follow(berth, "crasher"))
	// The task: the pod's current run, once it is there.
	var task string
	for deadline := time.Now().Add(2 * time.Minute); task == "" && time.Now().Before(deadline); time.Sleep(time.Second) {
		task = berth.Run(ctx, nil, "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", "crasher").Out()
	}
	if task == "" || strings.Contains(task, "\n") {
		t.Fatalf("the task of crasher: %q", task)
	}
	fs = append(fs, follow(berth, task), follow(docker, task))
	runs := regexp.MustCompile(`\| run ([0-9a-f-]{36})\n`)
	distinct := func(s string) int {
		seen := map[string]bool{}
		for _, m := range runs.FindAllStringSubmatch(s, -1) {
			seen[m[1]] = true
		}
		return len(seen)
	}
	return func() {
		t.Helper()
		checkRuns(t, fs, distinct)
		stop()
	}
}

// follower is a `service logs -f` running.
type follower struct {
	name string
	out  *syncBuffer
	done chan struct{}
}

// checkRuns wants each follower to have seen two runs.
func checkRuns(t *testing.T, fs []follower, distinct func(string) int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, f := range fs {
		for distinct(f.out.String()) < 2 && time.Now().Before(deadline) {
			select {
			case <-f.done:
				t.Errorf("%s ended:\n%s", f.name, f.out.String())
			case <-time.After(time.Second):
				continue
			}
			break
		}
		if n := distinct(f.out.String()); n < 2 {
			t.Errorf("%s saw %d runs:\n%s", f.name, n, f.out.String())
		}
	}
}
