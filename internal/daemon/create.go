package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
)

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ContainerCreate validates the request, merges the image config and makes
// the record and rw layer. On any error nothing is left behind.
func (d *Daemon) ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (resp container.CreateResponse, err error) {
	return d.createContainer(ctx, name, req, nil, false)
}

// ContainerCreateBuildStep implements engine.BuildStepBackend.
func (d *Daemon) ContainerCreateBuildStep(ctx context.Context, req *container.CreateRequest) (container.CreateResponse, error) {
	return d.createContainer(ctx, "", req, nil, true)
}

func (d *Daemon) createContainer(ctx context.Context, name string, req *container.CreateRequest, pod *engine.PodOptions, buildStep bool) (resp container.CreateResponse, err error) {
	if req == nil || req.Config == nil {
		return resp, errdefs.Invalidf("config cannot be empty in order to create a container")
	}
	// A start usually follows within milliseconds (docker run).
	d.cgWarm.Warm()
	if name != "" && !validName.MatchString(name) {
		return resp, errdefs.Invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if req.Config.Image == "" {
		return resp, errdefs.Invalidf("no image specified")
	}
	img, err := d.images.Resolve(ctx, req.Config.Image)
	if err != nil {
		return resp, err
	}
	cfg := mergeImageConfig(req.Config, img)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return resp, errdefs.Invalidf("no command specified")
	}
	if hc.Memory > 0 && hc.MemorySwap == 0 {
		// dockerd's default: as much swap as memory.
		hc.MemorySwap = hc.Memory * 2
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = oci.DefaultShmSize
	}
	warnings, err := d.validateHostConfig(hc)
	if err != nil {
		return resp, err
	}
	mounts, err := oci.ParseMounts(hc)
	if err != nil {
		return resp, err
	}
	if _, _, err := logs.ParseOptions(d.logOpts(hc)); err != nil {
		return resp, err
	}

	id := newID()
	if cfg.Hostname == "" && !container.NetworkMode(hc.NetworkMode).IsHost() {
		cfg.Hostname = id[:12]
	}
	if name == "" {
		name = generateName(d.containers.nameTaken)
	} else if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if err := d.containers.reserveName(name, id); err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			d.containers.releaseName(name, id)
		}
	}()

	c := &Container{
		ID:         id,
		Name:       name,
		Created:    time.Now().UTC(),
		Config:     cfg,
		HostConfig: hc,
		ImageID:    img.ID.String(),
		Mounts:     mounts,
		Runtime:    hc.Runtime,
		State:      State{Status: container.StateCreated},
		Pod:        pod,
		BuildStep:  buildStep,
	}
	if c.Runtime == "" {
		c.Runtime = d.cfg.DefaultRuntime
	}
	hc.Runtime = c.Runtime
	// Inspect shows the driver in effect, as dockerd does; clients such as
	// docker-py read it to decide whether logs can be read back.
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = d.logDriver(hc)
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
	argv := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	c.Path, c.Args = argv[0], argv[1:]
	newContainerRuntimeState(c)

	dir := d.containerDir(id)
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return resp, fmt.Errorf("create container dir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	switch {
	case pod != nil:
		c.LogPath = pod.LogPath
	case d.logDriver(hc) == "json-file":
		c.LogPath = filepath.Join(dir, id+"-json.log")
	}
	if err := d.images.CreateRW(ctx, id, img); err != nil {
		return resp, fmt.Errorf("create rw layer: %w", err)
	}
	defer func() {
		if err != nil {
			d.images.RemoveRW(context.WithoutCancel(ctx), id)
		}
	}()
	if err := d.createVolumeMounts(ctx, c); err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			d.releaseVolumes(context.WithoutCancel(ctx), c, true)
		}
	}()
	if err := d.registerLinks(c); err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			d.releaseLinkNames(c)
		}
	}()
	if err := d.registerNetworks(c, req.NetworkingConfig); err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			d.forgetNetwork(context.WithoutCancel(ctx), c)
		}
	}()
	d.crashPoint("create-after-rw")
	save := c.save
	if pod != nil {
		// No fsync for a pod's container: a machine crash ends its pod,
		// whose containers are never started again (the kubelet makes a
		// new sandbox and new containers), and a record lost with the
		// page cache leaves a rw layer that sweepOrphans removes.
		save = c.saveState
	}
	if err := save(dir); err != nil {
		return resp, err
	}
	d.containers.add(c)
	d.emit(c, events.ActionCreate, nil)
	if warnings == nil {
		warnings = []string{}
	}
	return container.CreateResponse{ID: id, Warnings: warnings}, nil
}

