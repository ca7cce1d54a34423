package oci

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultMaskedPaths returns the paths Docker hides from containers.
func DefaultMaskedPaths() []string { return append([]string(nil), defaultMaskedPaths...) }

// DefaultReadonlyPaths returns the paths Docker makes read-only.
func DefaultReadonlyPaths() []string { return append([]string(nil), defaultReadonlyPaths...) }

var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// securityOpts is the parsed --security-opt list.
type securityOpts struct {
	seccomp         string // "" = default profile, "unconfined", or a JSON profile
	noNewPrivileges bool
	unmaskPaths     bool // systempaths=unconfined
}

// parseSecurityOpts accepts "key=value" and the legacy "key:value" forms.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	for _, o := range opts {
		if o == "no-new-privileges" {
			so.noNewPrivileges = true
			continue
		}
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, ok = strings.Cut(o, ":")
		}
		if !ok {
			return so, errdefs.Invalidf("invalid --security-opt 1: %q", o)
		}
		switch k {
		case "seccomp":
			so.seccomp = v
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, errdefs.Invalidf("invalid --security-opt 2: %q", o)
			}
			so.noNewPrivileges = b
		case "systempaths":
			if v != "unconfined" {
				return so, errdefs.Invalidf("invalid --security-opt 2: %q", o)
			}
			so.unmaskPaths = true
		case "label", "apparmor":
			// No SELinux or AppArmor on Berth's hosts; accepted and ignored
			// like dockerd does when the LSM is disabled.
		default:
			return so, errdefs.Invalidf("invalid --security-opt 2: %q", o)
		}
	}
	return so, nil
}

// WithSecurity applies seccomp, no-new-privileges and the masked and
// read-only /proc and /sys paths. Privileged containers get none of them.
func WithSecurity(_ context.Context, s *specs.Spec, in *Input) error {
	hc := in.HostConfig
	so, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return err
	}
	s.Process.NoNewPrivileges = so.noNewPrivileges
	if hc.Privileged {
		return nil
	}
	if !so.unmaskPaths {
		s.Linux.MaskedPaths = pick(hc.MaskedPaths, defaultMaskedPaths)
		s.Linux.ReadonlyPaths = pick(hc.ReadonlyPaths, defaultReadonlyPaths)
	}
	return withSeccomp(s, so.seccomp)
}

// pick returns the override if the client sent one (even empty), else def.
func pick(override, def []string) []string {
	if override != nil {
		return append([]string{}, override...)
	}
	return append([]string(nil), def...)
}

// withSeccomp must run after the capabilities are set: the default profile
// allows some syscalls only to containers holding the matching capability.
func withSeccomp(s *specs.Spec, profile string) error {
	var (
		sc  *specs.LinuxSeccomp
		err error
	)
	switch profile {
	case "unconfined":
		return nil
	case "", "builtin":
		sc, err = seccomp.GetDefaultProfile(s)
	default:
		sc, err = seccomp.LoadProfile(profile, s)
	}
	if err != nil {
		return errdefs.Invalid(fmt.Errorf("Error loading seccomp profile: %w", err))
	}
	s.Linux.Seccomp = sc
	return nil
}
