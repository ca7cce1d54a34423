package service

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/pflag"
)

// TestSpecFlags: the shared flags change only what they name: limits
// without reservations, a healthcheck field on top of the current check,
// --no-healthcheck alone, the log driver only when named.
func TestSpecFlags(t *testing.T) {
	parse := func(args ...string) (*pflag.FlagSet, *specFlags) {
		var o specFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		addSpecFlags(fs, &o)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs, &o
	}
	spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{}}}
	fs, o := parse("--limit-cpu", "0.5", "--limit-memory", "50M", "--health-cmd", "true", "--health-interval", "2s", "--log-opt", "a=b")
	if err := o.apply(fs, &spec); err != nil {
		t.Fatal(err)
	}
	res := spec.TaskTemplate.Resources
	if res.Limits.NanoCPUs != 5e8 || res.Limits.MemoryBytes != 50<<20 || res.Reservations != nil {
		t.Errorf("resources %+v %+v", res.Limits, res.Reservations)
	}
	hc := spec.TaskTemplate.ContainerSpec.Healthcheck
	if !reflect.DeepEqual(hc.Test, []string{"CMD-SHELL", "true"}) || hc.Interval.String() != "2s" {
		t.Errorf("healthcheck %+v", hc)
	}
	if spec.TaskTemplate.LogDriver != nil {
		t.Errorf("--log-opt without --log-driver set a driver: %+v", spec.TaskTemplate.LogDriver)
	}
	fs, o = parse("--health-retries", "4", "--reserve-memory", "10M", "--log-driver", "json-file", "--log-opt", "max-size=1m")
	if err := o.apply(fs, &spec); err != nil {
		t.Fatal(err)
	}
	if hc := spec.TaskTemplate.ContainerSpec.Healthcheck; hc.Retries != 4 || hc.Interval.String() != "2s" || len(hc.Test) != 2 {
		t.Errorf("update of one health field: %+v", hc)
	}
	if res.Reservations.MemoryBytes != 10<<20 || res.Limits.MemoryBytes != 50<<20 {
		t.Errorf("reservation update: %+v %+v", res.Limits, res.Reservations)
	}
	if ld := spec.TaskTemplate.LogDriver; ld == nil || ld.Name != "json-file" || ld.Options["max-size"] != "1m" {
		t.Errorf("log driver %+v", ld)
	}
	fs, o = parse("--no-healthcheck")
	if err := o.apply(fs, &spec); err != nil || !reflect.DeepEqual(spec.TaskTemplate.ContainerSpec.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("--no-healthcheck: %v %+v", err, spec.TaskTemplate.ContainerSpec.Healthcheck)
	}
	fs, o = parse("--no-healthcheck", "--health-retries", "1")
	if err := o.apply(fs, &spec); err == nil || err.Error() != "--no-healthcheck conflicts with --health-* options" {
		t.Errorf("--no-healthcheck with --health-retries: %v", err)
	}
	if _, o := parse(); o.health.interval != 0 {
		t.Error("default interval")
	}
	var o2 specFlags
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addSpecFlags(fs2, &o2)
	if err := fs2.Parse([]string{"--health-interval", "-1s"}); err == nil {
		t.Error("a negative --health-interval was read")
	}
}

func TestMountsUlimitsPreferences(t *testing.T) {
	m, err := parseMount("type=volume,source=data,target=/data,volume-label=a=b,volume-subpath=x,readonly")
	if err != nil || m.Source != "data" || m.Target != "/data" || !m.ReadOnly || m.VolumeOptions.Labels["a"] != "b" || m.VolumeOptions.Subpath != "x" {
		t.Errorf("volume mount %+v %v", m, err)
	}
	for v, want := range map[string]string{
		"type=tmpfs,target=/x,volume-nocopy": "cannot mix 'volume-*' options with mount type 'tmpfs'",
		"type=volume,target=/x,bogus=1":      "unexpected key 'bogus' in 'bogus=1'",
		"target":                             "invalid field 'target' must be a key=value pair",
		"target=/x,ro=maybe":                 `invalid value for 'ro': invalid boolean value ("maybe"): must be one of "true", "1", "false", or "0" (default "true")`,
	} {
		if _, err := parseMount(v); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", v, err, want)
		}
	}
	cur := []mount.Mount{{Type: mount.TypeVolume, Source: "b", Target: "/b"}, {Type: mount.TypeTmpfs, Target: "/t"}}
	got, err := updateMounts(cur, []string{"type=volume,source=a,target=/b", "type=tmpfs,target=/u"}, []string{"/t"})
	if err != nil || len(got) != 2 || got[0].Target != "/u" || got[1].Source != "a" {
		t.Errorf("updateMounts: %+v %v", got, err)
	}
	ul, err := updateUlimits(nil, []string{"nproc=10", "nofile=1024:2048"}, nil)
	if err != nil || len(ul) != 2 || ul[0].Name != "nofile" || ul[0].Soft != 1024 || ul[0].Hard != 2048 {
		t.Errorf("ulimits %+v %v", ul, err)
	}
	if ul, _ = updateUlimits(ul, nil, []string{"nofile"}); len(ul) != 1 || ul[0].Name != "nproc" {
		t.Errorf("ulimit-rm %+v", ul)
	}
	prefs, err := updatePreferences(nil, []string{"spread=node.labels.zone", "spread=node.labels.rack"}, nil)
	if err != nil || len(prefs) != 2 {
		t.Fatalf("prefs %+v %v", prefs, err)
	}
	if prefs, _ = updatePreferences(prefs, nil, []string{"spread=node.labels.zone"}); len(prefs) != 1 || prefs[0].Spread.SpreadDescriptor != "node.labels.rack" {
		t.Errorf("placement-pref-rm %+v", prefs)
	}
	if _, err := parsePreference("pack=x"); err == nil || err.Error() != "unsupported placement preference pack (only spread is supported)" {
		t.Errorf("pack: %v", err)
	}
}

func TestReadEnvFiles(t *testing.T) {
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("\xEF\xBB\xBF# comment\nA=1\n  B=two words \n\nFROM_HOST\nUNSET_HERE\n"), 0o644)
	t.Setenv("FROM_HOST", "yes")
	got, err := readEnvFiles([]string{f})
	if want := []string{"A=1", "B=two words ", "FROM_HOST=yes"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
	os.WriteFile(f, []byte("BAD KEY=1\n"), 0o644)
	if _, err := readEnvFiles([]string{f}); err == nil || err.Error() != "variable 'BAD KEY' contains whitespaces" {
		t.Errorf("whitespace key: %v", err)
	}
}
