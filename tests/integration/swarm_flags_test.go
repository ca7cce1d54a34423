package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestSwarmServiceFlags: `service create` and `update` with --mount,
// --health-*, --no-healthcheck, --env-file, --ulimit, --log-driver/--log-opt
// and --placement-pref, once with the real docker CLI and once with berth
// against the same berthd: both send the same spec; berthd carries the
// mounts, the healthcheck, the env and the preference into the Deployment
// (docs/swarm.md) and warns about ulimits and the log driver, which have no
// Kubernetes meaning; the tasks run. `service inspect --pretty` of both
// services prints the same text with either CLI, and the join-token
// manager refusal is docker's error shape.
func TestSwarmServiceFlags(t *testing.T) {
	_, docker, berth, kubectl := kubeSwarmDaemon(t)
	ctx := context.Background()
	importBusybox(t, docker)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, berth, "swarm", "init"); r.Code != 0 {
		t.Fatalf("swarm init: %s", r)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# the app's settings\nA=1\n  B=two words\nFROM_HOST\n"), 0o644)
	flags := func(name string) []string {
		return []string{"service", "create", "-d", "--name", name, "--replicas", "1",
			"--mount", "type=volume,source=" + name + "-data,target=/data",
			"--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m",
			"--health-cmd", "test -d /data", "--health-interval", "2s", "--health-retries", "3", "--health-timeout", "1s",
			"--env-file", envFile, "-e", "C=3",
			"--ulimit", "nofile=1024:2048",
			"--log-driver", "json-file", "--log-opt", "max-size=1m",
			"--placement-pref", "spread=node.labels.zone",
			"busybox", "sleep", "600"}
	}
	for _, c := range []struct {
		dr   testutil.Driver
		name string
	}{{docker, "viadocker"}, {berth, "viaberth"}} {
		cmd := c.dr.Command(ctx, flags(c.name)...)
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, "FROM_HOST=yes")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil || len(strings.TrimSpace(so.String())) < 10 {
			t.Fatalf("%s service create: %v\n%s%s", c.dr.Name, err, so.String(), se.String())
		}
		// The keys Kubernetes cannot carry are named.
		for _, w := range []string{"ulimits: Kubernetes has no per-container rlimits", `log_driver "json-file"`} {
			if !strings.Contains(se.String(), w) {
				t.Errorf("%s service create does not warn %q: %s", c.dr.Name, w, se.String())
			}
		}
	}
	// Both CLIs sent the same spec.
	spec := func(name string) string {
		// The fields these flags set (the CLIs differ in defaults they
		// send for others, which the daemon fills in alike).
		r := docker.Run(ctx, nil, "service", "inspect", "-f", "{{with .Spec.TaskTemplate}}{{json .ContainerSpec.Mounts}} {{json .ContainerSpec.Healthcheck}} "+
			"{{json .ContainerSpec.Env}} {{json .ContainerSpec.Ulimits}} {{json .LogDriver}} {{json .Placement.Preferences}}{{end}}", name)
		if r.Code != 0 {
			t.Fatalf("service inspect %s: %s", name, r)
		}
		return strings.ReplaceAll(r.Out(), name, "NAME")
	}
	if sd, sb := spec("viadocker"), spec("viaberth"); sd != sb {
		t.Errorf("the CLIs sent different task templates:\n--- docker\n%s\n--- berth\n%s", sd, sb)
	}
	// What berthd made of it in Kubernetes.
	waitTasks(t, docker, "viaberth", 1)
	dep := kubeDeployment(t, kubectl, "viaberth")
	ctr := dep.Spec.Template.Spec.Containers[0]
	env := strings.Join(envNames(ctr.Env), " ")
	if env != "A=1 B=two words FROM_HOST=yes C=3" {
		t.Errorf("env in the Deployment: %q", env)
	}
	mounts := map[string]string{}
	for _, vm := range ctr.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	vols := map[string]json.RawMessage{}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		vols[v.Name] = v.Raw
	}
	if v := string(vols[mounts["/data"]]); !strings.Contains(v, `"hostPath"`) || !strings.Contains(v, "viaberth-data") {
		t.Errorf("the named volume at /data: %s (mounts %v)", v, mounts)
	}
	if v := string(vols[mounts["/scratch"]]); !strings.Contains(v, `"medium":"Memory"`) || !strings.Contains(v, `"sizeLimit":"1Mi"`) {
		t.Errorf("the tmpfs at /scratch: %s (mounts %v)", v, mounts)
	}
	for name, p := range map[string]*kubeProbe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
		if p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != "/bin/sh -c test -d /data" || p.PeriodSeconds != 2 || p.TimeoutSeconds != 1 {
			t.Errorf("%s probe: %+v", name, p)
		}
	}
	if p := ctr.LivenessProbe; p != nil && p.FailureThreshold != 3 {
		t.Errorf("liveness failureThreshold %d, want 3 (--health-retries)", p.FailureThreshold)
	}
	if tsc := dep.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "zone" || tsc[0].WhenUnsatisfiable != "ScheduleAnyway" {
		t.Errorf("placement preference: %+v", tsc)
	}
	// The healthcheck passes: the task is ready.
	deadline := time.Now().Add(time.Minute)
	for kubeDeployment(t, kubectl, "viaberth").Status.ReadyReplicas != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the healthy task never became ready")
		}
		time.Sleep(time.Second)
	}
	sameAsDockerNow(t, docker, berth, "service", "inspect", "--pretty", "viaberth", "viadocker")

	// Update: remove a mount, the ulimit and the preference, change the
	// check; then --no-healthcheck removes the probes.
	for _, dr := range []testutil.Driver{docker, berth} {
		name := map[string]string{"docker": "viadocker", "berth": "viaberth"}[dr.Name]
		if r := dr.Run(ctx, nil, "service", "update", "-d", "--mount-rm", "/scratch", "--mount-add", "type=tmpfs,target=/tmp2",
			"--ulimit-rm", "nofile", "--placement-pref-rm", "spread=node.labels.zone", "--placement-pref-add", "spread=node.labels.rack",
			"--health-cmd", "true", "--log-driver", "json-file", "--log-opt", "max-file=2", name); r.Code != 0 {
			t.Fatalf("%s service update: %s", dr.Name, r)
		}
	}
	if sd, sb := spec("viadocker"), spec("viaberth"); sd != sb {
		t.Errorf("the CLIs updated differently:\n--- docker\n%s\n--- berth\n%s", sd, sb)
	}
	dep = kubeDeployment(t, kubectl, "viaberth")
	ctr = dep.Spec.Template.Spec.Containers[0]
	paths := []string{}
	for _, vm := range ctr.VolumeMounts {
		paths = append(paths, vm.MountPath)
	}
	if p := strings.Join(paths, " "); strings.Contains(p, "/scratch") || !strings.Contains(p, "/tmp2") || !strings.Contains(p, "/data") {
		t.Errorf("mounts after update: %s", p)
	}
	if p := ctr.LivenessProbe; p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != "/bin/sh -c true" || p.PeriodSeconds != 2 {
		t.Errorf("liveness probe after --health-cmd true: %+v", p)
	}
	if tsc := dep.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "rack" {
		t.Errorf("placement preference after update: %+v", tsc)
	}
	for _, dr := range []testutil.Driver{docker, berth} {
		name := map[string]string{"docker": "viadocker", "berth": "viaberth"}[dr.Name]
		if r := dr.Run(ctx, nil, "service", "update", "-d", "--no-healthcheck", name); r.Code != 0 {
			t.Fatalf("%s service update --no-healthcheck: %s", dr.Name, r)
		}
	}
	if sd, sb := spec("viadocker"), spec("viaberth"); sd != sb || !strings.Contains(sd, ` {"Test":["NONE"]} `) {
		t.Errorf("--no-healthcheck:\n--- docker\n%s\n--- berth\n%s", sd, sb)
	}
	if ctr := kubeDeployment(t, kubectl, "viaberth").Spec.Template.Spec.Containers[0]; ctr.LivenessProbe != nil || ctr.ReadinessProbe != nil {
		t.Errorf("probes left after --no-healthcheck: %+v %+v", ctr.LivenessProbe, ctr.ReadinessProbe)
	}
	sameAsDockerNow(t, docker, berth, "service", "inspect", "--pretty", "viaberth")

	// Bad values fail in the CLI, the same way, and make nothing.
	for _, bad := range [][]string{
		{"--mount", "type=tmpfs,target=/x,volume-nocopy"},
		{"--mount", "type=volume,target=/x,bogus=1"},
		{"--health-cmd", "true", "--no-healthcheck"},
		{"--placement-pref", "pack=node.labels.zone"},
		{"--ulimit", "nofile"},
		{"--health-interval", "-1s"},
		{"--env-file", "/nonexistent/env"},
	} {
		args := append(append([]string{"service", "create", "-d", "--name", "bad"}, bad...), "busybox")
		want, got := docker.Run(ctx, nil, args...), berth.Run(ctx, nil, args...)
		first := func(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
		if got.Code == 0 || got.Code != want.Code || first(got.Stderr) != first(want.Stderr) {
			t.Errorf("%v:\n--- docker (exit %d)\n%s--- berth (exit %d)\n%s", bad, want.Code, want.Stderr, got.Code, got.Stderr)
		}
	}
	if r := docker.Run(ctx, nil, "service", "ls", "-q", "--filter", "name=bad"); r.Out() != "" {
		t.Errorf("a refused create made a service: %s", r)
	}

	// Joining as a manager is refused: the control plane is not replicated.
	managerToken := docker.Run(ctx, nil, "swarm", "join-token", "-q", "manager").Out()
	if !strings.HasPrefix(managerToken, "SWMTKN-1-") {
		t.Fatalf("join-token manager: %q", managerToken)
	}
	if r := sameAsDocker(t, docker, berth, "swarm", "join-token", "manager"); !strings.Contains(r.Stdout, "docker swarm join --token "+managerToken) {
		t.Errorf("join-token manager: %s", r)
	}
}

