// Package cluster runs a single-node Kubernetes of upstream components for
// one berthd: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// a kubelet whose container runtime is the daemon's CRI socket, kube-proxy
// (nftables) and CoreDNS. It makes the PKI and kubeconfigs, supervises the
// processes by PID, waits for readiness, and undoes every change it made to
// the host on Down.
//
// On disk, under <data-root>/cluster:
//
//	state.json          what runs (PIDs with start times) and what was added to the host
//	pki/                CA, serving and client certificates, service-account keys
//	kubeconfig/         one kubeconfig per client (admin.kubeconfig is the user's)
//	kubelet-config.json, kube-proxy-config.json, Corefile
//	etcd/ kubelet/ pod-logs/ cni/ipam/   data of etcd, the kubelet's root dir, pod logs, IPAM
//	logs/<component>.log
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/google/nftables"
)

// Config is what the daemon tells the cluster about itself.
type Config struct {
	DataRoot string
	// RuntimeEndpoint is the daemon's CRI socket (unix:///...), the kubelet's runtime.
	RuntimeEndpoint string
	// CNIConfDir is where the runtime reads CNI network configs when the
	// runtime does not say (CRI Status info); `up` writes a bridge config
	// there when it holds none.
	CNIConfDir string
	// CNIBinDir holds the CNI plugins (Debian: /usr/lib/cni).
	CNIBinDir string
	// KubeCache is the binaries' cache root ("" is kube-build.sh's default).
	KubeCache string
	// PauseBinary is berth-pause, packed into PauseImage.
	PauseBinary string
	// LoadImage loads a docker-archive tar into the runtime's image store.
	LoadImage func(ctx context.Context, tar io.Reader) error
	Logger    *slog.Logger
}

// UpOptions are per-call choices of `cluster up`.
type UpOptions = engine.ClusterUpOptions

// State is state.json.
type State struct {
	Phase           string            `json:"phase"` // starting, running
	RuntimeEndpoint string            `json:"runtimeEndpoint"`
	BinDir          string            `json:"binDir"`
	Subnets         Subnets           `json:"subnets"`
	Ports           Ports             `json:"ports"`
	NodeName        string            `json:"nodeName"`
	Procs           []Proc            `json:"procs,omitempty"`
	Sysctls         map[string]string `json:"sysctls,omitempty"`
	CgroupDirs      []string          `json:"cgroupDirs,omitempty"`
	Bridge          string            `json:"bridge,omitempty"`
	ForwardRules    string            `json:"forwardRules,omitempty"` // the rules' comment
	MasqRule        string            `json:"masqRule,omitempty"`     // the pod network's masquerade rule's comment
	CNIConfDir      string            `json:"cniConfDir"`
	CNIConfig       string            `json:"cniConfig,omitempty"` // written by us
	KubeProxy       bool              `json:"kubeProxy,omitempty"`
	Started         time.Time         `json:"started"`
	// Role is RoleNode on a daemon that joined another's cluster; such a
	// node keeps the apiserver's URL, its bootstrap token (the node's
	// credential for status and leave) and the cluster's DNS server.
	Role   string `json:"role,omitempty"`
	Server string `json:"server,omitempty"`
	Token  string `json:"token,omitempty"`
	DNS    string `json:"dns,omitempty"`
}

// APIServer is the apiserver's URL.
func (s *State) APIServer() string {
	if s.Server != "" {
		return s.Server
	}
	return fmt.Sprintf("https://127.0.0.1:%d", s.Ports.APIServer)
}

// Status is what `cluster status` reports.
type Status = engine.ClusterStatus

// ComponentStatus is one process.
type ComponentStatus = engine.ClusterComponent

// Manager owns one daemon's cluster.
type Manager struct {
	cfg    Config
	id     Identity
	layout layout
	log    *slog.Logger
	mu     sync.Mutex
}

// New makes the manager; it starts nothing.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = "/etc/cni/net.d"
	}
	return &Manager{cfg: cfg, id: IdentityFor(cfg.DataRoot), layout: layout{dir: filepath.Join(cfg.DataRoot, "cluster")}, log: cfg.Logger}
}

// Identity returns the names and ports derived for this daemon.
func (m *Manager) Identity() Identity { return m.id }

func (m *Manager) load() (*State, error) {
	b, err := os.ReadFile(m.layout.state())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", m.layout.state(), err)
	}
	return &st, nil
}

func (m *Manager) save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.layout.state(), b, 0o600)
}

