package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// badCase is a command that must fail with a given exit code and message.
type badCase struct {
	name  string
	args  []string
	codes []int    // any of these exit codes
	msgs  []string // stderr must contain one of these (empty: any non-empty message)
}

func badCases(taken string) []badCase {
	return []badCase{
		{"unknown-image", runArgs("--rm", "nosuchimage-xyz:latest", "true"), []int{125}, nil},
		{"unknown-image-pull-never", runArgs("--rm", "--pull", "never", "nosuchimage-xyz:latest", "true"), []int{125},
			[]string{"No such image", "Unable to find image"}},
		{"unknown-container-stop", []string{"stop", "nosuchctr"}, []int{1}, []string{"No such container: nosuchctr"}},
		{"unknown-container-inspect", []string{"container", "inspect", "nosuchctr"}, []int{1}, []string{"No such container: nosuchctr"}},
		{"unknown-container-logs", []string{"logs", "nosuchctr"}, []int{1}, []string{"No such container: nosuchctr"}},
		{"name-in-use", runArgs("-d", "--name", taken, "busybox", "true"), []int{125},
			[]string{`Conflict. The container name "/` + taken + `" is already in use`}},
		{"rm-running", []string{"rm", taken}, []int{1}, []string{"cannot remove", "Cannot remove"}},
		{"bad-memory-value", runArgs("--rm", "--memory", "foo", "busybox", "true"), []int{125, 1}, []string{"foo"}},
		{"command-not-found", runArgs("--rm", "busybox", "nosuchcmd"), []int{127}, []string{"executable file not found"}},
		{"command-not-executable", runArgs("--rm", "busybox", "/etc/passwd"), []int{126}, []string{"permission denied"}},
		{"bad-workdir", runArgs("--rm", "-w", "relative", "busybox", "true"), []int{125}, []string{"absolute"}},
		{"bad-restart", runArgs("--rm", "--restart", "always", "busybox", "true"), []int{125}, []string{"conflicting options"}},
		{"exec-unknown-container", []string{"exec", "nosuchctr", "true"}, []int{1}, []string{"No such container: nosuchctr"}},
	}
}

func TestBadInput(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	for _, dr := range env.drivers {
		t.Run(dr.Name, func(t *testing.T) {
			c := newCase(t, dr)
			taken := c.sleeper("taken")
			probe := newLeftoverProbe(c, taken)
			for _, bc := range badCases(taken) {
				t.Run(bc.name, func(t *testing.T) {
					sub := newCase(t, dr)
					before := probe.snapshot(sub)
					r := sub.run(bc.args...)
					checkBad(sub, bc, r)
					after := probe.snapshot(sub)
					if d := diffState(before, after); d != "" {
						t.Errorf("state left behind by a failed command:\n%s", d)
					}
				})
			}
		})
	}
}

func checkBad(c *tcase, bc badCase, r testutil.Result) {
	c.Helper()
	codeOK := false
	for _, want := range bc.codes {
		codeOK = codeOK || r.Code == want
	}
	if !codeOK {
		c.Errorf("want exit code in %v: %s", bc.codes, r)
	}
	msg := strings.TrimSpace(r.Stderr)
	if msg == "" {
		c.Errorf("no error message: %s", r)
	}
	found := len(bc.msgs) == 0
	for _, m := range bc.msgs {
		found = found || strings.Contains(msg, m)
	}
	if !found {
		c.Errorf("stderr should contain one of %q: %s", bc.msgs, r)
	}
}

// leftoverProbe snapshots everything a failed command could leak: containers,
// mounts under the data root, monitor processes, bundle dirs and cgroups.
type leftoverProbe struct {
	monitor   string   // exact path of this daemon's monitor binary
	cgParents []string // cgroup dirs holding this daemon's containers
}

