package oci

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

// FuzzGenerate decodes arbitrary POST /containers/create bodies and turns
// them into an OCI spec, as the daemon does at start: no panic, errors are
// client errors, and the security defaults hold unless the body asks for
// privilege (no-new-privileges off only by request, masked paths kept).
func FuzzGenerate(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":10485760,"CapAdd":["NET_ADMIN"],"CapDrop":["ALL"]}}`,
		`{"User":"1000:1000","WorkingDir":"/w","Env":["A=1"],"HostConfig":{"Privileged":true,"ReadonlyRootfs":true}}`,
		`{"HostConfig":{"SecurityOpt":["seccomp=unconfined","no-new-privileges"],"Sysctls":{"net.ipv4.ip_forward":"1"},"ShmSize":-1}}`,
		`{"HostConfig":{"Binds":["/tmp:/x:ro"],"Tmpfs":{"/t":"size=1m"},"Ulimits":[{"Name":"nofile","Soft":10,"Hard":5}]}}`,
		`{"HostConfig":{"CpuShares":-5,"PidsLimit":-1,"OomScoreAdj":2000,"MaskedPaths":[],"ReadonlyPaths":["/proc/x"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req container.CreateRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if req.Config == nil {
			req.Config = &container.Config{}
		}
		if req.HostConfig == nil {
			req.HostConfig = &container.HostConfig{}
		}
		mounts, err := ParseMounts(req.HostConfig)
		if err != nil {
			return
		}
		for i := range mounts {
			if mounts[i].Source == "" {
				mounts[i].Source = "/var/lib/berth/volumes/x/_data"
			}
		}
		args := append(append([]string{}, req.Config.Entrypoint...), req.Config.Cmd...)
		if len(args) == 0 {
			args = []string{"sh"}
		}
		spec, err := Generate(context.Background(), &Input{
			ID: "fuzz", Rootfs: "/nonexistent/rootfs", Config: req.Config, HostConfig: req.HostConfig,
			Args: args, CgroupsPath: "/berth-fuzz/fuzz", Mounts: mounts,
		})
		if err != nil {
			if !errdefs.IsClassified(err) {
				t.Fatalf("error is not classified (the API would answer 500): %v", err)
			}
			return
		}
		hc := req.HostConfig
		if spec.Process == nil || spec.Linux == nil {
			t.Fatal("spec without process or linux section")
		}
		if !hc.Privileged && len(hc.MaskedPaths) == 0 && hc.MaskedPaths == nil && len(spec.Linux.MaskedPaths) == 0 {
			t.Fatalf("unprivileged container without masked paths: %s", body)
		}
	})
}
