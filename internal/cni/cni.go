// Package cni attaches pod network namespaces to the first network
// configured in a CNI config directory (as containerd and CRI-O do), with
// the plugins of a CNI bin directory, through libcni.
//
// The config is read again on every call, so a config written after the
// daemon started (berth cluster up, a network add-on) is picked up without
// a restart; Ready reports whether one is present.
package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Defaults as in containerd's CRI plugin; Debian's containernetworking-plugins
// install into /usr/lib/cni.
const (
	DefaultConfDir = "/etc/cni/net.d"
	DefaultBinDir  = "/usr/lib/cni"
	IfName         = "eth0"
)

// Manager runs CNI ADD/DEL for pods.
type Manager struct {
	confDir string
	cni     *libcni.CNIConfig
}

// New returns a Manager for confDir and binDirs; cacheDir holds libcni's
// results (needed by DEL after a daemon restart).
func New(confDir string, binDirs []string, cacheDir string) *Manager {
	if confDir == "" {
		confDir = DefaultConfDir
	}
	if len(binDirs) == 0 {
		binDirs = []string{DefaultBinDir}
	}
	return &Manager{confDir: confDir, cni: libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, nil)}
}

// ErrNoConfig is returned while the config dir holds no network.
var ErrNoConfig = errors.New("cni config uninitialized")

// load returns the first network config in lexical order of the file names.
func (m *Manager) load() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(m.confDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoConfig, err)
	}
	sort.Strings(files)
	for _, f := range files {
		var list *libcni.NetworkConfigList
		if len(f) > 9 && f[len(f)-9:] == ".conflist" {
			list, err = libcni.ConfListFromFile(f)
		} else {
			var conf *libcni.PluginConfig
			if conf, err = libcni.ConfFromFile(f); err == nil {
				list, err = libcni.ConfListFromConf(conf)
			}
		}
		if err == nil && len(list.Plugins) > 0 {
			return list, nil
		}
	}
	return nil, fmt.Errorf("%w: no network config found in %s", ErrNoConfig, m.confDir)
}

// Ready reports nil when a network config is present.
func (m *Manager) Ready() error {
	_, err := m.load()
	return err
}

// PortMapping is one host port, in the portmap plugin's capability format.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Pod identifies one pod's attachment.
type Pod struct {
	ID        string // sandbox id (CNI's container id)
	NetNS     string // path of the pinned network namespace
	Name      string
	Namespace string
	UID       string
	Ports     []PortMapping
}

func (m *Manager) runtimeConf(p *Pod) *libcni.RuntimeConf {
	rc := &libcni.RuntimeConf{
		ContainerID: p.ID,
		NetNS:       p.NetNS,
		IfName:      IfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", p.Namespace},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ID},
			{"K8S_POD_UID", p.UID},
		},
		CapabilityArgs: map[string]any{},
	}
	if len(p.Ports) > 0 {
		rc.CapabilityArgs["portMappings"] = p.Ports
	}
	return rc
}

// forPod is list without the portmap plugins when the pod maps no host
// port: portmap then only hands its previous result on (ADD) or does
// nothing (DEL, CHECK), and running it costs a process per call.
func forPod(list *libcni.NetworkConfigList, p *Pod) *libcni.NetworkConfigList {
	if len(p.Ports) > 0 {
		return list
	}
	var keep []*libcni.PluginConfig
	for _, pl := range list.Plugins {
		if pl.Network == nil || pl.Network.Type != "portmap" {
			keep = append(keep, pl)
		}
	}
	if len(keep) == len(list.Plugins) || len(keep) == 0 {
		return list
	}
	short := *list
	short.Plugins = keep
	return &short
}

// Setup runs ADD and returns the pod's IPs (IPv4 first).
func (m *Manager) Setup(ctx context.Context, p *Pod) ([]net.IP, error) {
	list, err := m.load()
	if err != nil {
		return nil, err
	}
	list = forPod(list, p)
	res, err := m.cni.AddNetworkList(ctx, list, m.runtimeConf(p))
	if err != nil {
		// ADD may have done part of its work (a veth, an IP) before a
		// later plugin failed: undo every plugin's part.
		m.delEach(context.WithoutCancel(ctx), list, m.runtimeConf(p))
		return nil, fmt.Errorf("cni add %s: %w", list.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		m.delEach(context.WithoutCancel(ctx), list, m.runtimeConf(p))
		return nil, fmt.Errorf("cni result: %w", err)
	}
	var v4, v6 []net.IP
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP)
		} else {
			v6 = append(v6, ip.Address.IP)
		}
	}
	return append(v4, v6...), nil
}

// Teardown runs DEL. It is idempotent, as CNI requires of plugins.
func (m *Manager) Teardown(ctx context.Context, p *Pod) error {
	list, err := m.load()
	if err != nil {
		return err
	}
	list = forPod(list, p)
	if err := m.cni.DelNetworkList(ctx, list, m.runtimeConf(p)); err != nil {
		// DEL of a list stops at the first failing plugin; the others
		// must still release what they hold.
		m.delEach(ctx, list, m.runtimeConf(p))
		return fmt.Errorf("cni del %s: %w", list.Name, err)
	}
	return nil
}

// delEach runs DEL for every plugin of list on its own, last first, so one
// failing plugin does not keep the others from releasing their part.
func (m *Manager) delEach(ctx context.Context, list *libcni.NetworkConfigList, rc *libcni.RuntimeConf) error {
	var errs []error
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		one := *list
		one.Plugins = list.Plugins[i : i+1]
		if err := m.cni.DelNetworkList(ctx, &one, rc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
