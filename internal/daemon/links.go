package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/etcfiles"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Legacy links (`docker run --link name:alias`), as dockerd keeps them on
// the default bridge: the parent holds (child, alias) pairs, the name
// "/parent/alias" is reserved for the child (so `inspect parent/alias`
// finds it and ps lists it among the child's names), and every start and
// exec of the parent gets the child's address in /etc/hosts and the
// ALIAS_PORT_*, ALIAS_NAME and ALIAS_ENV_* variables. On a user-defined
// network a link is only a DNS alias for the parent (the network manager
// answers it) and none of this applies, as in dockerd.

// link is one legacy link of a parent container.
type link struct {
	ChildID string
	// Child is the child's name when it was linked: what errors and
	// inspect show once the child is gone.
	Child string
	Alias string
}

// parseLinkSpec reads --link's "name:alias", "name" (the alias is the
// name) and the stored "/name:/parent/alias" form, like dockerd.
func parseLinkSpec(s string) (name, alias string, err error) {
	if s == "" {
		return "", "", errdefs.Invalidf("empty string specified for links")
	}
	parts := strings.Split(s, ":")
	switch {
	case len(parts) > 2:
		return "", "", errdefs.Invalidf("bad format for links: %s", s)
	case len(parts) == 1:
		return s, s, nil
	case strings.HasPrefix(parts[0], "/"):
		return parts[0][1:], parts[1][strings.LastIndex(parts[1], "/")+1:], nil
	}
	return parts[0], parts[1], nil
}

// linkName is the name a link reserves for its child.
func linkName(parent, alias string) string { return parent + "/" + alias }