// mergeImageConfig applies Docker's rules for what the image supplies when
// the create request leaves it out.
func mergeImageConfig(req *container.Config, img *image.Image) *container.Config {
	cfg := *req
	ic := img.Config.Config
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	cfg.Env = mergeEnv(ic.Env, req.Env)
	switch {
	case len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "":
		// --entrypoint "" clears the image's entrypoint.
		cfg.Entrypoint = nil
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = nil
		}
	case cfg.Entrypoint == nil:
		cfg.Entrypoint = ic.Entrypoint
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = ic.Cmd
		}
	}
	if len(ic.ExposedPorts) > 0 {
		ports := network.PortSet{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				ports[port] = struct{}{}
			}
		}
		for p := range cfg.ExposedPorts {
			ports[p] = struct{}{}
		}
		cfg.ExposedPorts = ports
	}
	if len(ic.Volumes) > 0 {
		vols := map[string]struct{}{}
		for v := range ic.Volumes {
			vols[v] = struct{}{}
		}
		for v := range cfg.Volumes {
			vols[v] = struct{}{}
		}
		cfg.Volumes = vols
	}
	labels := map[string]string{}
	for k, v := range ic.Labels {
		labels[k] = v
	}
	for k, v := range req.Labels {
		labels[k] = v
	}
	cfg.Labels = labels
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	if cfg.Healthcheck == nil && ic.Healthcheck != nil {
		hc := *ic.Healthcheck
		cfg.Healthcheck = &hc
	}
	if len(cfg.Shell) == 0 {
		cfg.Shell = ic.Shell
	}
	if len(cfg.OnBuild) == 0 {
		cfg.OnBuild = ic.OnBuild
	}
	return &cfg
}

