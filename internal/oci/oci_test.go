package oci

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func input(t *testing.T, hc *container.HostConfig) *Input {
	t.Helper()
	if hc == nil {
		hc = &container.HostConfig{}
	}
	return &Input{
		ID:         "c1",
		Rootfs:     t.TempDir(),
		Config:     &container.Config{Hostname: "c1host", Env: []string{"PATH=/bin", "FOO=bar"}},
		HostConfig: hc,
		Args:       []string{"/bin/sh"},
	}
}

func gen(t *testing.T, in *Input) *specs.Spec {
	t.Helper()
	s, err := Generate(context.Background(), in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func findMount(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string // must contain
		wantNot    []string
		wantLen    int // -1: don't check
	}{
		{name: "defaults", want: DefaultCapabilities(), wantNot: []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, wantLen: 14},
		{name: "drop all add net_admin", add: []string{"NET_ADMIN"}, drop: []string{"ALL"}, want: []string{"CAP_NET_ADMIN"}, wantLen: 1},
		{name: "prefix and case", add: []string{"cap_sys_ptrace"}, drop: []string{"Chown"}, want: []string{"CAP_SYS_PTRACE"}, wantNot: []string{"CAP_CHOWN"}, wantLen: 14},
		{name: "add all drop one", add: []string{"all"}, drop: []string{"CAP_MKNOD"}, want: []string{"CAP_SYS_ADMIN"}, wantNot: []string{"CAP_MKNOD"}, wantLen: len(hostCapabilities()) - 1},
		{name: "privileged", privileged: true, drop: []string{"ALL"}, want: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, wantLen: len(hostCapabilities())},
		{name: "duplicates", add: []string{"KILL", "CAP_KILL"}, wantLen: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(t, &container.HostConfig{CapAdd: tt.add, CapDrop: tt.drop, Privileged: tt.privileged})
			c := gen(t, in).Process.Capabilities
			for _, w := range tt.want {
				if !slices.Contains(c.Bounding, w) || !slices.Contains(c.Effective, w) || !slices.Contains(c.Permitted, w) {
					t.Errorf("missing %s in %v", w, c.Bounding)
				}
			}
			for _, w := range tt.wantNot {
				if slices.Contains(c.Bounding, w) {
					t.Errorf("unexpected %s", w)
				}
			}
			if len(c.Bounding) != tt.wantLen {
				t.Errorf("len = %d, want %d: %v", len(c.Bounding), tt.wantLen, c.Bounding)
			}
			if len(c.Inheritable) != 0 {
				t.Errorf("inheritable must be empty: %v", c.Inheritable)
			}
		})
	}
	_, err := Generate(context.Background(), input(t, &container.HostConfig{CapAdd: []string{"FOO"}}))
	if err == nil || err.Error() != `unknown capability: "CAP_FOO"` {
		t.Errorf("unknown cap error = %v", err)
	}
}