func newLeftoverProbe(c *tcase, running string) *leftoverProbe {
	c.Helper()
	p := &leftoverProbe{monitor: filepath.Join(testutil.BinDir(env.daemon.RepoDir), "berth-monitor")}
	pid, _ := strconv.Atoi(c.inspect(running, "{{.State.Pid}}"))
	for _, ctrl := range []string{"memory", "pids"} {
		if cg, err := testutil.CgroupOf(pid, ctrl); err == nil {
			p.cgParents = append(p.cgParents, filepath.Join("/sys/fs/cgroup", ctrl, filepath.Dir(cg)))
		}
	}
	if cg, err := testutil.CgroupOf(pid, ""); err == nil && cg != "/" {
		p.cgParents = append(p.cgParents, filepath.Join("/sys/fs/cgroup/unified", filepath.Dir(cg)))
	}
	return p
}

var idDir = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (p *leftoverProbe) snapshot(c *tcase) map[string][]string {
	c.Helper()
	st := map[string][]string{}
	st["containers"] = lines(c.ok("ps", "-aq", "--no-trunc"))
	d := env.daemon
	mounts, err := testutil.MountsUnder(d.Root)
	if err != nil {
		c.Fatal(err)
	}
	for _, m := range mounts {
		if m != d.Root { // dockerd makes its data root a mount of its own
			st["mounts"] = append(st["mounts"], m)
		}
	}
	if d.Target == testutil.TargetBerthd {
		for _, pid := range testutil.ProcsWithArg(p.monitor, d.Exec) {
			st["monitors"] = append(st["monitors"], strconv.Itoa(pid))
		}
		for _, n := range testutil.SubdirsOf(d.Exec) {
			if idDir.MatchString(n) {
				st["bundles"] = append(st["bundles"], n)
			}
		}
		// Layers and contexts of builds in progress.
		for _, n := range testutil.SubdirsOf(filepath.Join(d.Root, "overlay")) {
			if strings.HasPrefix(n, "build-") || idDir.MatchString(n) && isRWLayer(filepath.Join(d.Root, "overlay", n)) {
				st["rw-layers"] = append(st["rw-layers"], n)
			}
		}
		st["build-tmp"] = testutil.SubdirsOf(filepath.Join(d.Root, "builder", "tmp"))
		st["iptables"] = staleIptablesRules(c)
	}
	for _, parent := range p.cgParents {
		for _, n := range testutil.SubdirsOf(parent) {
			st["cgroups"] = append(st["cgroups"], filepath.Join(parent, n))
		}
	}
	for k := range st {
		sort.Strings(st[k])
	}
	return st
}

// isRWLayer tells a container's (or build step's) rw layer from an image
// layer: only rw layers have a lower file.
func isRWLayer(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "lower"))
	return err == nil
}

func diffState(before, after map[string][]string) string {
	var b strings.Builder
	for k, now := range after {
		was := map[string]bool{}
		for _, v := range before[k] {
			was[v] = true
		}
		for _, v := range now {
			if !was[v] {
				fmt.Fprintf(&b, "  new %s: %s\n", k, v)
			}
		}
	}
	return b.String()
}

// staleIptablesRules lists the rules in the daemon's iptables chain for
// bridges that no network of the daemon has any more.
func staleIptablesRules(c *tcase) []string {
	c.Helper()
	bridges := map[string]bool{}
	if ids := lines(c.ok("network", "ls", "-q", "--no-trunc")); len(ids) > 0 {
		f := `{{.ID}} {{index .Options "com.docker.network.bridge.name"}}`
		for _, l := range lines(c.ok(append([]string{"network", "inspect", "-f", f}, ids...)...)) {
			if id, name, _ := strings.Cut(l, " "); name != "" {
				bridges[name] = true
			} else if len(id) >= 12 {
				bridges["br-"+id[:12]] = true
			}
		}
	}
	chain := env.daemon.FirewallChain()
	rules, err := env.daemon.IptablesLeftovers()
	if err != nil {
		c.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		f := strings.Fields(r)
		// "<binary> -A <chain> -i|-o <bridge> ..."
		if len(f) > 4 && f[1] == "-A" && f[2] == chain && (f[3] == "-i" || f[3] == "-o") && !bridges[f[4]] {
			out = append(out, r)
		}
	}
	return out
}
