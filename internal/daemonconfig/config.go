// Package daemonconfig reads berthd's configuration: dockerd's flags and
// daemon.json keys for the same things, with dockerd's rule that a setting
// given both as a flag and in the file is an error.
package daemonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Runtime is a daemon.json "runtimes" entry.
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Config is the merged configuration.
type Config struct {
	Hosts          []string           `json:"hosts,omitempty"`
	DataRoot       string             `json:"data-root,omitempty"`
	ExecRoot       string             `json:"exec-root,omitempty"`
	Pidfile        string             `json:"pidfile,omitempty"`
	DefaultRuntime string             `json:"default-runtime,omitempty"`
	Runtimes       map[string]Runtime `json:"runtimes,omitempty"`
	Group          string             `json:"group,omitempty"`
	LogLevel       string             `json:"log-level,omitempty"`
	Debug          bool               `json:"debug,omitempty"`
	LogDriver      string             `json:"log-driver,omitempty"`
	LogOpts        map[string]string  `json:"log-opts,omitempty"`
	LiveRestore    bool               `json:"live-restore,omitempty"`
	Bip            string             `json:"bip,omitempty"`
	Bridge         string             `json:"bridge,omitempty"`
	CgroupParent   string             `json:"cgroup-parent,omitempty"`
	// CRI front end (Kubernetes node runtime).
	CRISocket  string   `json:"cri-socket,omitempty"`
	CNIConfDir string   `json:"cni-conf-dir,omitempty"`
	CNIBinDirs []string `json:"cni-bin-dirs,omitempty"`
	TLS        bool     `json:"tls,omitempty"`
	TLSVerify  bool     `json:"tlsverify,omitempty"`
	TLSCACert  string   `json:"tlscacert,omitempty"`
	TLSCert    string   `json:"tlscert,omitempty"`
	TLSKey     string   `json:"tlskey,omitempty"`
	// TLSExplicit records that tls or tlsverify was given (flag or file),
	// so "--tls=false" can be told from not saying anything.
	TLSExplicit bool `json:"-"`
	// Registry access (see distribution.RegistryConfig).
	RegistryMirrors        []string `json:"registry-mirrors,omitempty"`
	InsecureRegistries     []string `json:"insecure-registries,omitempty"`
	MaxConcurrentDownloads int      `json:"max-concurrent-downloads,omitempty"`
	MaxConcurrentUploads   int      `json:"max-concurrent-uploads,omitempty"`
	// SwarmKubeconfig is a Kubernetes cluster `swarm init` adopts instead
	// of bringing up the daemon's own.
	SwarmKubeconfig string `json:"swarm-kubeconfig,omitempty"`
	ConfigFile      string `json:"-"`
	MonitorPath     string `json:"-"`
	// MonitorContainers is how many containers share one monitor process.
	MonitorContainers int `json:"monitor-containers,omitempty"`
}

// DefaultConfigFile is where berthd looks when --config-file is not given.
const DefaultConfigFile = "/etc/berth/daemon.json"

