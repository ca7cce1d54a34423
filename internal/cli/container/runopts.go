package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// runOpts are the flags shared by run and create.
type runOpts struct {
	name, workdir, user, entrypoint, hostname, netMode string
	restart, memory, memorySwap, shmSize, stopSignal   string
	logDriver, runtime, detachKeys, cpus               string
	pull                                               string
	volumesFrom, aliases, links, dnsSearch, dnsOptions []string
	ipv4, mac                                          string
	env, envFile, labels, volumes, mounts, tmpfs       []string
	capAdd, capDrop, securityOpt, ulimits, logOpts     []string
	devices, deviceCgroupRules                         []string
	attach, publish, expose, dns, addHost              []string
	interactive, tty, readOnly, privileged, publishAll bool
	init                                               bool
	pidsLimit, cpuShares                               int64
	stopTimeout                                        int
	health                                             healthOpts
	// run only
	detach, rm, sigProxy bool
}

func (o *runOpts) addFlags(fs *pflag.FlagSet) {
	fs.SetInterspersed(false)
	fs.StringVar(&o.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	// -h is --hostname here, as in docker, so help gets no shorthand.
	fs.Bool("help", false, "Print usage")
	fs.StringVar(&o.netMode, "network", "", "Connect a container to a network")
	fs.StringVar(&o.netMode, "net", "", "Connect a container to a network")
	fs.StringArrayVar(&o.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&o.aliases, "net-alias", nil, "Add network-scoped alias for the container")
	fs.Lookup("net-alias").Hidden = true
	fs.StringArrayVar(&o.links, "link", nil, "Add link to another container")
	fs.StringVar(&o.ipv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&o.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	_ = fs.MarkHidden("net")
	fs.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&o.pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
	fs.StringVarP(&o.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&o.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.StringVar(&o.shmSize, "shm-size", "", "Size of /dev/shm")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	fs.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options")
	fs.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	fs.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	fs.StringVar(&o.cpus, "cpus", "", "Number of CPUs")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	fs.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	fs.StringArrayVar(&o.mounts, "mount", nil, "Attach a filesystem mount to the container")
	fs.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fs.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&o.securityOpt, "security-opt", nil, "Security Options")
	fs.StringArrayVar(&o.devices, "device", nil, "Add a host device to the container")
	fs.StringArrayVar(&o.deviceCgroupRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	fs.StringArrayVar(&o.ulimits, "ulimit", nil, "Ulimit options")
	fs.StringArrayVarP(&o.attach, "attach", "a", nil, "Attach to STDIN, STDOUT or STDERR")
	fs.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fs.StringArrayVar(&o.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringArrayVar(&o.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&o.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&o.dnsOptions, "dns-option", nil, "Set DNS options")
	fs.StringArrayVar(&o.addHost, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	fs.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	o.health.addFlags(fs)
	fs.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
}

// build turns the flags plus image and command into a create request.
func (o *runOpts) build(fs *pflag.FlagSet, image string, cmd []string) (*container.CreateRequest, error) {
	env, err := readEnv(o.envFile, o.env)
	if err != nil {
		return nil, err
	}
	cfg := &container.Config{
		Hostname: o.hostname, User: o.user, WorkingDir: o.workdir, Image: image, Cmd: cmd,
		Env: env, Tty: o.tty, OpenStdin: o.interactive, Labels: parseLabels(o.labels),
		StopSignal: o.stopSignal, Volumes: map[string]struct{}{},
	}
	for _, v := range o.volumes {
		if !strings.Contains(v, ":") {
			cfg.Volumes[v] = struct{}{} // -v /path: an anonymous volume, as docker sends it
		}
	}
	if fs.Changed("stop-timeout") {
		cfg.StopTimeout = &o.stopTimeout
	}
	if cfg.Healthcheck, err = o.health.config(); err != nil {
		return nil, err
	}
	if fs.Changed("entrypoint") {
		cfg.Entrypoint = []string{o.entrypoint}
		if o.entrypoint == "" {
			cfg.Entrypoint = []string{""}
		}
	}
	if err := o.attachFlags(cfg); err != nil {
		return nil, err
	}
	hc, err := o.hostConfig(fs)
	if err != nil {
		return nil, err
	}
	ports, bindings, err := ParsePorts(o.publish, o.expose)
	if err != nil {
		return nil, err
	}
	if len(ports) > 0 {
		cfg.ExposedPorts = ports
	}
	hc.PortBindings = bindings
	hc.Links = o.links
	nc, err := o.networkingConfig()
	if err != nil {
		return nil, err
	}
	return &container.CreateRequest{Config: cfg, HostConfig: hc, NetworkingConfig: nc}, nil
}

// networkingConfig carries --network-alias, --ip and --mac-address for the
// network named by --network, as docker sends them.
func (o *runOpts) networkingConfig() (*network.NetworkingConfig, error) {
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if len(o.aliases) == 0 && o.ipv4 == "" && o.mac == "" {
		return nc, nil
	}
	nm := container.NetworkMode(o.netMode)
	if o.netMode == "" || nm.IsDefault() || nm.IsHost() || nm.IsNone() || nm.IsContainer() {
		if len(o.aliases) > 0 {
			return nil, fmt.Errorf("network-scoped aliases are only supported for user-defined networks")
		}
	}
	ep := &network.EndpointSettings{Aliases: o.aliases}
	if o.ipv4 != "" {
		addr, err := netip.ParseAddr(o.ipv4)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s", o.ipv4)
		}
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: addr}
	}
	if o.mac != "" {
		hw, err := net.ParseMAC(o.mac)
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.mac)
		}
		ep.MacAddress = network.HardwareAddr(hw)
	}
	name := o.netMode
	if name == "" {
		name = "default"
	}
	nc.EndpointsConfig[name] = ep
	return nc, nil
}

func (o *runOpts) attachFlags(cfg *container.Config) error {
	if o.detach {
		return nil
	}
	if len(o.attach) == 0 {
		cfg.AttachStdout, cfg.AttachStderr = true, true
		cfg.AttachStdin = o.interactive
	}
	for _, s := range o.attach {
		switch strings.ToLower(s) {
		case "stdin":
			cfg.AttachStdin = true
		case "stdout":
			cfg.AttachStdout = true
		case "stderr":
			cfg.AttachStderr = true
		default:
			return fmt.Errorf("invalid argument %q for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", s)
		}
	}
	if cfg.AttachStdin {
		cfg.StdinOnce = true
	}
	return nil
}

func (o *runOpts) hostConfig(fs *pflag.FlagSet) (*container.HostConfig, error) {
	restart, err := parseRestart(o.restart)
	if err != nil {
		return nil, err
	}
	secOpts, err := parseSecurityOpts(o.securityOpt)
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(o.netMode), RestartPolicy: restart, AutoRemove: o.rm,
		CapAdd: o.capAdd, CapDrop: o.capDrop, Privileged: o.privileged, ReadonlyRootfs: o.readOnly,
		SecurityOpt: secOpts, Runtime: o.runtime, PublishAllPorts: o.publishAll,
		ExtraHosts: o.addHost, DNS: []netip.Addr{}, DNSOptions: nonNilStrings(o.dnsOptions), DNSSearch: nonNilStrings(o.dnsSearch),
		LogConfig: container.LogConfig{Type: o.logDriver, Config: map[string]string{}},
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = "default"
	}
	if fs.Changed("init") {
		hc.Init = &o.init
	}
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--dns\" flag: %s is not an ip address", d, d)
		}
		hc.DNS = append(hc.DNS, a)
	}
	for _, l := range o.logOpts {
		k, v, _ := strings.Cut(l, "=")
		hc.LogConfig.Config[k] = v
	}
	if err := o.resources(fs, &hc.Resources); err != nil {
		return nil, err
	}
	if o.shmSize != "" {
		if hc.ShmSize, err = units.RAMInBytes(o.shmSize); err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--shm-size\" flag: %w", o.shmSize, err)
		}
	}
	if err := o.storage(hc); err != nil {
		return nil, err
	}
	return hc, nil
}