// registerLinks resolves HostConfig.Links of a container being created
// and reserves the link names. Containers on a user-defined network keep
// their links as DNS aliases only. On error no name stays reserved.
func (d *Daemon) registerLinks(c *Container) (err error) {
	if len(c.HostConfig.Links) == 0 || container.NetworkMode(c.HostConfig.NetworkMode).IsUserDefined() {
		return nil
	}
	defer func() {
		if err != nil {
			d.releaseLinkNames(c)
			c.Links = nil
		}
	}()
	for _, spec := range c.HostConfig.Links {
		name, alias, err := parseLinkSpec(spec)
		if err != nil {
			return err
		}
		child, err := d.containers.get(name)
		if err != nil {
			// A missing child is the request's fault: dockerd answers 400
			// so that clients do not report a missing image.
			return errdefs.Invalid(fmt.Errorf("could not get container for %s: %v", name, err))
		}
		for nm := container.NetworkMode(child.HostConfig.NetworkMode); nm.IsContainer(); nm = container.NetworkMode(child.HostConfig.NetworkMode) {
			if child, err = d.containers.get(nm.ConnectedContainer()); err != nil {
				return errdefs.Invalid(fmt.Errorf("Could not get container for %s: %v", nm.ConnectedContainer(), err))
			}
		}
		if container.NetworkMode(child.HostConfig.NetworkMode).IsHost() {
			return errdefs.Invalidf("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
		}
		if err := d.containers.reserveName(linkName(c.Name, alias), child.ID); err != nil {
			return err
		}
		c.Links = append(c.Links, link{ChildID: child.ID, Child: child.Name, Alias: alias})
	}
	return nil
}

// releaseLinkNames frees the names c's links reserved (c removed).
func (d *Daemon) releaseLinkNames(c *Container) {
	for _, l := range c.Links {
		d.containers.releaseName(linkName(c.Name, l.Alias), l.ChildID)
	}
}

// restoreLinkNames reserves the link names of a loaded record again.
func (d *Daemon) restoreLinkNames(c *Container) {
	for _, l := range c.Links {
		if err := d.containers.reserveName(linkName(c.Name, l.Alias), l.ChildID); err != nil {
			d.log.Warn("link name taken", "container", c.ID, "link", linkName(c.Name, l.Alias), "err", err)
		}
	}
}

// renameLinks moves c's link names to its new name. c.mu is held.
func (d *Daemon) renameLinks(c *Container, oldName string) {
	for _, l := range c.Links {
		d.containers.releaseName(linkName(oldName, l.Alias), l.ChildID)
		if err := d.containers.reserveName(linkName(c.Name, l.Alias), l.ChildID); err != nil {
			d.log.Warn("link name taken after rename", "container", c.ID, "err", err)
		}
	}
}

// childName is the link's child's current name, or its last known one.
func (d *Daemon) childName(l link) string {
	if ch, ok := d.containers.byIDLookup(l.ChildID); ok {
		return ch.nameLocked()
	}
	return l.Child
}

// hostConfigLinks renders HostConfig.Links as dockerd's inspect does:
// "/child:/parent/alias" from the live link table (nil without links).
func (d *Daemon) hostConfigLinks(c *Container) []string {
	var out []string
	for _, l := range c.Links {
		out = append(out, d.childName(l)+":"+linkName(c.Name, l.Alias))
	}
	return out
}

// linkNames are the "/parent/alias" names that point at child, for ps.
func (d *Daemon) linkNames(child *Container) []string {
	return d.containers.namesOf(child.ID, child.Name)
}

// linkSetup is what a parent's links give its process and /etc/hosts.
type linkSetup struct {
	Env   []string
	Hosts []string // "names:ip" (etcfiles.WriteHosts' extra host form)
}

// links computes the parent's link environment and hosts entries from its
// running children. A parent that is not on the default bridge gets none;
// a child that is not running fails the start (and execs), as in dockerd.
func (d *Daemon) links(c *Container) (*linkSetup, error) {
	if len(c.Links) == 0 || !container.NetworkMode(c.HostConfig.NetworkMode).IsBridge() {
		return nil, nil
	}
	out := &linkSetup{}
	for _, l := range c.Links {
		env, hosts, err := d.resolveLink(c, l)
		if err != nil {
			return nil, err
		}
		out.Env = append(out.Env, env...)
		out.Hosts = append(out.Hosts, hosts...)
	}
	return out, nil
}

// resolveLink is one link's variables and hosts entries.
func (d *Daemon) resolveLink(c *Container, l link) (env, hosts []string, err error) {
	child, ok := d.containers.byIDLookup(l.ChildID)
	full := linkName(c.Name, l.Alias)
	if !ok || !child.isRunning() {
		name := l.Child
		if ok {
			name = child.nameLocked()
		}
		return nil, nil, fmt.Errorf("Cannot link to a non running container: %s AS %s", name, full)
	}
	child.mu.Lock()
	cfg, cname := child.Config, child.Name
	child.mu.Unlock()
	nets, _, _ := d.networks.Settings(child.ID, cfg.ExposedPorts)
	ep := nets[network.NetworkBridge]
	if ep == nil || !ep.IPAddress.IsValid() {
		return nil, nil, fmt.Errorf("container %s not attached to default bridge network", child.ID)
	}
	env = linkEnv(full, ep.IPAddress.String(), cfg.Env, cfg.ExposedPorts)
	// The alias, the child's hostname and its name (unless the alias is it).
	names := l.Alias + " " + cfg.Hostname
	if l.Alias != strings.TrimPrefix(cname, "/") {
		names += " " + strings.TrimPrefix(cname, "/")
	}
	hosts = append(hosts, names+":"+ep.IPAddress.String())
	if ep.GlobalIPv6Address.IsValid() {
		hosts = append(hosts, names+":"+ep.GlobalIPv6Address.String())
	}
	return env, hosts, nil
}

// rewriteLinkHosts writes a running parent's /etc/hosts again after its
// links changed, with the entries of the children that still run.
func (d *Daemon) rewriteLinkHosts(c *Container) error {
	nets, _, _ := d.networks.Settings(c.ID, nil)
	var ips []string
	if ep := nets[network.NetworkBridge]; ep != nil && ep.IPAddress.IsValid() {
		ips = append(ips, ep.IPAddress.String())
	}
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		if ep := nets[name]; name != network.NetworkBridge && ep.IPAddress.IsValid() {
			ips = append(ips, ep.IPAddress.String())
		}
	}
	hosts, err := d.resolveExtraHosts(c.HostConfig.ExtraHosts)
	if err != nil {
		return err
	}
	for _, l := range c.Links {
		if _, h, err := d.resolveLink(c, l); err == nil {
			hosts = append(hosts, h...)
		}
	}
	return etcfiles.RewriteHosts(filepath.Join(d.containerDir(c.ID), "hosts"), c.Config.Hostname, c.Config.Domainname, ips, hosts)
}

// updateParentsHosts points the link entries in the /etc/hosts of
// child's running parents at its address on the default bridge, which a
// restart may have changed, as dockerd does when a child starts: the lines
// whose first name is the link's alias get the new address, nothing else
// changes. It runs after the child's start let go of its lock, since a
// parent's start locks the parent and then its children.
func (d *Daemon) updateParentsHosts(childID, childName string) {
	nets, _, _ := d.networks.Settings(childID, nil)
	ep := nets[network.NetworkBridge]
	if ep == nil || !ep.IPAddress.IsValid() {
		return
	}
	for _, full := range d.containers.namesOf(childID, childName) {
		i := strings.LastIndex(full, "/")
		if i <= 0 {
			continue // the child's own name
		}
		parent, err := d.containers.get(full[:i])
		if err != nil {
			continue
		}
		parent.mu.Lock()
		if parent.running() && container.NetworkMode(parent.HostConfig.NetworkMode).IsBridge() {
			err = etcfiles.UpdateHost(filepath.Join(d.containerDir(parent.ID), "hosts"), ep.IPAddress.String(), full[i+1:])
		}
		parent.mu.Unlock()
		if err != nil {
			d.log.Warn("update a link parent's hosts", "parent", parent.ID, "child", childID, "err", err)
		}
	}
}