// Flags registers dockerd-style flags on fs, writing into c.
func Flags(fs *pflag.FlagSet, c *Config) {
	fs.StringArrayVarP(&c.Hosts, "host", "H", nil, "Daemon socket(s) to listen on (unix://PATH or tcp://ADDR)")
	fs.StringVar(&c.DataRoot, "data-root", "/var/lib/berth", "Root directory of persistent state")
	fs.StringVar(&c.ExecRoot, "exec-root", "/run/berth", "Root directory for execution state files")
	fs.StringVarP(&c.Pidfile, "pidfile", "p", "", "Path to use for the daemon PID file (default <exec-root>/berthd.pid)")
	fs.StringVar(&c.ConfigFile, "config-file", DefaultConfigFile, "Daemon configuration file")
	fs.StringVar(&c.DefaultRuntime, "default-runtime", "", "Default OCI runtime for containers (default: crun when installed, else runc)")
	fs.StringVarP(&c.Group, "group", "G", "berth", "Group for the unix socket")
	fs.StringVarP(&c.LogLevel, "log-level", "l", "info", `Logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	fs.BoolVarP(&c.Debug, "debug", "D", false, "Enable debug mode")
	fs.StringVar(&c.LogDriver, "log-driver", "json-file", "Default driver for container logs")
	fs.BoolVar(&c.LiveRestore, "live-restore", false, "Keep containers running when the daemon stops")
	fs.StringVar(&c.Bip, "bip", "", "IPv4 address/CIDR of the default bridge")
	fs.StringVarP(&c.Bridge, "bridge", "b", "", "Attach containers to a network bridge")
	fs.StringVar(&c.CgroupParent, "cgroup-parent", "", "Parent cgroup for all containers (default derived from --data-root)")
	fs.StringVar(&c.CRISocket, "cri-socket", "", `Kubernetes CRI socket (unix://PATH; default unix://<exec-root>/cri.sock; "none" disables it)`)
	fs.StringVar(&c.CNIConfDir, "cni-conf-dir", "", "Directory of the CNI network config for pods (default /etc/cni/net.d; <data-root>/cni/net.d for another data root than /var/lib/berth, so two daemons' pods do not share a network)")
	fs.StringArrayVar(&c.CNIBinDirs, "cni-bin-dir", []string{"/usr/lib/cni", "/opt/cni/bin"}, "Directory of CNI plugins (repeatable)")
	fs.BoolVar(&c.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	fs.BoolVar(&c.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	fs.StringVar(&c.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	fs.StringVar(&c.TLSCert, "tlscert", "", "Path to TLS certificate file")
	fs.StringVar(&c.TLSKey, "tlskey", "", "Path to TLS key file")
	fs.StringArrayVar(&c.RegistryMirrors, "registry-mirror", nil, "Preferred registry mirror, tried before any registry (http(s)://host[:port])")
	fs.StringArrayVar(&c.InsecureRegistries, "insecure-registry", nil, "Enable insecure registry communication (CIDR or host[:port])")
	fs.IntVar(&c.MaxConcurrentDownloads, "max-concurrent-downloads", 3, "Set the max concurrent downloads")
	fs.IntVar(&c.MaxConcurrentUploads, "max-concurrent-uploads", 5, "Set the max concurrent uploads")
	fs.StringVar(&c.SwarmKubeconfig, "swarm-kubeconfig", "", "Kubernetes cluster that swarm init adopts (default: the daemon's own)")
	fs.StringVar(&c.MonitorPath, "monitor-path", "", "Path of the berth-monitor binary (default: next to berthd)")
	fs.Lookup("monitor-path").Hidden = true
	fs.IntVar(&c.MonitorContainers, "monitor-containers", 16, "Containers one monitor process watches (1: a monitor process per container)")
}

// flagToKey maps flag names to daemon.json keys where they differ.
var flagToKey = map[string]string{"host": "hosts", "cni-bin-dir": "cni-bin-dirs",
	"registry-mirror": "registry-mirrors", "insecure-registry": "insecure-registries"}

// Load merges the config file into c. Flags the user set win, and a key
// set both ways is an error, as with dockerd.
func Load(fs *pflag.FlagSet, c *Config) error {
	explicit := fs.Changed("config-file")
	c.TLSExplicit = fs.Changed("tls") || fs.Changed("tlsverify")
	b, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return nil
		}
		return fmt.Errorf("unable to configure the daemon with file %s: %w", c.ConfigFile, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", c.ConfigFile, err)
	}
	var fileCfg Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fileCfg); err != nil {
		return fmt.Errorf("the following directives don't match any configuration option: %w", err)
	}
	var conflicts []string
	fs.Visit(func(f *pflag.Flag) {
		key := f.Name
		if k, ok := flagToKey[key]; ok {
			key = k
		}
		if _, inFile := raw[key]; inFile {
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %s, from file: %s)", key, f.Value.String(), strings.TrimSpace(string(raw[key]))))
		}
	})
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return fmt.Errorf("unable to configure the daemon with file %s: the following directives are specified both as a flag and in the configuration file: %s", c.ConfigFile, strings.Join(conflicts, ", "))
	}
	if _, ok := raw["tls"]; ok {
		c.TLSExplicit = true
	}
	if _, ok := raw["tlsverify"]; ok {
		c.TLSExplicit = true
	}
	// File values apply only where the flag was left at its default.
	for key := range raw {
		applyKey(c, &fileCfg, key)
	}
	return nil
}

func applyKey(dst, src *Config, key string) {
	switch key {
	case "hosts":
		dst.Hosts = src.Hosts
	case "data-root":
		dst.DataRoot = src.DataRoot
	case "exec-root":
		dst.ExecRoot = src.ExecRoot
	case "pidfile":
		dst.Pidfile = src.Pidfile
	case "default-runtime":
		dst.DefaultRuntime = src.DefaultRuntime
	case "runtimes":
		dst.Runtimes = src.Runtimes
	case "group":
		dst.Group = src.Group
	case "log-level":
		dst.LogLevel = src.LogLevel
	case "debug":
		dst.Debug = src.Debug
	case "log-driver":
		dst.LogDriver = src.LogDriver
	case "log-opts":
		dst.LogOpts = src.LogOpts
	case "live-restore":
		dst.LiveRestore = src.LiveRestore
	case "bip":
		dst.Bip = src.Bip
	case "bridge":
		dst.Bridge = src.Bridge
	case "cgroup-parent":
		dst.CgroupParent = src.CgroupParent
	case "cri-socket":
		dst.CRISocket = src.CRISocket
	case "cni-conf-dir":
		dst.CNIConfDir = src.CNIConfDir
	case "cni-bin-dirs":
		dst.CNIBinDirs = src.CNIBinDirs
	case "tls":
		dst.TLS = src.TLS
	case "tlsverify":
		dst.TLSVerify = src.TLSVerify
	case "tlscacert":
		dst.TLSCACert = src.TLSCACert
	case "tlscert":
		dst.TLSCert = src.TLSCert
	case "tlskey":
		dst.TLSKey = src.TLSKey
	case "registry-mirrors":
		dst.RegistryMirrors = src.RegistryMirrors
	case "insecure-registries":
		dst.InsecureRegistries = src.InsecureRegistries
	case "max-concurrent-downloads":
		dst.MaxConcurrentDownloads = src.MaxConcurrentDownloads
	case "max-concurrent-uploads":
		dst.MaxConcurrentUploads = src.MaxConcurrentUploads
	case "swarm-kubeconfig":
		dst.SwarmKubeconfig = src.SwarmKubeconfig
	}
}