// mergeEnv returns base overridden by over, keyed on the variable name.
func mergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func (d *Daemon) validateHostConfig(hc *container.HostConfig) ([]string, error) {
	var warnings []string
	if hc.Memory != 0 && hc.Memory < 6*1024*1024 {
		return nil, errdefs.Invalidf("Minimum memory limit allowed is 6MB")
	}
	if hc.Memory > 0 && hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory {
		return nil, errdefs.Invalidf("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	ncpu := int64(goruntime.NumCPU())
	if hc.NanoCPUs < 0 || hc.NanoCPUs > ncpu*1e9 {
		return nil, errdefs.Invalidf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	}
	if hc.NanoCPUs > 0 && (hc.CPUPeriod > 0 || hc.CPUQuota > 0) {
		return nil, errdefs.Invalidf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if hc.PidsLimit != nil && *hc.PidsLimit < -1 {
		return nil, errdefs.Invalidf("invalid PIDs limit: %d", *hc.PidsLimit)
	}
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return nil, errdefs.Invalid(err)
	}
	if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
		return nil, errdefs.Invalidf("can't create 'AutoRemove' container with restart policy")
	}
	if _, err := d.runtimeFor(hc.Runtime); err != nil {
		return nil, err
	}
	switch drv := d.logDriver(hc); drv {
	case "json-file", "none":
	default:
		return nil, errdefs.Invalidf("failed to create logger: logger: no log driver named '%s' is registered", drv)
	}
	if err := d.validateNetworkMode(hc); err != nil {
		return nil, err
	}
	if err := validatePortBindings(hc.PortBindings); err != nil {
		return nil, err
	}
	if err := oci.ValidateDevices(hc); err != nil {
		return nil, err
	}
	w, err := unsupportedHostConfig(hc)
	if err != nil {
		return nil, err
	}
	return append(warnings, w...), nil
}

// validatePortBindings refuses at create what the start would refuse, in
// dockerd's words, so a bad -p leaves no container behind. Host addresses
// are checked when the body is decoded.
func validatePortBindings(ports network.PortMap) error {
	for port, bindings := range ports {
		if !port.IsValid() || port.Num() == 0 {
			return errdefs.Invalidf("invalid port specification: %q", port.String())
		}
		switch port.Proto() {
		case network.TCP, network.UDP, network.SCTP:
		default:
			return errdefs.Invalidf("invalid port specification: %q", port.String())
		}
		for _, b := range bindings {
			if b.HostPort == "" {
				continue
			}
			if _, err := network.ParsePortRange(b.HostPort); err != nil {
				return errdefs.Invalidf("invalid port specification: %q", b.HostPort)
			}
		}
	}
	return nil
}

// unsupportedHostConfig answers the HostConfig fields Berth cannot honour:
// an error where the user asked for an effect we cannot give, a warning
// (and the field cleared) where dockerd on Linux discards it too, so that
// nothing the user asks for is dropped without a word. docs/reliability.md
// lists them.
func unsupportedHostConfig(hc *container.HostConfig) ([]string, error) {
	var warnings []string
	if hc.CPUPercent > 0 {
		warnings = append(warnings, "linux does not support CPU percent. Percent discarded.")
		hc.CPUPercent = 0
	}
	if hc.CPUCount > 0 {
		warnings = append(warnings, "linux does not support CPU count. Count discarded.")
		hc.CPUCount = 0
	}
	if hc.IOMaximumBandwidth != 0 {
		return nil, errdefs.Invalidf("Invalid QoS settings: linux does not support configuration of maximum bandwidth")
	}
	if hc.IOMaximumIOps != 0 {
		return nil, errdefs.Invalidf("Invalid QoS settings: linux does not support configuration of maximum IOPs")
	}
	if !hc.Isolation.IsDefault() {
		return nil, errdefs.Invalidf("Invalid isolation: %q - linux only supports 'default'", hc.Isolation)
	}
	if len(hc.StorageOpt) > 0 {
		return nil, errdefs.Invalidf("--storage-opt is supported only for overlay over xfs with 'pquota' mount option")
	}
	for _, r := range hc.DeviceRequests {
		// No device driver (nvidia or CDI) is registered with Berth.
		return nil, errdefs.Invalidf("could not select device driver %q with capabilities: %v", r.Driver, r.Capabilities)
	}
	if hc.Cgroup != "" {
		return nil, errdefs.Invalidf("cgroup %q is not supported: Berth does not place a container in another container's cgroup", hc.Cgroup)
	}
	switch hc.UsernsMode {
	case "", "host", "private":
		// Berth never remaps users, so the private mode is the default.
	default:
		return nil, errdefs.Invalidf("invalid USER mode: %s", hc.UsernsMode)
	}
	if len(hc.BlkioWeightDevice) > 0 && !oci.BlkioFileExists("blkio.weight_device") {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		hc.BlkioWeightDevice = nil
	}
	throttle := len(hc.BlkioDeviceReadBps) + len(hc.BlkioDeviceWriteBps) + len(hc.BlkioDeviceReadIOps) + len(hc.BlkioDeviceWriteIOps)
	if throttle > 0 && !oci.BlkioFileExists("blkio.throttle.read_bps_device") {
		warnings = append(warnings, "Your kernel does not support Block I/O throttling or the cgroup is not mounted. Block I/O throttling discarded.")
		hc.BlkioDeviceReadBps, hc.BlkioDeviceWriteBps, hc.BlkioDeviceReadIOps, hc.BlkioDeviceWriteIOps = nil, nil, nil, nil
	}
	return warnings, nil
}

// validateNetworkMode: see resolveNetworkMode (networks.go).
func (d *Daemon) validateNetworkMode(hc *container.HostConfig) error {
	return d.resolveNetworkMode(hc)
}

func (d *Daemon) logDriver(hc *container.HostConfig) string {
	if hc.LogConfig.Type != "" {
		return hc.LogConfig.Type
	}
	return d.cfg.LogDriver
}

// logOpts merges daemon-wide defaults with the container's --log-opt.
func (d *Daemon) logOpts(hc *container.HostConfig) map[string]string {
	out := map[string]string{"max-size": "10m", "max-file": "3"}
	for k, v := range d.cfg.LogOpts {
		out[k] = v
	}
	for k, v := range hc.LogConfig.Config {
		out[k] = v
	}
	return out
}