func TestResources(t *testing.T) {
	pids := int64(100)
	unlimited := int64(0)
	tests := []struct {
		name  string
		r     container.Resources
		check func(*specs.LinuxResources) bool
	}{
		{"memory 64m", container.Resources{Memory: 64 << 20}, func(r *specs.LinuxResources) bool { return *r.Memory.Limit == 64<<20 && r.Memory.Swap == nil }},
		{"memory swap", container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, MemoryReservation: 32 << 20}, func(r *specs.LinuxResources) bool {
			return *r.Memory.Swap == 128<<20 && *r.Memory.Reservation == 32<<20
		}},
		{"cpus 1.5", container.Resources{NanoCPUs: 1.5e9}, func(r *specs.LinuxResources) bool { return *r.CPU.Quota == 150000 && *r.CPU.Period == 100000 }},
		{"quota period shares", container.Resources{CPUQuota: 50000, CPUPeriod: 200000, CPUShares: 512}, func(r *specs.LinuxResources) bool {
			return *r.CPU.Quota == 50000 && *r.CPU.Period == 200000 && *r.CPU.Shares == 512
		}},
		{"cpuset", container.Resources{CpusetCpus: "0-1", CpusetMems: "0"}, func(r *specs.LinuxResources) bool { return r.CPU.Cpus == "0-1" && r.CPU.Mems == "0" }},
		{"pids", container.Resources{PidsLimit: &pids}, func(r *specs.LinuxResources) bool { return *r.Pids.Limit == 100 }},
		{"pids unlimited", container.Resources{PidsLimit: &unlimited}, func(r *specs.LinuxResources) bool { return r.Pids == nil || *r.Pids.Limit == -1 }},
		{"blkio", container.Resources{BlkioWeight: 300}, func(r *specs.LinuxResources) bool { return *r.BlockIO.Weight == 300 }},
		{"empty", container.Resources{}, func(r *specs.LinuxResources) bool {
			return r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.check(Resources(&tt.r)) {
				t.Errorf("unexpected resources for %+v", tt.r)
			}
			s := gen(t, input(t, &container.HostConfig{Resources: tt.r}))
			if !tt.check(s.Linux.Resources) {
				t.Errorf("Generate lost resources for %+v", tt.r)
			}
			if d := s.Linux.Resources.Devices; len(d) == 0 || d[0].Allow {
				t.Errorf("device list must start with deny-all: %+v", d)
			}
		})
	}
	_, err := Generate(context.Background(), input(t, &container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 1000}}))
	if err == nil {
		t.Error("--cpus with --cpu-quota must fail")
	}
}

func TestReadonlyRootfsAndEtcMounts(t *testing.T) {
	for _, ro := range []bool{false, true} {
		in := input(t, &container.HostConfig{ReadonlyRootfs: ro})
		in.HostsPath, in.HostnamePath, in.ResolvConfPath = "/h/hosts", "/h/hostname", "/h/resolv.conf"
		s := gen(t, in)
		if s.Root.Readonly != ro {
			t.Errorf("Root.Readonly = %v, want %v", s.Root.Readonly, ro)
		}
		for _, dst := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
			m := findMount(s, dst)
			if m == nil {
				t.Fatalf("no mount at %s", dst)
			}
			if slices.Contains(m.Options, "ro") != ro {
				t.Errorf("%s options %v (ro rootfs %v)", dst, m.Options, ro)
			}
		}
	}
}

func TestDefaultMountsAndMasks(t *testing.T) {
	s := gen(t, input(t, &container.HostConfig{ShmSize: 128 << 20}))
	for _, dst := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} {
		if findMount(s, dst) == nil {
			t.Errorf("missing default mount %s", dst)
		}
	}
	if m := findMount(s, "/dev/shm"); !slices.Contains(m.Options, "size=134217728") {
		t.Errorf("shm options %v", m.Options)
	}
	if m := findMount(s, "/dev/pts"); !slices.Contains(m.Options, "gid=5") {
		t.Errorf("pts options %v", m.Options)
	}
	if m := findMount(s, "/sys"); !slices.Contains(m.Options, "ro") {
		t.Errorf("sys must be ro: %v", m.Options)
	}
	if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths()) || !slices.Equal(s.Linux.ReadonlyPaths, DefaultReadonlyPaths()) {
		t.Errorf("masks %v / %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Errorf("default seccomp profile missing")
	}
	if m := findMount(gen(t, input(t, nil)), "/dev/shm"); !slices.Contains(m.Options, "size=67108864") {
		t.Errorf("default shm size: %v", m.Options)
	}

	p := gen(t, input(t, &container.HostConfig{Privileged: true}))
	if p.Linux.MaskedPaths != nil || p.Linux.ReadonlyPaths != nil || p.Linux.Seccomp != nil {
		t.Errorf("privileged must not mask or filter")
	}
	if m := findMount(p, "/sys"); slices.Contains(m.Options, "ro") {
		t.Errorf("privileged /sys must be rw")
	}
	if d := p.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow {
		t.Errorf("privileged devices %+v", d)
	}
}

