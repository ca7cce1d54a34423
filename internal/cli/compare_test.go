package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAgainstDockerd runs the same commands through docker CLI 28 and berth
// on one private dockerd and compares stdout and exit codes.
func TestAgainstDockerd(t *testing.T) {
	d := startDockerd(t)
	if _, e, c := d.docker(t, "", "run", "-d", "--name", "c1", "--network", "none", "-l", "a=b", "-e", "A=1",
		"busybox", "sh", "-c", "echo out; echo err >&2; sleep 3000"); c != 0 {
		t.Fatalf("setup run: %s", e)
	}
	if _, e, c := d.docker(t, "", "create", "--name", "c2", "--network", "none", "busybox", "true"); c != 0 {
		t.Fatalf("setup create: %s", e)
	}
	t.Run("readonly", func(t *testing.T) { readOnlyCommands(t, d) })
	t.Run("run", func(t *testing.T) { runCommands(t, d) })
	t.Run("lifecycle", func(t *testing.T) { lifecycleCommands(t, d) })
	t.Run("files", func(t *testing.T) { fileCommands(t, d) })
	t.Run("interactive", func(t *testing.T) { interactiveCommands(t, d) })
	t.Run("streaming", func(t *testing.T) { streamingCommands(t, d) })
}

func readOnlyCommands(t *testing.T, d *dockerd) {
	cmds := [][]string{
		{"ps"}, {"ps", "-a"}, {"ps", "-a", "-q"}, {"ps", "-a", "--no-trunc"}, {"ps", "-a", "-s"},
		{"ps", "-a", "--format", "{{.Names}} {{.Labels}} {{.Status}} {{.State}}"}, {"ps", "-f", "name=c1", "-q"},
		{"ps", "-n", "1", "-q"}, {"ps", "-l", "--format", "json"},
		{"ps", "-a", "--format", `{{.ID}} {{.Networks}} {{.Mounts}} {{.LocalVolumes}} {{.Label "a"}} {{.Ports}} {{.Command}}`},
		{"ps", "-a", "-s", "--format", "table {{.Names}}\t{{.Size}}"}, {"ps", "-a", "--no-trunc", "--format", "{{.ID}}\t{{.Command}}"}, {"container", "ls", "-a", "--format", "table {{.Names}}\t{{.Image}}"},
		{"images"}, {"images", "-q"}, {"images", "--digests"}, {"images", "--no-trunc"}, {"images", "--format", "json"},
		{"image", "ls", "busybox"}, {"images", "-f", "dangling=true"},
		{"inspect", "c1"}, {"inspect", "-f", "{{.Config.Env}} {{.State.Running}}", "c1"}, {"container", "inspect", "-f", "{{.Id}}", "c1"},
		{"inspect", "busybox"}, {"image", "inspect", "-f", "{{.Os}} {{.Comment}}", "busybox"}, {"inspect", "nope"},
		{"inspect", "--type", "image", "c1"}, {"inspect", "-s", "-f", "{{.SizeRw}}", "c1"},
		{"history", "busybox"}, {"history", "--no-trunc", "-H=false", "busybox"}, {"history", "-q", "busybox"},
		{"logs", "c1"}, {"logs", "--tail", "1", "c1"}, {"logs", "-n", "1", "-t", "c1"}, {"logs", "--since", "10m", "c1"},
		{"top", "c1"}, {"top", "c1", "-o", "pid,comm"}, {"port", "c1"}, {"diff", "c1"},
		{"exec", "c1", "sh", "-c", "echo $A; exit 3"}, {"exec", "-e", "B=2", "-w", "/tmp", "-u", "1:1", "c1", "sh", "-c", "echo $B; pwd; id -u"},
		{"exec", "c1", "nope"}, {"stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "c1"},
		{"system", "df"}, {"info", "--format", "{{.Images}} {{.Driver}}"}, {"version", "--format", "{{.Server.Version}}"},
		{"stop", "nope"}, {"kill", "nope"}, {"rm", "nope"}, {"stop"}, {"ps", "--foo"}, {"ps", "a"},
		{"events", "--since", "1h", "--until", "1s", "--filter", "container=c1", "--format", "{{.Action}}"},
	}
	for _, c := range cmds {
		d.same(t, "", c...)
	}
	d.same(t, "abc\n", "exec", "-i", "c1", "cat")
	d.same(t, "", "exec", "-it", "c1", "true")
}

func runCommands(t *testing.T, d *dockerd) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := [][]string{
		{"sh", "-c", "echo hi; echo err >&2; exit 3"},
		{"nope"},
		{"-a", "stdout", "busybox", "sh", "-c", "echo a; echo b >&2"},
		{"-e", "X=1", "-w", "/tmp", "-u", "1:1", "-h", "hh", "busybox", "sh", "-c", "echo $X; pwd; id -u; hostname"},
		{"--entrypoint", "echo", "busybox", "hi"},
		{"--read-only", "busybox", "sh", "-c", "touch /x"},
		{"--tmpfs", "/scratch", "busybox", "sh", "-c", "touch /scratch/x && echo ok"},
		{"--mount", "type=tmpfs,target=/m", "busybox", "ls", "/m"},
		{"-v", host + ":/h:ro", "busybox", "cat", "/h/f"},
		{"--mount", "type=bind,source=" + host + ",target=/h,readonly", "busybox", "sh", "-c", "cat /h/f; touch /h/g"},
		{"--memory", "64m", "--memory-swap", "128m", "--pids-limit", "20", "--cpus", "0.5", "--ulimit", "nofile=100:100",
			"--cap-drop", "ALL", "--cap-add", "CHOWN", "--security-opt", "no-new-privileges", "--shm-size", "8m",
			"--stop-signal", "USR1", "--stop-timeout", "3", "--restart", "no", "--log-opt", "max-size=1m", "--init",
			"-p", "8080:80", "--expose", "90", "--dns", "1.1.1.1", "--add-host", "h:1.2.3.4", "-l", "x=y",
			"busybox", "sh", "-c", "ulimit -n"},
		{"--privileged", "busybox", "true"},
		{"-it", "busybox", "true"},
		{"--restart", "sometimes", "busybox", "true"},
		{"-e", "Q", "--env-file", "/dev/null", "busybox", "sh", "-c", "echo ${Q:-unset}"},
		{"--foo", "busybox"},
	}
	for _, c := range cmds {
		args := append([]string{"run", "--rm", "--network", "none"}, c...)
		if c[0] == "sh" || c[0] == "nope" {
			args = append([]string{"run", "--rm", "--network", "none", "busybox"}, c...)
		}
		d.same(t, "", args...)
	}
	d.same(t, "hello\n", "run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "cat; exit 4")
	o, _, c := d.berth(t, "", "run", "-d", "--rm", "--network", "none", "busybox", "true")
	if c != 0 || len(strings.TrimSpace(o)) != 64 {
		t.Errorf("run -d printed %q, exit %d; want a full id", o, c)
	}
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// pair runs fn once per CLI with a name suffix, and compares the transcripts.
func pair(t *testing.T, d *dockerd, fn func(cli func(stdin string, args ...string) string, n string)) {
	t.Helper()
	var got [2]strings.Builder
	for i, name := range []string{"docker", "berth"} {
		run := d.docker
		if name == "berth" {
			run = d.berth
		}
		fn(func(stdin string, args ...string) string {
			o, e, c := run(t, stdin, args...)
			o = hexID.ReplaceAllString(strings.ReplaceAll(o, name, "NAME"), "ID")
			got[i].WriteString(strings.Join(args, " ") + "\n" + o + "exit " + string(rune('0'+c%10)) + "\n")
			_ = e
			return o
		}, name)
	}
	w, g := strings.ReplaceAll(got[0].String(), "docker", "NAME"), strings.ReplaceAll(got[1].String(), "berth", "NAME")
	if w != g {
		t.Errorf("transcripts differ:\n--- docker\n%s--- berth\n%s", w, g)
	}
}

func lifecycleCommands(t *testing.T, d *dockerd) {
	pair(t, d, func(cli func(string, ...string) string, n string) {
		ct := "lc-" + n
		cli("", "run", "-d", "--name", ct, "--network", "none", "busybox", "sleep", "3000")
		cli("", "stop", "-t", "1", ct)
		cli("", "inspect", "-f", "{{.State.ExitCode}}", ct)
		cli("", "start", ct)
		cli("", "restart", "-t", "1", ct)
		cli("", "pause", ct)
		cli("", "ps", "--format", "{{.Names}} {{.State}}", "-f", "name="+ct)
		cli("", "unpause", ct)
		cli("", "update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--restart", "on-failure:2", "--pids-limit", "50", ct)
		cli("", "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}", ct)
		cli("", "rename", ct, ct+"x")
		cli("", "kill", "-s", "KILL", ct+"x")
		cli("", "wait", ct+"x")
		cli("", "kill", ct+"x")
		cli("", "rm", ct+"x")
		cli("", "create", "-i", "--name", "ai-"+n, "--network", "none", "busybox", "sh", "-c", "cat; echo done; exit 6")
		cli("piped\n", "start", "-a", "-i", "ai-"+n)
		cli("", "rm", "-f", "-v", "ai-"+n)
	})
}

func fileCommands(t *testing.T, d *dockerd) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pair(t, d, func(cli func(string, ...string) string, n string) {
		out := filepath.Join(dir, n)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		cli("", "cp", filepath.Join(dir, "a.txt"), "c1:/tmp/a-"+n+".txt")
		cli("", "cp", "c1:/tmp/a-"+n+".txt", filepath.Join(out, "back.txt"))
		b, _ := os.ReadFile(filepath.Join(out, "back.txt"))
		cli("", "exec", "c1", "echo", string(b))
		cli("", "cp", "c1:/bin", out)
		cli("", "export", "-o", filepath.Join(out, "c1.tar"), "c1")
		cli("", "import", "-c", "ENV IMPORTED=1", "-m", "msg", filepath.Join(out, "c1.tar"), "imp:"+n)
		cli("", "image", "inspect", "-f", "{{.Config.Env}} {{.Comment}}", "imp:"+n)
		cli("", "save", "-o", filepath.Join(out, "s.tar"), "imp:"+n)
		cli("", "rmi", "imp:"+n)
		cli("", "load", "-i", filepath.Join(out, "s.tar"))
		cli("", "tag", "imp:"+n, "other/"+n+":t1")
		cli("", "images", "--format", "{{.Repository}}:{{.Tag}}", "other/"+n)
		cli("", "rmi", "other/"+n+":t1", "imp:"+n)
		cli("", "commit", "-a", "me", "-m", "cm", "-c", "LABEL x=y", "c1", "com:"+n)
		cli("", "inspect", "-f", "{{.Author}} {{.Comment}} {{.Config.Labels}}", "com:"+n)
		cli("", "rmi", "-f", "com:"+n)
		cli("", "image", "prune", "-f")
		cli("", "container", "prune", "-f", "--filter", "label=nomatch=1")
	})
}
