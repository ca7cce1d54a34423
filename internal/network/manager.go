// Package network is Berth's bridge networking: networks (the default
// "bridge", the predefined "host" and "none", and user-defined bridge
// networks), the endpoints containers have on them, published ports and
// the embedded DNS of user-defined networks.
//
// Design:
//   - A container's network namespace is made before the runtime starts: a
//     fresh netns bind-mounted at <exec-root>/netns/<container-id>, with a
//     veth pair per network (host end on the bridge, "eth<N>" inside), its
//     address, and a default route via the first network's gateway. The
//     daemon hands that path to the OCI spec as the namespace to join.
//     Releasing deletes the veths, frees the addresses and port rules, and
//     unmounts and removes the netns file.
//   - The default network's bridge name and table name derive from the data
//     root ("berth0" and "berth" for /var/lib/berth, else "br-<hash8>" and
//     "berth-<hash8>") so daemons side by side do not collide. Its subnet is
//     --bip or the first candidate overlapping no host route and no other
//     network. Address pools are persisted with the network (one JSON file
//     per network, written atomically).
//   - One nftables table per daemon holds all packet rules (see package nft);
//     it is recreated at start and deleted on a clean shutdown.
//   - Where another ruleset (Docker's FORWARD policy DROP) would drop our
//     bridges' forwarded traffic, package hostfw accepts it in the
//     iptables FORWARD path, per bridge, while the bridge exists; where
//     firewalld runs, package firewalld binds each bridge to firewalld's
//     zone "berth" (target ACCEPT) for as long.
//   - Endpoints, with names and aliases, live here: the embedded DNS server
//     of each user-defined network answers from them directly.
//
// On disk: <data-root>/network/networks/<id>.json and
// <data-root>/network/containers/<container-id>.json (the container's
// requested networks and, while it runs, its sandbox).
package network

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/dns"
	"github.com/berth-project/berth/internal/network/firewalld"
	"github.com/berth-project/berth/internal/network/hostfw"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/nft"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/berth-project/berth/internal/network/portproxy"
)

// Config configures a Manager.
type Config struct {
	DataRoot string
	ExecRoot string
	// BIP is the default bridge's gateway address with prefix length
	// (dockerd's --bip), e.g. "172.20.0.1/16". Empty: choose a free subnet.
	BIP string
	// ResolvConf is the host resolver configuration read for DNS
	// forwarding; default /etc/resolv.conf.
	ResolvConf string
	// NoDefaultBridge is dockerd's --bridge none: there is no "bridge"
	// network, and containers in the default mode get a namespace with
	// loopback only.
	NoDefaultBridge bool
	Logger          *slog.Logger
}

// Manager owns networks, endpoints, port mappings, the nft table and the
// DNS servers. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	table  *nft.Table
	table6 *nft.Table        // the forward rules of IPv6 networks (same name, family ip6)
	fw     *hostfw.Firewall  // accepts our bridges in iptables' FORWARD path
	fwd    *firewalld.Binder // binds our bridges to firewalld's zone; nil without firewalld
	ports  *portmap.Allocator
	// proxies serve the IPv6 host addresses of published ports, by
	// container ID (see package portproxy).
	proxies map[string][]*portproxy.Proxy
	// v6 is whether the host can listen on IPv6 (asked once at start, as
	// dockerd does): without it a port is published on 0.0.0.0 alone.
	v6       bool
	bridge0  string
	mu       sync.Mutex
	networks map[string]*Network   // by ID
	ctrs     map[string]*Container // by container ID
	dns      map[string]*dns.Server
	closed   bool           // after Close: no new sandboxes (a restart racing shutdown)
	reaping  sync.WaitGroup // background deletions of released veths
}

// DefaultNames derives the default bridge's and the nft table's names from
// the data root.
func DefaultNames(dataRoot string) (bridgeName, tableName string) {
	if filepath.Clean(dataRoot) == "/var/lib/berth" {
		return "berth0", "berth"
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dataRoot)))
	h := hex.EncodeToString(sum[:4])
	return "br-" + h, "berth-" + h
}

