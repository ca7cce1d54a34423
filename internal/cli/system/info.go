package system

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/system"
)

// printInfo writes `info` the way docker lays it out.
func printInfo(w io.Writer, i *system.Info) {
	v, _, _ := buildVersion()
	fmt.Fprintf(w, "Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\n", v)
	fmt.Fprintf(w, "Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n",
		i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images)
	fmt.Fprintf(w, " Server Version: %s\n Storage Driver: %s\n", i.ServerVersion, i.Driver)
	for _, kv := range i.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintf(w, " Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n", i.LoggingDriver, i.CgroupDriver, i.CgroupVersion)
	fmt.Fprintf(w, " Plugins:\n  Volume: %s\n  Network: %s\n", strings.Join(i.Plugins.Volume, " "), strings.Join(i.Plugins.Network, " "))
	if len(i.Plugins.Authorization) > 0 {
		fmt.Fprintf(w, "  Authorization: %s\n", strings.Join(i.Plugins.Authorization, " "))
	}
	fmt.Fprintf(w, "  Log: %s\n", strings.Join(i.Plugins.Log, " "))
	fmt.Fprintf(w, " Swarm: %s\n", swarmState(i))
	var rts []string
	for n := range i.Runtimes {
		rts = append(rts, n)
	}
	sort.Strings(rts)
	fmt.Fprintf(w, " Runtimes: %s\n Default Runtime: %s\n", strings.Join(rts, " "), i.DefaultRuntime)
	fmt.Fprintf(w, " Init Binary: %s\n containerd version: %s\n runc version: %s\n init version: %s\n",
		i.InitBinary, i.ContainerdCommit.ID, i.RuncCommit.ID, i.InitCommit.ID)
	printSecurityOptions(w, i.SecurityOptions)
	fmt.Fprintf(w, " Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n Debug Mode: %t\n",
		i.KernelVersion, i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, bytesSize(i.MemTotal), i.Name, i.ID,
		i.DockerRootDir, i.Debug)
	if len(i.Labels) > 0 {
		fmt.Fprintln(w, " Labels:")
		for _, l := range i.Labels {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, " Experimental: %t\n", i.ExperimentalBuild)
	printRegistries(w, i)
	fmt.Fprintf(w, " Live Restore Enabled: %t\n\n", i.LiveRestoreEnabled)
}

// printSecurityOptions turns "name=seccomp,profile=default" into docker's
// indented "seccomp / Profile: default" form.
func printSecurityOptions(w io.Writer, opts []string) {
	if len(opts) == 0 {
		return
	}
	fmt.Fprintln(w, " Security Options:")
	for _, o := range opts {
		for _, kv := range strings.Split(o, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k == "name" {
				fmt.Fprintf(w, "  %s\n", v)
				continue
			}
			fmt.Fprintf(w, "   %s: %s\n", strings.ToUpper(k[:1])+k[1:], v)
		}
	}
}

func printRegistries(w io.Writer, i *system.Info) {
	rc := i.RegistryConfig
	if rc == nil {
		return
	}
	var insecure []string
	for name, idx := range rc.IndexConfigs {
		if idx != nil && !idx.Secure {
			insecure = append(insecure, name)
		}
	}
	sort.Strings(insecure)
	for _, p := range rc.InsecureRegistryCIDRs {
		insecure = append(insecure, p.String())
	}
	if len(insecure) > 0 {
		fmt.Fprintln(w, " Insecure Registries:")
		for _, r := range insecure {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	if len(rc.Mirrors) > 0 {
		fmt.Fprintln(w, " Registry Mirrors:")
		for _, m := range rc.Mirrors {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}

func swarmState(i *system.Info) string {
	if i.Swarm.LocalNodeState == "" {
		return "inactive"
	}
	return string(i.Swarm.LocalNodeState)
}
