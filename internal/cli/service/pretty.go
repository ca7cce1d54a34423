package service

import (
	"fmt"
	"sort"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/swarm"
)

// WritePretty writes `service inspect --pretty` of s as docker CLI 28
// lays it out (its pretty template, rendered client-side: a blank line
// before and after each service, tabs where docker has them). names maps
// network IDs to names for the Networks line.
func WritePretty(b *strings.Builder, s swarm.Service, names map[string]string) {
	spec := s.Spec
	tt := spec.TaskTemplate
	cs := tt.ContainerSpec
	if cs == nil {
		cs = &swarm.ContainerSpec{}
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("\nID:\t\t%s\nName:\t\t%s", s.ID, spec.Name)
	sortedKV(b, "\nLabels:", spec.Labels, "\n %s", "=%s")
	p("\nService Mode:")
	switch {
	case spec.Mode.Global != nil:
		p("\tGlobal")
	case spec.Mode.Replicated != nil:
		p("\tReplicated")
		if r := spec.Mode.Replicated.Replicas; r != nil {
			p("\n Replicas:\t%d", *r)
		}
	}
	if us := s.UpdateStatus; us != nil && us.State != "" {
		p("\nUpdateStatus:\n State:\t\t%s", us.State)
		if us.StartedAt != nil {
			p("\n Started:\t%s ago", units.HumanDuration(time.Since(*us.StartedAt)))
		}
		if us.State == swarm.UpdateStateCompleted && us.CompletedAt != nil {
			p("\n Completed:\t%s ago", units.HumanDuration(time.Since(*us.CompletedAt)))
		}
		p("\n Message:\t%s", us.Message)
	}
	p("\nPlacement:")
	if pl := tt.Placement; pl != nil {
		if len(pl.Constraints) > 0 {
			p("\n Constraints:\t%v", pl.Constraints)
		}
		var prefs []string
		for _, pref := range pl.Preferences {
			if pref.Spread != nil {
				prefs = append(prefs, "spread="+pref.Spread.SpreadDescriptor)
			}
		}
		if len(prefs) > 0 {
			p("\n Preferences:   %v", prefs)
		}
		if pl.MaxReplicas > 0 {
			p("\n Max Replicas Per Node:   %d", pl.MaxReplicas)
		}
	}
	writeUpdateConfig(b, "UpdateConfig", "Update order:     ", spec.UpdateConfig)
	writeUpdateConfig(b, "RollbackConfig", "Rollback order:   ", spec.RollbackConfig)
	p("\nContainerSpec:\n Image:\t\t%s", cs.Image)
	if len(cs.Args) > 0 {
		p("\n Args:\t\t%s", spaced(cs.Args))
	}
	if len(cs.Env) > 0 {
		p("\n Env:\t\t%s", spaced(cs.Env))
	}
	if cs.Dir != "" {
		p("\n Dir:\t\t%s", cs.Dir)
	}
	if cs.Init != nil {
		p("\n Init:\t\t%t", *cs.Init)
	}
	if cs.User != "" {
		p("\n User: %s", cs.User)
	}
	if len(cs.CapabilityAdd) > 0 || len(cs.CapabilityDrop) > 0 {
		p("\nCapabilities:")
		if len(cs.CapabilityAdd) > 0 {
			p("\n Add: %s", strings.Join(cs.CapabilityAdd, ", "))
		}
		if len(cs.CapabilityDrop) > 0 {
			p("\n Drop: %s", strings.Join(cs.CapabilityDrop, ", "))
		}
	}
	sortedKV(b, "\nSysCtls:", cs.Sysctls, "\n %s", ": %s")
	if len(cs.Ulimits) > 0 {
		ul := map[string]string{}
		for _, u := range cs.Ulimits {
			ul[u.Name] = fmt.Sprintf("%d:%d", u.Soft, u.Hard)
		}
		sortedKV(b, "\nUlimits:", ul, "\n %s", ": %s")
	}
	if len(cs.Mounts) > 0 {
		p("\nMounts:")
	}
	for _, m := range cs.Mounts {
		p("\n Target:\t%s\n  Source:\t%s\n  ReadOnly:\t%t\n  Type:\t\t%s", m.Target, m.Source, m.ReadOnly, m.Type)
	}
	if len(cs.Configs) > 0 {
		p("\nConfigs:")
		for _, c := range cs.Configs {
			p("\n Target:\t%s\n  Source:\t%s", fileName(c.File), c.ConfigName)
		}
	}
	if len(cs.Secrets) > 0 {
		p("\nSecrets:")
		for _, sr := range cs.Secrets {
			var name string
			if sr.File != nil {
				name = sr.File.Name
			}
			p("\n Target:\t%s\n  Source:\t%s", name, sr.SecretName)
		}
	}
	if ld := tt.LogDriver; ld != nil {
		p("\nLog Driver:")
		if ld.Name != "" {
			p("\n Name:\t\t%s", ld.Name)
		}
		if len(ld.Options) > 0 {
			p("\n LogOpts:")
			sortedKV(b, "", ld.Options, "\n  %s", ":       %s")
		}
		p("\n") // docker's template leaves a blank line after the log driver
	}
	if r := tt.Resources; r != nil {
		p("\nResources:")
		if rv := r.Reservations; rv != nil && (rv.NanoCPUs > 0 || rv.MemoryBytes > 0) {
			p("\n Reservations:")
			if rv.NanoCPUs > 0 {
				p("\n  CPU:\t\t%v", float64(rv.NanoCPUs)/1e9)
			}
			if rv.MemoryBytes > 0 {
				p("\n  Memory:\t%s", units.BytesSize(float64(rv.MemoryBytes)))
			}
		}
		if l := r.Limits; l != nil && (l.NanoCPUs > 0 || l.MemoryBytes > 0 || l.Pids > 0) {
			p("\n Limits:")
			if l.NanoCPUs > 0 {
				p("\n  CPU:\t\t%v", float64(l.NanoCPUs)/1e9)
			}
			if l.MemoryBytes > 0 {
				p("\n  Memory:\t%s", units.BytesSize(float64(l.MemoryBytes)))
			}
		}
		if r.Limits != nil && r.Limits.Pids > 0 {
			p("\n  PIDs:\t\t%d", r.Limits.Pids)
		}
	}
	if len(tt.Networks) > 0 {
		p("\nNetworks:")
		for _, n := range tt.Networks {
			if name, ok := names[n.Target]; ok {
				p(" %s", name)
			} else {
				p(" %s", n.Target)
			}
		}
		p(" ")
	}
	mode := ""
	if spec.EndpointSpec != nil {
		mode = string(spec.EndpointSpec.Mode)
	}
	p("\nEndpoint Mode:\t%s", mode)
	if len(s.Endpoint.Ports) > 0 {
		p("\nPorts:")
		for _, pc := range s.Endpoint.Ports {
			p("\n PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = %s", pc.PublishedPort, pc.Protocol, pc.TargetPort, pc.PublishMode)
		}
		p(" ")
	}
	if hc := cs.Healthcheck; hc != nil {
		p("\n Healthcheck:\n  Interval = %s\n  Retries = %d\n  StartPeriod =\t%s\n  Timeout =\t%s", hc.Interval, hc.Retries, hc.StartPeriod, hc.Timeout)
		if len(hc.Test) > 0 {
			p("\n  Tests:")
			for _, t := range hc.Test {
				p("\n\t Test = %s", t)
			}
			p(" ")
		}
	}
	p("\n\n")
}

func writeUpdateConfig(b *strings.Builder, title, order string, u *swarm.UpdateConfig) {
	if u == nil {
		return
	}
	fmt.Fprintf(b, "\n%s:\n Parallelism:\t%d", title, u.Parallelism)
	if u.Delay > 0 {
		fmt.Fprintf(b, "\n Delay:\t\t%s", u.Delay)
	}
	fmt.Fprintf(b, "\n On failure:\t%s", u.FailureAction)
	if u.Monitor > 0 {
		fmt.Fprintf(b, "\n Monitoring Period: %s", u.Monitor)
	}
	fmt.Fprintf(b, "\n Max failure ratio: %v\n %s %s", u.MaxFailureRatio, order, u.Order)
}

// sortedKV writes title, then each key of m in order with keyFmt and,
// when its value is not empty, valFmt.
func sortedKV(b *strings.Builder, title string, m map[string]string, keyFmt, valFmt string) {
	if len(m) == 0 {
		return
	}
	b.WriteString(title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, keyFmt, k)
		if m[k] != "" {
			fmt.Fprintf(b, valFmt, m[k])
		}
	}
}

// spaced is a list as docker's template ranges over it: each item
// followed by a space.
func spaced(l []string) string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString(s + " ")
	}
	return b.String()
}

func fileName(f *swarm.ConfigReferenceFileTarget) string {
	if f == nil {
		return ""
	}
	return f.Name
}