// New loads the networks, (re)creates the nft table and the bridges, makes
// the predefined networks, and restores the sandboxes of containers whose
// namespace survived (live restore); stale ones are released.
func New(ctx context.Context, cfg Config) (_ *Manager, retErr error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	br, tbl := DefaultNames(cfg.DataRoot)
	m := &Manager{
		cfg: cfg, log: cfg.Logger, table: &nft.Table{Name: tbl}, table6: &nft.Table{Name: tbl, IPv6: true}, fw: hostfw.New(hostfw.ChainName(tbl)), ports: portmap.NewAllocator(), bridge0: br,
		proxies: map[string][]*portproxy.Proxy{}, v6: portmap.V6Listenable(),
		networks: map[string]*Network{}, ctrs: map[string]*Container{}, dns: map[string]*dns.Server{},
	}
	for _, d := range []string{m.netDir(), m.ctrDir(), m.nsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := m.table.Create(); err != nil {
		return nil, err
	}
	if err := m.table6.Create(); err != nil {
		return nil, err
	}
	// A crashed daemon's iptables chain goes before the bridges come back.
	if err := m.fw.Start(ctx); err != nil {
		m.log.Warn("iptables: cannot remove the rules of an earlier daemon", "chain", m.fw.Chain(), "err", err)
	}
	// Asked once: without firewalld no connection is kept and network
	// changes make no D-Bus call.
	fwd, err := firewalld.Open(ctx, m.log)
	if err != nil {
		m.log.Warn("firewalld: cannot talk to it; its zones may reject the bridges' traffic", "err", err)
	}
	m.fwd = fwd
	defer func() {
		if retErr != nil {
			m.fwd.Detach()
		}
	}()
	if err := m.load(); err != nil {
		return nil, err
	}
	if err := m.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range m.networks {
		if err := m.activate(ctx, n); err != nil {
			return nil, err
		}
	}
	m.restoreContainers(ctx)
	return m, nil
}

func (m *Manager) netDir() string { return filepath.Join(m.cfg.DataRoot, "network", "networks") }
func (m *Manager) ctrDir() string { return filepath.Join(m.cfg.DataRoot, "network", "containers") }
func (m *Manager) nsDir() string  { return filepath.Join(m.cfg.ExecRoot, "netns") }

// NetNSPath is where a container's namespace is bind-mounted.
func (m *Manager) NetNSPath(containerID string) string { return filepath.Join(m.nsDir(), containerID) }

func (m *Manager) load() error {
	entries, err := os.ReadDir(m.netDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		var n Network
		if err := readJSON(filepath.Join(m.netDir(), e.Name()), &n); err != nil {
			m.log.Warn("skip network record", "file", e.Name(), "err", err)
			continue
		}
		m.networks[n.ID] = &n
	}
	entries, err = os.ReadDir(m.ctrDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		var c Container
		if err := readJSON(filepath.Join(m.ctrDir(), e.Name()), &c); err != nil {
			m.log.Warn("skip container network record", "file", e.Name(), "err", err)
			continue
		}
		m.ctrs[c.ID] = &c
	}
	return nil
}

// ensurePredefined makes "bridge", "host" and "none" when missing. The
// default bridge's subnet follows --bip when it changed.
func (m *Manager) ensurePredefined() error {
	for _, drv := range []string{"host", "null"} {
		name := map[string]string{"host": "host", "null": "none"}[drv]
		if m.byName(name) == nil {
			n := &Network{ID: newID(), Name: name, Driver: drv, Created: time.Now(), Predefined: true}
			if err := m.saveNetwork(n); err != nil {
				return err
			}
			m.networks[n.ID] = n
		}
	}
	n := m.byName("bridge")
	if m.cfg.NoDefaultBridge {
		if n != nil {
			// Made by an earlier run with a default bridge: gone, as with dockerd.
			n.Bridge = m.bridge0
			return m.removeLocked(n)
		}
		return nil
	}
	var bip netip.Prefix
	if m.cfg.BIP != "" {
		var err error
		if bip, err = netip.ParsePrefix(m.cfg.BIP); err != nil || !bip.Addr().Is4() {
			return fmt.Errorf("invalid --bip %q: must be an IPv4 address with prefix length", m.cfg.BIP)
		}
	}
	if n != nil && (!bip.IsValid() || (n.Pool.Subnet == bip.Masked() && n.Pool.Gateway == bip.Addr())) {
		n.Bridge = m.bridge0
		return nil
	}
	var pool *ipam.Pool
	var err error
	if bip.IsValid() {
		pool, err = ipam.NewPool(bip.Masked(), bip.Addr(), netip.Prefix{})
	} else {
		pool, err = m.autoPool("")
	}
	if err != nil {
		return err
	}
	if n == nil {
		n = &Network{ID: newID(), Name: "bridge", Driver: "bridge", Created: time.Now(), Predefined: true, Default: true}
	}
	n.Pool, n.Bridge = pool, m.bridge0
	n.Options = map[string]string{
		"com.docker.network.bridge.default_bridge":       "true",
		"com.docker.network.bridge.enable_icc":           "true",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
		"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
		"com.docker.network.bridge.name":                 m.bridge0,
		"com.docker.network.driver.mtu":                  "1500",
	}
	m.networks[n.ID] = n
	return m.saveNetwork(n)
}

// HasDefaultBridge reports whether the "bridge" network exists (not with
// --bridge none).
func (m *Manager) HasDefaultBridge() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byName("bridge") != nil
}