// Up brings the cluster up and returns when the node is Ready. progress
// gets one line per step. A cluster already running is left as it is. On
// failure everything `up` did is undone (the logs stay for reading).
func (m *Manager) Up(ctx context.Context, opts UpOptions, progress func(string)) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if progress == nil {
		progress = func(string) {}
	}
	prev, err := m.load()
	if err != nil {
		return err
	}
	if opts.Join != nil {
		return m.join(ctx, prev, opts, progress)
	}
	if prev != nil && prev.Role == RoleNode {
		return errdefs.Conflictf("this daemon is a node of the cluster at %s (swarm join): leave that swarm first", prev.APIServer())
	}
	if prev != nil {
		if prev.Phase == "running" && m.allAlive(prev) {
			progress(fmt.Sprintf("cluster already running: node %s, API %s", prev.NodeName, prev.APIServer()))
			return nil
		}
		// A partial or dead cluster: clear it and start over.
		progress("clearing the remains of an earlier cluster")
		if err := m.teardown(ctx, prev, true); err != nil {
			return fmt.Errorf("clear the earlier cluster: %w", err)
		}
	}
	endpoint := opts.RuntimeEndpoint
	if endpoint == "" {
		endpoint = m.cfg.RuntimeEndpoint
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "unix://" + endpoint
	}
	t0 := time.Now()
	var binDir string
	if opts.NoBuild {
		// Missing binaries are the first thing to say: nothing else can
		// be fixed before them.
		if binDir, err = ensureBinaries(ctx, m.cfg.KubeCache, false, progress); err != nil {
			return err
		}
	}
	if err := m.preflight(m.id); err != nil {
		return err
	}
	if err := checkRuntime(ctx, endpoint); err != nil {
		return fmt.Errorf("the container runtime does not answer on %s (%v): start berthd with its CRI server (--cri-socket), or give another CRI endpoint", endpoint, err)
	}
	confDir := runtimeCNIConfDir(ctx, endpoint)
	if confDir == "" {
		confDir = m.cfg.CNIConfDir
	}
	if binDir == "" {
		if binDir, err = ensureBinaries(ctx, m.cfg.KubeCache, true, progress); err != nil {
			return err
		}
	}
	sn, err := m.id.pickSubnets()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.layout.dir, 0o700); err != nil {
		return err
	}
	// Logs of an earlier failure go now; this run's stay until down.
	os.RemoveAll(m.layout.path("logs"))
	st := &State{Phase: "starting", RuntimeEndpoint: endpoint, CNIConfDir: confDir, BinDir: binDir, Subnets: sn, Ports: m.id.Ports,
		NodeName: m.id.NodeName, Sysctls: readSysctls(), Started: time.Now()}
	if err := m.save(st); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			progress("start-up failed: undoing it")
			if terr := m.teardown(context.WithoutCancel(ctx), st, false); terr != nil {
				err = fmt.Errorf("%w\n(and undoing it: %v)", err, terr)
			}
		}
	}()
	if err := m.writeConfigs(st); err != nil {
		return err
	}
	if err := m.prepareHost(ctx, st, progress); err != nil {
		return err
	}
	for _, group := range m.components(st) {
		if err := m.startGroup(ctx, st, group, progress); err != nil {
			return err
		}
		if group[0].name == "kube-apiserver" {
			// The controller manager, CoreDNS and joining nodes need these.
			if err := m.applyRBAC(ctx, st); err != nil {
				return err
			}
		}
	}
	progress("waiting for node " + st.NodeName + " to be Ready")
	kubelet := st.proc("kubelet")
	if err := waitFor(ctx, kubelet, m.layout.logFile("kubelet"), 120*time.Second, func(ctx context.Context) error { return m.nodeReady(ctx, st) }); err != nil {
		return err
	}
	if err := m.labelControlPlane(ctx, st); err != nil {
		return err
	}
	if err := m.publishClusterInfo(ctx, st); err != nil {
		return err
	}
	st.Phase = "running"
	if err := m.save(st); err != nil {
		return err
	}
	progress(fmt.Sprintf("node %s Ready after %.1f s; API %s", st.NodeName, time.Since(t0).Seconds(), st.APIServer()))
	return nil
}

func (st *State) proc(name string) Proc {
	for _, p := range st.Procs {
		if p.Name == name {
			return p
		}
	}
	return Proc{Name: name}
}

func (m *Manager) allAlive(st *State) bool {
	if len(st.Procs) == 0 {
		return false
	}
	for _, p := range st.Procs {
		if !p.Alive() {
			return false
		}
	}
	return true
}

