package service

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/pflag"
)

// healthFlags are --health-* and --no-healthcheck, the same on create
// and update.
type healthFlags struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

func (h *healthFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&h.cmd, "health-cmd", "", "Command to run to check health")
	fs.Var((*positiveDuration)(&h.interval), "health-interval", "Time between running the check (ms|s|m|h)")
	fs.Var((*positiveDuration)(&h.timeout), "health-timeout", "Maximum time to allow one check to run (ms|s|m|h)")
	fs.IntVar(&h.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fs.Var((*positiveDuration)(&h.startPeriod), "health-start-period", "Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)")
	fs.Var((*positiveDuration)(&h.startInterval), "health-start-interval", "Time between running the check during the start period (ms|s|m|h)")
	fs.BoolVar(&h.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// positiveDuration is docker's duration flag that refuses a negative one
// while the flags are read.
type positiveDuration time.Duration

func (d *positiveDuration) Set(v string) error {
	n, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if n < 0 {
		return errors.New("duration cannot be negative")
	}
	*d = positiveDuration(n)
	return nil
}

func (d *positiveDuration) Type() string { return "duration" }

func (d *positiveDuration) String() string {
	if *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

// checkedList is a repeatable flag whose values are checked while the
// flags are read, so a bad one fails as docker's does (exit 125 with
// the usage).
type checkedList struct {
	values *[]string
	check  func(string) error
	typ    string
}

func (l checkedList) Set(v string) error {
	if err := l.check(v); err != nil {
		return err
	}
	*l.values = append(*l.values, v)
	return nil
}

func (l checkedList) Type() string   { return l.typ }
func (l checkedList) String() string { return strings.Join(*l.values, ", ") }

// mountFlag, prefFlag and ulimitFlag add --mount, --placement-pref and
// --ulimit style flags.
func mountFlag(fs *pflag.FlagSet, dst *[]string, name, help string) {
	fs.Var(checkedList{dst, func(v string) error { _, err := parseMount(v); return err }, "mount"}, name, help)
}

func prefFlag(fs *pflag.FlagSet, dst *[]string, name, help string) {
	fs.Var(checkedList{dst, func(v string) error { _, err := parsePreference(v); return err }, "pref"}, name, help)
}

func ulimitFlag(fs *pflag.FlagSet, dst *[]string, name, help string) {
	fs.Var(checkedList{dst, func(v string) error { _, err := units.ParseUlimit(v); return err }, "ulimit"}, name, help)
}

// apply changes cs.Healthcheck by the flags given, as docker's update
// does (on a new spec that is what create does): --no-healthcheck is
// NONE, the other flags change their field of the current check.
func (h *healthFlags) apply(fs *pflag.FlagSet, cs *swarm.ContainerSpec) error {
	fields := []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval"}
	if !anyChanged(fs, append(fields, "no-healthcheck")...) {
		return nil
	}
	if h.none {
		if anyChanged(fs, fields...) {
			return errors.New("--no-healthcheck conflicts with --health-* options")
		}
		cs.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	hc := cs.Healthcheck
	if hc == nil {
		hc = &container.HealthConfig{}
	}
	if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
		hc.Test = nil
	}
	set := map[string]func(){
		"health-interval":       func() { hc.Interval = h.interval },
		"health-timeout":        func() { hc.Timeout = h.timeout },
		"health-start-period":   func() { hc.StartPeriod = h.startPeriod },
		"health-start-interval": func() { hc.StartInterval = h.startInterval },
		"health-retries":        func() { hc.Retries = h.retries },
		"health-cmd": func() {
			hc.Test = nil
			if h.cmd != "" {
				hc.Test = []string{"CMD-SHELL", h.cmd}
			}
		},
	}
	for _, f := range fields {
		if fs.Changed(f) {
			set[f]()
		}
	}
	cs.Healthcheck = hc
	return nil
}

// logFlags are --log-driver and --log-opt: the driver is set only when
// named, with the options given beside it.
type logFlags struct {
	driver string
	opts   []string
}

func (l *logFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&l.driver, "log-driver", "", "Logging driver for service")
	fs.StringArrayVar(&l.opts, "log-opt", nil, "Logging driver options")
}

func (l *logFlags) apply(fs *pflag.FlagSet, tt *swarm.TaskSpec) {
	if fs.Changed("log-driver") && l.driver != "" {
		tt.LogDriver = &swarm.Driver{Name: l.driver, Options: kvMap(l.opts)}
	}
}

// parseMount reads a --mount value (CSV of key=value, type volume when
// not given) with the options and errors of docker's service --mount.
func parseMount(value string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	value = strings.TrimSpace(value)
	if value == "" {
		return m, errors.New("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return m, err
	}
	volume := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	driver := func() *mount.Driver {
		if volume().DriverConfig == nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return m.VolumeOptions.DriverConfig
	}
	tmpfs := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if hasValue && strings.TrimSpace(val) == "" {
			return m, fmt.Errorf("invalid value for '%s': value is empty", key)
		}
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy":
			default:
				return m, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
			if strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					m.Source = abs
				}
			}
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = mountBool(key, val, hasValue); err != nil {
				return m, err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			if m.BindOptions == nil {
				m.BindOptions = &mount.BindOptions{}
			}
			m.BindOptions.Propagation = mount.Propagation(strings.ToLower(val))
		case "volume-nocopy":
			if volume().NoCopy, err = mountBool(key, val, hasValue); err != nil {
				return m, err
			}
		case "volume-subpath":
			volume().Subpath = val
		case "volume-label":
			v := volume()
			if v.Labels == nil {
				v.Labels = map[string]string{}
			}
			k, lv, _ := strings.Cut(val, "=")
			v.Labels[k] = lv
		case "volume-driver":
			driver().Name = val
		case "volume-opt":
			d := driver()
			if d.Options == nil {
				d.Options = map[string]string{}
			}
			k, ov, _ := strings.Cut(val, "=")
			d.Options[k] = ov
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().Mode = os.FileMode(n)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	for _, o := range []struct {
		set  bool
		typ  mount.Type
		name string
	}{{m.BindOptions != nil, mount.TypeBind, "bind"}, {m.VolumeOptions != nil, mount.TypeVolume, "volume"}, {m.TmpfsOptions != nil, mount.TypeTmpfs, "tmpfs"}} {
		if o.set && m.Type != o.typ {
			return m, fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", o.name, m.Type)
		}
	}
	return m, nil
}

func mountBool(key, val string, hasValue bool) (bool, error) {
	switch {
	case !hasValue, val == "1", val == "true":
		return true, nil
	case val == "0", val == "false":
		return false, nil
	}
	return false, fmt.Errorf(`invalid value for '%s': invalid boolean value (%q): must be one of "true", "1", "false", or "0" (default "true")`, key, val)
}

func parseMounts(values []string) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range values {
		m, err := parseMount(v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// updateMounts adds (or replaces, by target) and removes (by target)
// mounts, sorted by source then target as docker's update leaves them.
func updateMounts(cur []mount.Mount, add, rm []string) ([]mount.Mount, error) {
	added, err := parseMounts(add)
	if err != nil {
		return nil, err
	}
	byTarget := map[string]mount.Mount{}
	for _, m := range added {
		if _, dup := byTarget[m.Target]; dup {
			return nil, errors.New("duplicate mount target")
		}
		byTarget[m.Target] = m
	}
	for _, m := range cur {
		if _, ok := byTarget[m.Target]; !ok {
			byTarget[m.Target] = m
		}
	}
	for _, t := range rm {
		delete(byTarget, t)
	}
	out := make([]mount.Mount, 0, len(byTarget))
	for _, m := range byTarget {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Target < out[j].Target
	})
	return out, nil
}

// updateUlimits adds or replaces (by name) and removes ulimits, sorted by
// name; with no current ulimits it is create's --ulimit.
func updateUlimits(cur []*container.Ulimit, add, rm []string) ([]*container.Ulimit, error) {
	byName := map[string]*container.Ulimit{}
	for _, u := range cur {
		byName[u.Name] = u
	}
	for _, r := range rm {
		k, _, _ := strings.Cut(r, "=")
		delete(byName, k)
	}
	for _, a := range add {
		u, err := units.ParseUlimit(a)
		if err != nil {
			return nil, err
		}
		byName[u.Name] = &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}
	}
	if len(byName) == 0 {
		return nil, nil
	}
	out := make([]*container.Ulimit, 0, len(byName))
	for _, u := range byName {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// updatePreferences removes (by descriptor) and appends spread
// preferences ("spread=node.labels.zone").
func updatePreferences(cur []swarm.PlacementPreference, add, rm []string) ([]swarm.PlacementPreference, error) {
	parse := func(values []string) ([]swarm.PlacementPreference, error) {
		var out []swarm.PlacementPreference
		for _, v := range values {
			p, err := parsePreference(v)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	removed, err := parse(rm)
	if err != nil {
		return nil, err
	}
	added, err := parse(add)
	if err != nil {
		return nil, err
	}
	out := cur
	if len(removed) > 0 {
		out = nil
		for _, p := range cur {
			drop := false
			for _, r := range removed {
				drop = drop || (p.Spread != nil && p.Spread.SpreadDescriptor == r.Spread.SpreadDescriptor)
			}
			if !drop {
				out = append(out, p)
			}
		}
	}
	return append(out, added...), nil
}

// parsePreference reads a --placement-pref value: spread=DESCRIPTOR.
func parsePreference(v string) (swarm.PlacementPreference, error) {
	strategy, arg, ok := strings.Cut(v, "=")
	if !ok || strategy == "" {
		return swarm.PlacementPreference{}, errors.New(`placement preference must be of the format "<strategy>=<arg>"`)
	}
	if strategy != "spread" {
		return swarm.PlacementPreference{}, fmt.Errorf("unsupported placement preference %s (only spread is supported)", strategy)
	}
	return swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: arg}}, nil
}

// readEnvFiles reads --env-file files as docker does: KEY=VALUE lines
// as they are, a KEY alone takes its value from this environment (and is
// left out when unset), blank lines and # comments skipped.
func readEnvFiles(files []string) ([]string, error) {
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})))
		for n := 1; sc.Scan(); n++ {
			if !utf8.Valid(sc.Bytes()) {
				return nil, fmt.Errorf("invalid utf8 bytes at line %d: %v", n, sc.Bytes())
			}
			line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
			if line == "" || line[0] == '#' {
				continue
			}
			key, _, hasValue := strings.Cut(line, "=")
			switch {
			case key == "":
				return nil, fmt.Errorf("no variable name on line '%s'", line)
			case strings.ContainsAny(key, " \t\n\v\f\r"):
				return nil, fmt.Errorf("variable '%s' contains whitespaces", key)
			case hasValue:
				out = append(out, line)
			default:
				if v, ok := os.LookupEnv(key); ok {
					out = append(out, key+"="+v)
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func anyChanged(fs *pflag.FlagSet, names ...string) bool {
	for _, n := range names {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}