// linkEnv is the environment one link gives, in dockerd's order: the
// default port (the lowest, TCP first), ranges of three or more
// consecutive ports, every port, the link's name, and the child's own
// variables but HOME and PATH.
func linkEnv(full, ip string, childEnv []string, exposed network.PortSet) []string {
	alias := strings.ReplaceAll(strings.ToUpper(full[strings.LastIndex(full, "/")+1:]), "-", "_")
	ports := make([]network.Port, 0, len(exposed))
	for p := range exposed {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b network.Port) int {
		if c := cmp.Compare(a.Num(), b.Num()); c != 0 {
			return c
		}
		if (a.Proto() == "tcp") != (b.Proto() == "tcp") {
			if a.Proto() == "tcp" {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.Proto()), string(b.Proto()))
	})
	var env []string
	add := func(format string, args ...any) { env = append(env, fmt.Sprintf(format, args...)) }
	key := func(p network.Port) string {
		return fmt.Sprintf("%s_PORT_%d_%s", alias, p.Num(), strings.ToUpper(string(p.Proto())))
	}
	if len(ports) > 0 {
		p := ports[0]
		add("%s_PORT=%s://%s:%d", alias, p.Proto(), ip, p.Num())
	}
	for i := 0; i < len(ports); {
		p := ports[i]
		j := lastContiguous(ports, i)
		if j <= i+1 {
			i++
			continue
		}
		q := ports[j]
		add("%s_START=%s://%s:%d", key(p), p.Proto(), ip, p.Num())
		add("%s_ADDR=%s", key(p), ip)
		add("%s_PROTO=%s", key(p), p.Proto())
		add("%s_PORT_START=%d", key(p), p.Num())
		// The end keeps the start's number and the end's protocol, as dockerd writes it.
		endKey := fmt.Sprintf("%s_PORT_%d_%s", alias, p.Num(), strings.ToUpper(string(q.Proto())))
		add("%s_END=%s://%s:%d", endKey, q.Proto(), ip, q.Num())
		add("%s_PORT_END=%d", endKey, q.Num())
		i = j + 1
	}
	for _, p := range ports {
		add("%s=%s://%s:%d", key(p), p.Proto(), ip, p.Num())
		add("%s_ADDR=%s", key(p), ip)
		add("%s_PORT=%d", key(p), p.Num())
		add("%s_PROTO=%s", key(p), p.Proto())
	}
	add("%s_NAME=%s", alias, full)
	for _, kv := range childEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		add("%s_ENV_%s=%s", alias, k, v)
	}
	return env
}

// lastContiguous is the index of the last port of the run starting at i,
// counting by number only and advancing on every entry (so "53/tcp,
// 53/udp" counts as two steps), which is how dockerd groups ranges.
func lastContiguous(ports []network.Port, i int) int {
	next := int(ports[i].Num())
	for k := i + 1; k < len(ports); k++ {
		if int(ports[k].Num()) > next+1 {
			return k - 1
		}
		next++
	}
	return len(ports) - 1
}

// ContainerRemoveLink removes the link named name ("/parent/alias"): DELETE
// /containers/{name}?link=1. The parent's /etc/hosts loses the entry at
// once; its environment at the next start and exec.
func (d *Daemon) ContainerRemoveLink(_ context.Context, name string) error {
	if _, err := d.containers.get(name); err != nil {
		return err
	}
	full := "/" + strings.TrimPrefix(name, "/")
	i := strings.LastIndex(full, "/")
	if i == 0 {
		// A 500 with this text, as dockerd answers.
		return errors.New("Conflict, cannot remove the default link name of the container")
	}
	parentName, alias := full[:i], full[i+1:]
	parent, err := d.containers.get(parentName)
	if err != nil {
		return fmt.Errorf("Cannot get parent %s for link name %s", parentName, full)
	}
	parent.mu.Lock()
	defer parent.mu.Unlock()
	idx := slices.IndexFunc(parent.Links, func(l link) bool { return l.Alias == alias })
	if idx < 0 {
		return nil
	}
	l := parent.Links[idx]
	parent.Links = slices.Delete(slices.Clone(parent.Links), idx, idx+1)
	if err := parent.save(d.containerDir(parent.ID)); err != nil {
		parent.Links = slices.Insert(parent.Links, idx, l)
		return err
	}
	d.containers.releaseName(full, l.ChildID)
	if parent.running() {
		if err := d.rewriteLinkHosts(parent); err != nil {
			d.log.Warn("rewrite hosts after link removal", "id", parent.ID, "err", err)
		}
	}
	return nil
}

// forgetLinkChild records a removed child's last name in its parents'
// links, which stay (a start of the parent then fails, as in dockerd).
func (d *Daemon) forgetLinkChild(child *Container) {
	name := child.nameLocked()
	for _, p := range d.containers.list() {
		p.mu.Lock()
		changed := false
		for i := range p.Links {
			if p.Links[i].ChildID == child.ID && p.Links[i].Child != name {
				p.Links[i].Child, changed = name, true
			}
		}
		if changed {
			if err := p.save(d.containerDir(p.ID)); err != nil {
				d.log.Warn("save links", "id", p.ID, "err", err)
			}
		}
		p.mu.Unlock()
	}
}