// prepareHost makes the host changes a cluster needs, recording each in the
// state before it is made, so Down undoes exactly what was done.
func (m *Manager) prepareHost(ctx context.Context, st *State, progress func(string)) error {
	st.CgroupDirs = []string{m.id.CgroupRoot}
	if err := m.save(st); err != nil {
		return err
	}
	if _, err := makeCgroupRoot(m.id.CgroupRoot); err != nil {
		return err
	}
	// The bridge exists before the first pod because CoreDNS listens on its
	// address; the CNI bridge plugin adopts it.
	st.Bridge = m.id.Bridge
	if err := m.save(st); err != nil {
		return err
	}
	if err := bridge.Ensure(m.id.Bridge, netip.PrefixFrom(st.Subnets.Gateway(), st.Subnets.Pods.Bits()), 0); err != nil {
		return err
	}
	st.ForwardRules = "berth-cluster-" + m.id.Bridge
	if err := m.save(st); err != nil {
		return err
	}
	if err := addForwardRules(m.id.Bridge, st.ForwardRules); err != nil {
		return err
	}
	if !hasCNIConfig(st.CNIConfDir) {
		// Our network masquerades with one rule for the pod subnet, made
		// here once, instead of the bridge plugin's ipMasq: that runs about
		// 8 iptables commands per pod start and again per stop, each
		// reading the whole nat table, and pods starting together queue
		// on the xtables lock for them.
		st.MasqRule = st.ForwardRules
		if err := m.save(st); err != nil {
			return err
		}
		if err := addMasqRule(st.Subnets.Pods.String(), st.MasqRule); err != nil {
			return err
		}
	}
	if conf, err := m.writeCNIConfig(st); err != nil {
		return err
	} else if conf != "" {
		progress("wrote CNI network config " + conf)
	}
	if m.cfg.LoadImage != nil || m.cfg.PauseBinary != "" {
		tarball, err := pauseArchive(m.cfg.PauseBinary)
		if err != nil {
			return err
		}
		os.WriteFile(m.layout.path("pause-image.tar"), tarball, 0o600)
		if m.cfg.LoadImage != nil {
			if err := m.cfg.LoadImage(ctx, strings.NewReader(string(tarball))); err != nil {
				return fmt.Errorf("load the pause image: %w", err)
			}
			progress("loaded the pause image " + PauseImage)
		}
	}
	return nil
}

// hasCNIConfig reports whether dir holds a network config file.
func hasCNIConfig(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".conf", ".conflist", ".json":
			return true
		}
	}
	return false
}