func TestSecurityOpts(t *testing.T) {
	s := gen(t, input(t, &container.HostConfig{SecurityOpt: []string{"seccomp=unconfined", "no-new-privileges"}}))
	if s.Linux.Seccomp != nil || !s.Process.NoNewPrivileges {
		t.Errorf("seccomp %v nnp %v", s.Linux.Seccomp, s.Process.NoNewPrivileges)
	}
	s = gen(t, input(t, &container.HostConfig{SecurityOpt: []string{"no-new-privileges:true", "systempaths=unconfined"}}))
	if !s.Process.NoNewPrivileges || s.Linux.MaskedPaths != nil {
		t.Errorf("legacy form / systempaths not applied")
	}
	s = gen(t, input(t, &container.HostConfig{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}}))
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow {
		t.Errorf("custom profile not loaded: %+v", s.Linux.Seccomp)
	}
	if _, err := Generate(context.Background(), input(t, &container.HostConfig{SecurityOpt: []string{"bogus"}})); err == nil {
		t.Error("bad security-opt accepted")
	}
}

func TestNamespacesAndHostname(t *testing.T) {
	in := input(t, nil)
	in.Config.Domainname = "example.com"
	s := gen(t, in)
	want := []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace}
	var got []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		got = append(got, n.Type)
	}
	if !slices.Equal(got, want) || s.Hostname != "c1host" || s.Domainname != "example.com" {
		t.Errorf("namespaces %v hostname %q/%q", got, s.Hostname, s.Domainname)
	}
	in.NetNS, in.PidNS, in.UtsNS = "host", "/proc/1/ns/pid", "host"
	s = gen(t, in)
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace || n.Type == specs.UTSNamespace {
			t.Errorf("host namespace %s must not be created", n.Type)
		}
		if n.Type == specs.PIDNamespace && n.Path != "/proc/1/ns/pid" {
			t.Errorf("pid ns path %q", n.Path)
		}
	}
	if s.Hostname != "" {
		t.Errorf("hostname set with host uts")
	}
}