// autoPool picks a subnet that overlaps no host route and no other network.
func (m *Manager) autoPool(exceptID string) (*ipam.Pool, error) {
	used, err := bridge.HostRoutes()
	if err != nil {
		return nil, err
	}
	for _, n := range m.networks {
		if n.Pool != nil && n.ID != exceptID {
			used = append(used, n.Pool.Subnet)
		}
	}
	subnet, err := ipam.Choose(ipam.Candidates(), used)
	if err != nil {
		return nil, err
	}
	return ipam.NewPool(subnet, netip.Addr{}, netip.Prefix{})
}

// activate makes a network's bridge, rules and DNS server.
func (m *Manager) activate(ctx context.Context, n *Network) error {
	if n.Driver != "bridge" {
		return nil
	}
	opts, err := parseBridgeOptions(n.Options)
	if err != nil {
		return err
	}
	if err := bridge.Ensure(n.Bridge, netip.PrefixFrom(n.Pool.Gateway, n.Pool.Subnet.Bits()), opts.MTU); err != nil {
		return err
	}
	if n.Pool6 != nil {
		if err := bridge.EnsureIPv6(n.Bridge, netip.PrefixFrom(n.Pool6.Gateway, n.Pool6.Subnet.Bits())); err != nil {
			return err
		}
	}
	policy := nft.Policy{Internal: n.Internal, NoICC: !opts.ICC, NoMasquerade: !opts.Masquerade}
	if err := m.table.Add(nft.NetworkRules("net:"+n.ID, n.Bridge, n.Pool.Subnet, policy)...); err != nil {
		return err
	}
	if n.Pool6 != nil {
		if err := m.table6.Add(append(nft.IsolationRules("net:"+n.ID, n.Bridge, policy), nft.HairpinRules6("net:"+n.ID, n.Bridge, n.Pool6.Subnet)...)...); err != nil {
			return err
		}
	}
	// Not fatal: the rules only matter where another ruleset drops
	// forwarding, and a host whose iptables state cannot be read or written
	// must not lose its networks over it.
	if err := m.fw.Allow(ctx, n.Bridge, n.Internal); err != nil {
		m.log.Warn("iptables: cannot accept the bridge's forwarded traffic; containers may be cut off where FORWARD drops",
			"bridge", n.Bridge, "err", err)
	}
	// Internal networks too: their traffic stays on the bridge (our nft
	// table drops what would leave it) but still crosses firewalld's
	// forward and input chains.
	if err := m.fwd.Add(ctx, n.Bridge); err != nil {
		m.log.Warn("firewalld: cannot bind the bridge to its zone; containers may be cut off",
			"bridge", n.Bridge, "zone", firewalld.Zone, "err", err)
	}
	if n.Default {
		return nil
	}
	b, _ := os.ReadFile(m.cfg.ResolvConf)
	s := &dns.Server{Addr: n.Pool.Gateway, Upstreams: dns.HostUpstreams(string(b)), Log: m.log, Lookup: m.lookupFunc(n.ID),
		ClientLookup: m.linkLookupFunc(n.ID), ClientUpstreams: m.clientUpstreams}
	if err := s.Start(); err != nil {
		return err
	}
	m.dns[n.ID] = s
	return nil
}