// writeCNIConfig writes a bridge network for the runtime when its config
// directory holds no network yet, and returns the file it wrote.
func (m *Manager) writeCNIConfig(st *State) (string, error) {
	if hasCNIConfig(st.CNIConfDir) {
		return "", nil
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       m.id.NetworkName,
		"plugins": []any{
			map[string]any{"type": "bridge", "bridge": m.id.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": st.Subnets.Pods.String()}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}}, "dataDir": m.layout.ipamDir()}},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(st.CNIConfDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(st.CNIConfDir, "10-"+m.id.NetworkName+".conflist")
	st.CNIConfig = path
	if err := m.save(st); err != nil {
		return "", err
	}
	return path, atomicfile.Write(path, b, 0o644)
}

// startGroup starts a group's processes, records their PIDs, then waits
// until each is ready.
func (m *Manager) startGroup(ctx context.Context, st *State, group []component, progress func(string)) error {
	var names []string
	for _, c := range group {
		if c.name == "kube-proxy" {
			st.KubeProxy = true
		}
		p, err := spawn(c.name, c.bin, c.args, m.layout.logFile(c.name))
		if err != nil {
			return err
		}
		st.Procs = append(st.Procs, p)
		names = append(names, c.name)
	}
	if err := m.save(st); err != nil {
		return err
	}
	progress("started " + strings.Join(names, ", "))
	errs := make([]error, len(group))
	var wg sync.WaitGroup
	for i, c := range group {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitFor(ctx, st.proc(c.name), m.layout.logFile(c.name), c.timeout, c.ready)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Down stops every process of the cluster and undoes its changes to the
// host, then removes its state. A cluster that is not there is fine.
func (m *Manager) Down(ctx context.Context, progress func(string)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if progress == nil {
		progress = func(string) {}
	}
	st, err := m.load()
	if err != nil {
		return err
	}
	if st == nil {
		progress("no cluster")
		return nil
	}
	t0 := time.Now()
	if err := m.teardown(ctx, st, true); err != nil {
		return err
	}
	progress(fmt.Sprintf("cluster removed in %.1f s", time.Since(t0).Seconds()))
	return nil
}

// teardown undoes st. withLogs also removes the logs (Down does; a failed
// Up keeps them for reading).
func (m *Manager) teardown(ctx context.Context, st *State, withLogs bool) error {
	var errs []error
	// The kubelet goes first so it recreates nothing; then the runtime
	// removes the pods (their networks through CNI, their mounts).
	st.proc("kubelet").stop(15 * time.Second)
	if st.RuntimeEndpoint != "" && st.proc("kubelet").PID != 0 {
		// A runtime that is gone took its pods with it; nothing to undo here.
		if err := removeSandboxes(ctx, st.RuntimeEndpoint); err != nil {
			m.log.Warn("cluster down: could not remove the pods through the runtime", "endpoint", st.RuntimeEndpoint, "err", err)
		}
	}
	for _, name := range []string{"kube-proxy", "coredns", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		st.proc(name).stop(15 * time.Second)
	}
	for _, p := range st.Procs {
		p.stop(5 * time.Second) // anything else recorded
	}
	for _, mp := range mountsUnder(m.layout.dir) {
		if err := unmount(mp); err != nil {
			errs = append(errs, err)
		}
	}
	if st.KubeProxy {
		for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
			if err := deleteNftTable(fam, "kube-proxy"); err != nil {
				errs = append(errs, fmt.Errorf("delete nft table kube-proxy: %w", err))
			}
		}
	}
	if st.ForwardRules != "" {
		if err := removeForwardRules(st.Bridge, st.ForwardRules); err != nil {
			errs = append(errs, err)
		}
	}
	if st.MasqRule != "" {
		if err := removeMasqRule(st.Subnets.Pods.String(), st.MasqRule); err != nil {
			errs = append(errs, err)
		}
	}
	if st.Bridge != "" {
		if err := bridge.Delete(st.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if st.CNIConfig != "" {
		if err := os.Remove(st.CNIConfig); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if hier, err := cgroupHierarchies(); err == nil {
		for _, root := range st.CgroupDirs {
			for _, h := range hier {
				if err := removeCgroupTree(filepath.Join(h, root)); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	removeLogLinks(m.layout.podLogs())
	if err := restoreSysctls(st.Sysctls); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// Keep the state so another down can finish the job.
		return fmt.Errorf("cluster teardown incomplete: %w", errors.Join(errs...))
	}
	if withLogs {
		return os.RemoveAll(m.layout.dir)
	}
	entries, _ := os.ReadDir(m.layout.dir)
	for _, e := range entries {
		if e.Name() != "logs" {
			os.RemoveAll(m.layout.path(e.Name()))
		}
	}
	return nil
}

// Status reports the cluster and its processes.
func (m *Manager) Status(ctx context.Context) (*Status, error) {
	st, err := m.load()
	if err != nil || st == nil {
		return &Status{State: "down"}, err
	}
	out := &Status{State: st.Phase, Node: st.NodeName, APIServer: st.APIServer(), Kubeconfig: m.layout.AdminKubeconfig(),
		RuntimeEndpoint: st.RuntimeEndpoint, BinDir: st.BinDir, PodSubnet: st.Subnets.Pods.String(),
		ServiceSubnet: st.Subnets.Services.String(), DNS: st.Subnets.Gateway().String(), Bridge: st.Bridge, CgroupRoot: m.id.CgroupRoot}
	if st.Role == RoleNode {
		// A node of another daemon's cluster: no admin kubeconfig, no
		// service range or DNS server of its own.
		out.Kubeconfig, out.ServiceSubnet, out.DNS = "", "", st.DNS
		out.NodeCertificate = m.NodeCertificate()
	}
	for _, p := range st.Procs {
		alive := p.Alive()
		if !alive && out.State == "running" {
			out.State = "degraded"
		}
		out.Components = append(out.Components, ComponentStatus{Name: p.Name, PID: p.PID, Running: alive, Log: m.layout.logFile(p.Name)})
	}
	if out.State == "running" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := m.nodeReady(cctx, st); err != nil {
			out.State = "degraded"
		}
	}
	return out, nil
}

// Kubeconfig returns the admin kubeconfig (certificates inline).
func (m *Manager) Kubeconfig() ([]byte, error) {
	st, err := m.load()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNotRunning
	}
	return os.ReadFile(m.layout.AdminKubeconfig())
}

// ErrNotRunning is returned for a cluster that was never brought up.
var ErrNotRunning = errors.New("no cluster: run `berth cluster up` first")