func (o *runOpts) storage(hc *container.HostConfig) error {
	hc.VolumesFrom = o.volumesFrom
	for _, v := range o.volumes {
		parts := strings.Split(v, ":")
		if len(parts) == 1 {
			continue // anonymous volume: not in Binds
		}
		if len(parts) > 3 || parts[1] == "" {
			return fmt.Errorf("invalid spec: %s: too many colons", v)
		}
		if strings.HasPrefix(parts[0], ".") {
			abs, err := filepath.Abs(parts[0])
			if err != nil {
				return err
			}
			parts[0] = abs
		}
		hc.Binds = append(hc.Binds, strings.Join(parts, ":"))
	}
	for _, m := range o.mounts {
		mt, err := parseMount(m)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--mount\" flag: %w", m, err)
		}
		hc.Mounts = append(hc.Mounts, mt)
	}
	if len(o.tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range o.tmpfs {
			dst, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[dst] = opts
		}
	}
	return nil
}

func (o *runOpts) resources(fs *pflag.FlagSet, r *container.Resources) error {
	var err error
	if o.memory != "" {
		if r.Memory, err = units.RAMInBytes(o.memory); err != nil {
			return fmt.Errorf("invalid argument %q for \"-m, --memory\" flag: %w", o.memory, err)
		}
	}
	if o.memorySwap != "" {
		if o.memorySwap == "-1" {
			r.MemorySwap = -1
		} else if r.MemorySwap, err = units.RAMInBytes(o.memorySwap); err != nil {
			return fmt.Errorf("invalid argument %q for \"--memory-swap\" flag: %w", o.memorySwap, err)
		}
	}
	if o.cpus != "" {
		if r.NanoCPUs, err = parseCPUs(o.cpus); err != nil {
			return err
		}
	}
	r.CPUShares = o.cpuShares
	if fs.Changed("pids-limit") {
		r.PidsLimit = &o.pidsLimit
	}
	swappiness := int64(-1)
	r.MemorySwappiness = &swappiness
	for _, d := range o.devices {
		m, err := parseDevice(d)
		if err != nil {
			return err
		}
		r.Devices = append(r.Devices, m)
	}
	r.DeviceCgroupRules = o.deviceCgroupRules
	for _, u := range o.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--ulimit\" flag: %w", u, err)
		}
		r.Ulimits = append(r.Ulimits, ul)
	}
	return nil
}

func parseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid argument %q for \"--cpus\" flag: failed to parse %v as a rational number", s, s)
	}
	return int64(f * 1e9), nil
}

func parseRestart(s string) (container.RestartPolicy, error) {
	name, count, ok := strings.Cut(s, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if name == "" {
		p.Name = "no"
	}
	if ok {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	switch p.Name {
	case "no", "always", "unless-stopped", "on-failure":
		return p, nil
	}
	return p, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", name)
}

func parseLabels(ls []string) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// readEnv reads --env-file files then -e values; "NAME" alone takes the
// value from the local environment, as docker does.
func readEnv(files, vals []string) ([]string, error) {
	var out []string
	for _, f := range files {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	for _, v := range vals {
		out = append(out, expandEnv(v)...)
	}
	return out, nil
}

func expandEnv(v string) []string {
	if strings.Contains(v, "=") {
		return []string{v}
	}
	if val, ok := os.LookupEnv(v); ok {
		return []string{v + "=" + val}
	}
	return []string{v}
}

func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, expandEnv(line)...)
	}
	return out, sc.Err()
}

func parseMount(spec string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	for _, field := range strings.Split(spec, ",") {
		k, v, hasVal := strings.Cut(field, "=")
		switch strings.ToLower(k) {
		case "type":
			m.Type = mount.Type(v)
		case "source", "src":
			m.Source = v
		case "target", "dst", "destination":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly = !hasVal || v == "true" || v == "1"
		case "bind-propagation":
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v)}
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, err
			}
			m.TmpfsOptions = ensureTmpfs(m.TmpfsOptions)
			m.TmpfsOptions.SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, err
			}
			m.TmpfsOptions = ensureTmpfs(m.TmpfsOptions)
			m.TmpfsOptions.Mode = os.FileMode(n)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", k, field)
		}
	}
	if m.Target == "" {
		return m, fmt.Errorf("target is required")
	}
	return m, nil
}

func ensureTmpfs(t *mount.TmpfsOptions) *mount.TmpfsOptions {
	if t == nil {
		return &mount.TmpfsOptions{}
	}
	return t
}