// deactivate undoes activate.
func (m *Manager) deactivate(n *Network) error {
	if s := m.dns[n.ID]; s != nil {
		s.Close()
		delete(m.dns, n.ID)
	}
	if n.Driver != "bridge" {
		return nil
	}
	return errors.Join(m.fw.Revoke(context.Background(), n.Bridge), m.fwd.Remove(context.Background(), n.Bridge), m.table.RemoveOwner("net:"+n.ID), m.table6.RemoveOwner("net:"+n.ID), m.removeBridge(n))
}

// removeBridge deletes the network's bridge, or for a bridge that was
// there before the network only takes its gateway address(es) off again.
func (m *Manager) removeBridge(n *Network) error {
	if !n.UserBridge {
		return bridge.Delete(n.Bridge)
	}
	var errs []error
	for _, p := range []*ipam.Pool{n.Pool, n.Pool6} {
		if p != nil {
			errs = append(errs, bridge.RemoveAddr(n.Bridge, netip.PrefixFrom(p.Gateway, p.Subnet.Bits())))
		}
	}
	return errors.Join(errs...)
}

// Close stops the DNS servers. Unless keep is set (live restore) and some
// container still has its sandbox, it releases every sandbox, deletes the
// bridges and the nft table: nothing berthd made remains.
func (m *Manager) Close(ctx context.Context, keep bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for id, s := range m.dns {
		errs = append(errs, s.Close())
		delete(m.dns, id)
	}
	if keep && slices.ContainsFunc(slices.Collect(maps.Values(m.ctrs)), func(c *Container) bool { return c.Sandbox != nil }) {
		// The running containers keep their bridges, and the bridges
		// their zone. Their IPv6 proxies end with berthd, as
		// docker-proxy ends with dockerd (its parent-death signal);
		// the next start listens again.
		for id := range m.proxies {
			m.stopProxies(id)
		}
		return errors.Join(append(errs, m.fwd.Detach())...)
	}
	for _, c := range m.ctrs {
		if c.Sandbox != nil {
			errs = append(errs, m.releaseLocked(c))
		}
	}
	for _, n := range m.networks {
		if n.Driver == "bridge" {
			errs = append(errs, m.removeBridge(n))
		}
	}
	// The chain goes even when the shutdown's deadline has passed.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	errs = append(errs, m.fw.Close(fctx), m.fwd.Close(fctx), m.table.Delete(), m.table6.Delete())
	m.reaping.Wait()
	return errors.Join(errs...)
}

func (m *Manager) saveNetwork(n *Network) error {
	return writeJSON(filepath.Join(m.netDir(), n.ID+".json"), n)
}

func (m *Manager) saveContainer(c *Container) error {
	return writeJSON(filepath.Join(m.ctrDir(), c.ID+".json"), c)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