func TestProcessEnvCwdOomSysctlUlimit(t *testing.T) {
	in := input(t, &container.HostConfig{OomScoreAdj: 500, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 1 << 40}}}})
	in.Config.Tty = true
	in.Config.WorkingDir = "/work/"
	s := gen(t, in)
	env := strings.Join(s.Process.Env, " ")
	if env != "PATH=/bin HOSTNAME=c1host TERM=xterm FOO=bar HOME=/" {
		t.Errorf("env = %q", env)
	}
	if s.Process.Cwd != "/work" || !s.Process.Terminal {
		t.Errorf("cwd %q terminal %v", s.Process.Cwd, s.Process.Terminal)
	}
	if *s.Process.OOMScoreAdj != 500 || s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" {
		t.Errorf("oom/sysctl not set")
	}
	rl := s.Process.Rlimits
	if len(rl) != 1 || rl[0].Type != "RLIMIT_NOFILE" || rl[0].Soft != 1024 || rl[0].Hard >= 1<<40 {
		t.Errorf("rlimits %+v (hard must be clamped)", rl)
	}
	in.NetNS = "host"
	if _, err := Generate(context.Background(), in); err == nil {
		t.Error("net sysctl accepted with host network")
	}
	in.NetNS = ""
	in.Config.Env = nil
	in.Config.WorkingDir = "rel"
	if _, err := Generate(context.Background(), in); err == nil {
		t.Error("relative working dir accepted")
	}
	in.Config.WorkingDir = ""
	s = gen(t, in)
	if s.Process.Env[0] != "PATH="+DefaultPathEnv || s.Process.Cwd != "/" {
		t.Errorf("defaults: env %v cwd %q", s.Process.Env, s.Process.Cwd)
	}
	in.Args = nil
	if _, err := Generate(context.Background(), in); err == nil {
		t.Error("empty args accepted")
	}
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUserResolution(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n")
	writeFile(t, filepath.Join(root, "etc/group"), "root:x:0:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:alice,bob\naudio:x:29:alice\n")
	tests := []struct {
		user     string
		groupAdd []string
		uid, gid uint32
		sgids    []uint32
		home     string
		err      string
	}{
		{user: "", uid: 0, gid: 0, home: "/root"},
		{user: "alice", uid: 1000, gid: 1000, sgids: []uint32{50, 29}, home: "/home/alice"},
		{user: "1001", uid: 1001, gid: 1001, sgids: []uint32{50}, home: "/home/bob"},
		{user: "1001:29", uid: 1001, gid: 29, home: "/home/bob"},
		{user: "alice:staff", uid: 1000, gid: 50, home: "/home/alice"},
		{user: "4242", uid: 4242, gid: 0, home: "/"},
		{user: "4242:4343", uid: 4242, gid: 4343, home: "/"},
		{user: "bob", groupAdd: []string{"audio", "777"}, uid: 1001, gid: 1001, sgids: []uint32{50, 29, 777}, home: "/home/bob"},
		{user: "nobody", err: "unable to find user nobody: no matching entries in passwd file"},
		{user: "alice:nogroup", err: "unable to find group nogroup: no matching entries in group file"},
		{user: "alice", groupAdd: []string{"nogroup"}, err: "Unable to find group nogroup"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			in := input(t, &container.HostConfig{GroupAdd: tt.groupAdd})
			in.Rootfs = root
			in.Config.User = tt.user
			in.Config.Env = nil
			s, err := Generate(context.Background(), in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := s.Process.User
			if u.UID != tt.uid || u.GID != tt.gid || !slices.Equal(u.AdditionalGids, withPrimaryGid(tt.gid, tt.sgids)) {
				t.Errorf("user = %+v", u)
			}
			if !slices.Contains(s.Process.Env, "HOME="+tt.home) {
				t.Errorf("env %v lacks HOME=%s", s.Process.Env, tt.home)
			}
		})
	}
}

func TestUserFilesDoNotEscapeRootfs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The host has "root" in /etc/passwd; a link to it must not be followed.
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveUser(root, "root", nil); err == nil {
		t.Error("user resolved through a symlink leaving the rootfs")
	}
}

func TestExecProcess(t *testing.T) {
	in := input(t, &container.HostConfig{CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"}})
	in.Config.WorkingDir = "/srv"
	p, err := ExecProcess(context.Background(), in, &container.ExecCreateRequest{Cmd: []string{"ls"}, Env: []string{"FOO=exec", "X=1"}, Tty: true, User: "123:456"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Args, []string{"ls"}) || p.Cwd != "/srv" || !p.Terminal || p.User.UID != 123 || p.User.GID != 456 {
		t.Errorf("process %+v", p)
	}
	if strings.Join(p.Env, " ") != "PATH=/bin HOSTNAME=c1host TERM=xterm FOO=exec X=1 HOME=/" {
		t.Errorf("env %v", p.Env)
	}
	if len(p.Capabilities.Bounding) != 0 || !p.NoNewPrivileges {
		t.Errorf("exec must keep the container's caps and nnp: %+v", p.Capabilities)
	}
	p, err = ExecProcess(context.Background(), in, &container.ExecCreateRequest{Cmd: []string{"ls"}, Privileged: true, WorkingDir: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Capabilities.Bounding, "CAP_SYS_ADMIN") || p.Cwd != "/tmp" || p.Terminal {
		t.Errorf("privileged exec %+v", p)
	}
	if _, err := ExecProcess(context.Background(), in, &container.ExecCreateRequest{}); err == nil {
		t.Error("empty exec cmd accepted")
	}
}