// parsePorts handles -p [ip:][hostPort:]containerPort[/proto] and --expose.
func ParsePorts(publish, expose []string) (network.PortSet, network.PortMap, error) {
	set := network.PortSet{}
	bind := network.PortMap{}
	for _, e := range expose {
		num, proto, _ := strings.Cut(e, "/")
		lo, hi, err := parsePortRange(num)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid range format for --expose: %s", e)
		}
		for n := lo; n <= hi; n++ {
			p, err := network.ParsePort(withProto(strconv.Itoa(n) + protoSuffix(proto)))
			if err != nil {
				return nil, nil, fmt.Errorf("invalid range format for --expose: %s", e)
			}
			set[p] = struct{}{}
		}
	}
	for _, spec := range publish {
		var ip, host, ctr string
		parts := splitHostPort(spec)
		switch len(parts) {
		case 1:
			ctr = parts[0]
		case 2:
			host, ctr = parts[0], parts[1]
		case 3:
			ip, host, ctr = parts[0], parts[1], parts[2]
		default:
			return nil, nil, fmt.Errorf("invalid publish opts format (should be name=value but no = sign found): %s", spec)
		}
		num, proto, _ := strings.Cut(ctr, "/")
		clo, chi, err := parsePortRange(num)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid containerPort: %s", ctr)
		}
		hlo, hhi := 0, 0
		if host != "" {
			if hlo, hhi, err = parsePortRange(host); err != nil {
				return nil, nil, fmt.Errorf("invalid hostPort: %s", host)
			}
			if chi > clo && hhi-hlo != chi-clo {
				return nil, nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", num, host)
			}
		}
		var hostIP netip.Addr
		if ip != "" {
			if hostIP, err = netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
				return nil, nil, fmt.Errorf("invalid IP address: %s", ip)
			}
		}
		for i := 0; i <= chi-clo; i++ {
			p, err := network.ParsePort(withProto(strconv.Itoa(clo+i) + protoSuffix(proto)))
			if err != nil {
				return nil, nil, fmt.Errorf("invalid containerPort: %s", ctr)
			}
			hp := host
			if host != "" && chi > clo {
				hp = strconv.Itoa(hlo + i) // a range maps port for port
			}
			set[p] = struct{}{}
			bind[p] = append(bind[p], network.PortBinding{HostIP: hostIP, HostPort: hp})
		}
	}
	if len(bind) == 0 {
		bind = nil
	}
	return set, bind, nil
}

func withProto(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

// splitHostPort splits on ':' but keeps a bracketed IPv6 address whole.
func splitHostPort(s string) []string {
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			rest := strings.TrimPrefix(s[i+1:], ":")
			return append([]string{s[:i+1]}, strings.Split(rest, ":")...)
		}
	}
	return strings.Split(s, ":")
}

// parsePortRange accepts "80" or "8000-8010" through moby's parser, the
// one the daemon's port mapper uses too; the protocol is cut off before.
func parsePortRange(s string) (int, int, error) {
	if strings.Contains(s, "/") {
		return 0, 0, fmt.Errorf("invalid port range %s", s)
	}
	pr, err := network.ParsePortRange(s)
	if err != nil {
		return 0, 0, err
	}
	return int(pr.Start()), int(pr.End()), nil
}

func protoSuffix(proto string) string {
	if proto == "" {
		return ""
	}
	return "/" + proto
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parseSecurityOpts sends a seccomp profile's content rather than its path,
// like the docker CLI: the file is on the client's machine, not the
// daemon's.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			out = append(out, opt)
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return nil, fmt.Errorf("Invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			raw, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			opt = "seccomp=" + b.String()
		}
		out = append(out, opt)
	}
	return out, nil
}

// parseDevice reads --device HOST[:CONTAINER][:PERMISSIONS] as the docker
// CLI does: a second field made only of r, w and m is the permissions.
func parseDevice(spec string) (container.DeviceMapping, error) {
	isMode := func(m string) bool {
		if m == "" || len(m) > 3 {
			return false
		}
		for _, c := range m {
			if !strings.ContainsRune("rwm", c) {
				return false
			}
		}
		return true
	}
	var src, dst string
	perms := "rwm"
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 3:
		if !isMode(parts[2]) {
			return container.DeviceMapping{}, fmt.Errorf("invalid argument %q for \"--device\" flag: bad mode specified: %s", spec, parts[2])
		}
		perms = parts[2]
		dst = parts[1]
	case 2:
		if isMode(parts[1]) {
			perms = parts[1]
		} else {
			dst = parts[1]
		}
	case 1:
	default:
		return container.DeviceMapping{}, fmt.Errorf("invalid argument %q for \"--device\" flag: invalid device specification: %s", spec, spec)
	}
	src = parts[0]
	if dst == "" {
		dst = src
	}
	return container.DeviceMapping{PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms}, nil
}

// updateConfig is update's request from the resource flags and --restart.
func (o *runOpts) updateConfig(fs *pflag.FlagSet) (container.UpdateConfig, error) {
	var u container.UpdateConfig
	if err := o.resources(fs, &u.Resources); err != nil {
		return u, err
	}
	u.MemorySwappiness = nil
	if fs.Changed("restart") {
		p, err := parseRestart(o.restart)
		if err != nil {
			return u, err
		}
		u.RestartPolicy = p
	}
	return u, nil
}