// kubeProbe is what the test reads of a probe.
type kubeProbe struct {
	Exec *struct {
		Command []string `json:"command"`
	} `json:"exec"`
	PeriodSeconds    int `json:"periodSeconds"`
	TimeoutSeconds   int `json:"timeoutSeconds"`
	FailureThreshold int `json:"failureThreshold"`
}

// kubeDeploymentObject is what the test reads of a Deployment.
type kubeDeploymentObject struct {
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Env []struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"env"`
					VolumeMounts []struct {
						Name      string `json:"name"`
						MountPath string `json:"mountPath"`
					} `json:"volumeMounts"`
					LivenessProbe  *kubeProbe `json:"livenessProbe"`
					ReadinessProbe *kubeProbe `json:"readinessProbe"`
				} `json:"containers"`
				Volumes                   []kubeVolume `json:"volumes"`
				TopologySpreadConstraints []struct {
					TopologyKey       string `json:"topologyKey"`
					WhenUnsatisfiable string `json:"whenUnsatisfiable"`
				} `json:"topologySpreadConstraints"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		ReadyReplicas int `json:"readyReplicas"`
	} `json:"status"`
}

// kubeVolume keeps a pod volume's JSON beside its name.
type kubeVolume struct {
	Name string
	Raw  json.RawMessage
}

func (v *kubeVolume) UnmarshalJSON(b []byte) error {
	var n struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return err
	}
	v.Name, v.Raw = n.Name, c.Bytes()
	return nil
}

// kubeDeployment reads Deployment name (a service outside a stack, in
// namespace default).
func kubeDeployment(t *testing.T, kubectl testutil.Driver, name string) kubeDeploymentObject {
	t.Helper()
	r := kubectl.Run(context.Background(), nil, "get", "deploy", name, "-n", "default", "-o", "json")
	var d kubeDeploymentObject
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &d) != nil || len(d.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("kubectl get deploy %s: %s", name, r)
	}
	return d
}

func envNames(env []struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
