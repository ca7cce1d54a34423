package integration

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestCommitChanges commits through the docker CLI and docker-py with
// -c/--change, -m, -a and --pause, and checks the image as dockerd makes
// it: the changes are one Dockerfile dispatched onto the container's config
// (words expanded with its environment, relative WORKDIR, EXPOSE ranges,
// ENTRYPOINT dropping the CMD unless a CMD came first), the history's
// comment, author and command, no layer for a container that changed
// nothing, the pause around the commit and the commit event. Bad changes
// answer dockerd 28's words (dockerd 20.10 lower-cased instruction names
// and wrote "Invalid containerPort", so a dockerd run compares those
// without case) and make no image.
func TestCommitChanges(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	ctr := c.detached("commit", []string{"-e", "A=1", "-l", "l1=v1", "--expose", "80", "-w", "/w"},
		"sh", "-c", "echo x > /f; sleep 600")
	c.eventually(10*time.Second, "the container's file", func() bool { return c.run("exec", ctr, "cat", "/f").Out() == "x" })

	t.Run("changes", func(t *testing.T) {
		c := newCase(t, c.dr)
		img := c.image("commitc")
		c.ok("commit", "-a", "Ann <a@x>", "-m", "msg one",
			"-c", `CMD ["echo","hi"]`, "-c", "ENV B=$A-2 C=3", "-c", "EXPOSE 8000-8001/udp 90",
			"-c", "LABEL l2=v2 l1=over", "-c", "USER nobody", "-c", "WORKDIR rel/dir",
			"-c", `VOLUME ["/data", "/logs"]`, "-c", "ONBUILD RUN echo hi",
			"-c", "HEALTHCHECK --interval=5s CMD true", ctr, img)
		for f, want := range map[string]string{
			"{{json .Config.User}}":         `"nobody"`,
			"{{json .Config.ExposedPorts}}": `{"80/tcp":{},"8000/udp":{},"8001/udp":{},"90/tcp":{}}`,
			"{{json .Config.Env}}":          `["A=1","B=1-2","C=3"]`,
			"{{json .Config.Cmd}}":          `["echo","hi"]`,
			"{{json .Config.Entrypoint}}":   `null`,
			"{{json .Config.Volumes}}":      `{"/data":{},"/logs":{}}`,
			"{{json .Config.WorkingDir}}":   `"/w/rel/dir"`,
			"{{json .Config.Labels}}":       `{"l1":"over","l2":"v2"}`,
			"{{json .Config.Healthcheck}}":  `{"Test":["CMD-SHELL","true"],"Interval":5000000000}`,
			"{{json .Config.OnBuild}}":      `["RUN echo hi"]`,
			"{{.Comment}}|{{.Author}}":      "msg one|Ann <a@x>",
			"{{len .RootFS.Layers}}":        strconv.Itoa(len(strings.Fields(c.inspect("busybox", "{{range .RootFS.Layers}}{{.}} {{end}}"))) + 1),
		} {
			c.wantEq(c.inspect(img, f), want, f)
		}
		top := lines(c.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", img))[0]
		c.wantEq(top, "sh -c echo x > /f; sleep 600|msg one", "history of the commit")
		// The changes never touch the container.
		c.wantEq(c.inspect(ctr, "{{json .Config.Env}} {{.Config.WorkingDir}} {{json .Config.Labels}}"), `["A=1"] /w {"l1":"v1"}`, "container config")
	})

	t.Run("order-and-forms", func(t *testing.T) {
		c := newCase(t, c.dr)
		for _, tc := range []struct {
			changes []string
			f, want string
		}{
			{[]string{`CMD ["a"]`, `ENTRYPOINT ["b"]`}, "{{json .Config.Cmd}} {{json .Config.Entrypoint}}", `["a"] ["b"]`},
			{[]string{`ENTRYPOINT ["b"]`}, "{{json .Config.Cmd}} {{json .Config.Entrypoint}}", `null ["b"]`},
			{[]string{`CMD echo $HOME`}, "{{json .Config.Cmd}}", `["/bin/sh","-c","echo $HOME"]`},
			{[]string{`CMD`}, "{{json .Config.Cmd}}", `["/bin/sh","-c"]`},
			{[]string{`WORKDIR /abs/../x/`, `WORKDIR y`}, "{{.Config.WorkingDir}}", `/x/y`},
			{[]string{`ENV P=/p`, `ENV Q=${P}/q`, `USER $A`}, "{{json .Config.Env}} {{.Config.User}}", `["A=1","P=/p","Q=/p/q"] 1`},
		} {
			img := c.image("commito")
			args := []string{"commit"}
			for _, ch := range tc.changes {
				args = append(args, "-c", ch)
			}
			c.ok(append(args, ctr, img)...)
			c.wantEq(c.inspect(img, tc.f), tc.want, strings.Join(tc.changes, " + "))
		}
	})

	t.Run("stopsignal", func(t *testing.T) {
		c := newCase(t, c.dr)
		c.needAPI("1.42") // docker 23 took STOPSIGNAL as a change
		img := c.image("commits")
		c.ok("commit", "-c", "STOPSIGNAL SIGUSR1", ctr, img)
		c.wantEq(c.inspect(img, "{{.Config.StopSignal}}"), "SIGUSR1", "stop signal")
		r := c.code(1, "commit", "-c", "STOPSIGNAL NOPE", ctr, c.image("commits"))
		c.wantEq(strings.TrimSpace(r.Stderr), "Error response from daemon: invalid signal: NOPE", "bad signal")
	})

	t.Run("unchanged-container", func(t *testing.T) {
		c := newCase(t, c.dr)
		n := c.name("commitu")
		c.ok(createArgs("--name", n, "busybox", "true")...)
		img := c.image("commitu")
		c.ok("commit", n, img)
		c.wantEq(c.inspect(img, "{{json .RootFS.Layers}}"), c.inspect("busybox", "{{json .RootFS.Layers}}"), "no new layer")
		top := lines(c.ok("history", "--no-trunc", "--format", "{{.Size}}|{{.CreatedBy}}", img))[0]
		c.wantEq(top, "0B|true", "history of an empty commit")
	})

	t.Run("pause-and-event", func(t *testing.T) {
		c := newCase(t, c.dr)
		// --since counts whole seconds and the earlier subtests commit the
		// same container: start on a fresh second so their events stay out.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		since := strconv.FormatInt(time.Now().Unix(), 10)
		paused := c.image("commitp")
		id1 := c.ok("commit", "-m", "hello", ctr, paused)
		unpaused := c.image("commitp")
		id2 := c.ok("commit", "--pause=false", ctr, unpaused)
		until := strconv.FormatInt(time.Now().Unix()+1, 10)
		c.wantEq(c.inspect(ctr, "{{.State.Status}}"), "running", "running after the commit")
		ev := c.ok("events", "--since", since, "--until", until, "--filter", "container="+ctr,
			"--format", "{{.Action}} {{.Actor.Attributes.comment}}|{{.Actor.Attributes.imageRef}}|{{.Actor.Attributes.imageID}}")
		want := strings.Join([]string{
			"pause ||", "commit hello|" + paused + "|" + id1, "unpause ||",
			"commit |" + unpaused + "|" + id2,
		}, "\n")
		c.wantEq(strings.ReplaceAll(ev, "<no value>", ""), want, "events")
	})

	t.Run("bad-changes", func(t *testing.T) {
		c := newCase(t, c.dr)
		before := c.imageIDs("-a")
		for _, tc := range []struct{ change, want string }{
			{"FROM busybox", "FROM is not a valid change command"},
			{"RUN true", "RUN is not a valid change command"},
			{`SHELL ["/bin/bash","-c"]`, "SHELL is not a valid change command"},
			{"MAINTAINER me", "MAINTAINER is not a valid change command"},
			{"BOGUS x", "BOGUS is not a valid change command"},
			{"ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
			{"ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"},
			{"EXPOSE abc", "invalid containerPort: abc"},
			{"HEALTHCHECK --interval=xx CMD true", `time: invalid duration "xx"`},
			{"ENV", "ENV requires at least one argument"},
			{"ENV A", "ENV must have two arguments"},
			{"LABEL", "LABEL requires at least one argument"},
			{`VOLUME ""`, "VOLUME specified can not be an empty string"},
			{"WORKDIR", "WORKDIR requires exactly one argument"},
			{"", "file with no instructions"},
		} {
			// A good change before the bad one applies nothing either.
			args := []string{"commit", "-c", "ENV OK=1", "-c", tc.change}
			if tc.change == "" {
				args = []string{"commit", "-c", ""}
			}
			r := c.code(1, append(args, ctr, c.image("commitbad"))...)
			got, want := strings.TrimSpace(r.Stderr), "Error response from daemon: "+tc.want
			if env.daemon.Target == testutil.TargetDockerd && !c.apiAtLeast("1.42") {
				got, want = strings.ToLower(got), strings.ToLower(want)
			}
			c.wantEq(got, want, tc.change)
		}
		c.wantEq(c.imageIDs("-a"), before, "images after bad commits")
	})

	t.Run("python", func(t *testing.T) {
		if err := exec.Command(python3(), "-c", "import docker").Run(); err != nil {
			t.Skip("python3-docker is not installed")
		}
		c := newCase(t, c.dr)
		img := c.image("commitpy")
		repo, tag, _ := strings.Cut(img, ":")
		const script = `
import docker, json, sys
cli = docker.DockerClient(base_url='unix://' + sys.argv[1])
ctr = cli.containers.get(sys.argv[2])
out = {}
img = ctr.commit(repository=sys.argv[3], tag=sys.argv[4], message='py msg', author='Py <p@x>',
                 changes=['ENV B=$A-py', 'EXPOSE 7000'], conf={'Env': ['Z=9'], 'Labels': {'k': 'v'}})
a = img.attrs
out['config'] = [a['Config']['Env'], sorted(a['Config']['ExposedPorts']), a['Config']['Labels'],
                 a['Config']['Cmd'], a['Config']['WorkingDir'], a['Comment'], a['Author']]
try:
    ctr.commit(changes=['RUN true'])
    out['bad'] = None
except docker.errors.APIError as e:
    out['bad'] = [e.status_code, e.explanation]
print(json.dumps(out))
`
		res, err := exec.Command(python3(), "-c", script, env.daemon.Sock, ctr, repo, tag).Output()
		if err != nil {
			t.Fatalf("docker-py: %v %s", err, res)
		}
		var got map[string]any
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatalf("docker-py answered %s: %v", res, err)
		}
		// The request's config takes the changes, expanded with its own
		// environment (A is not in it), then the container's config fills
		// what it left unset: variables of other names, ports, labels, the
		// command and the working directory.
		b, _ := json.Marshal(got["config"])
		c.wantEq(string(b), `[["Z=9","B=-py","A=1"],["7000/tcp","80/tcp"],{"k":"v","l1":"v1"},["sh","-c","echo x \u003e /f; sleep 600"],"/w","py msg","Py \u003cp@x\u003e"]`, "docker-py commit")
		b, _ = json.Marshal(got["bad"])
		want := `[400,"RUN is not a valid change command"]`
		if env.daemon.Target == testutil.TargetDockerd && !c.apiAtLeast("1.42") {
			want = strings.ToLower(want)
		}
		c.wantEq(string(b), want, "docker-py bad change")
	})
}
