// Package firewalld binds berthd's bridges to a firewalld zone of their own
// ("berth", target ACCEPT), over D-Bus, where firewalld runs.
//
// Why this is needed at all: firewalld's nftables backend (Debian 12's
// firewalld 1.3) keeps its own table, `inet firewalld`, whose input and
// forward chains reject what enters from an interface whose zone does not
// allow it; an interface bound to no zone falls in the default zone
// ("public"), which forwards nothing and accepts only a few services. A
// packet passes every table's base chains and a reject in any of them is
// final, so no accept in berthd's own nft table helps: containers on our
// bridges lose their way out, each other (br_netfilter sends bridged
// traffic through the forward hook too) and the embedded DNS on the
// gateway (the input hook).
//
// Design (the way moby's libnetwork does it with its "docker" zone;
// netavark puts its subnets in the "trusted" zone instead):
//   - Open checks once, at daemon start, whether the system bus is there
//     and firewalld owns its name on it. If not, it returns a nil *Binder,
//     whose methods do nothing: no D-Bus connection is kept and no call is
//     made on network create or remove. A firewalld started after berthd is
//     seen at berthd's next start.
//   - A zone of our own rather than "trusted": its name says whose
//     interfaces these are (`firewall-cmd --get-active-zones`), it never
//     mixes with an administrator's trusted interfaces, and an
//     administrator may tighten it (we create it only when missing and never
//     change it). It is permanent configuration, made once with
//     config.addZone2 and a reload, and left in place, as Docker leaves its
//     zone. Its target ACCEPT accepts what our bridges send to the host
//     (DNS on the gateway) and forward (out, and between containers).
//     Traffic into a bridge needs nothing: firewalld's forward chain
//     accepts conntrack's established/related and DNATed (published
//     ports) packets before any zone is looked at.
//   - Bindings are runtime state: each bridge is added while its network
//     is active and removed when it goes and on a clean daemon exit (live
//     restore keeps them with the running containers). firewalld forgets
//     runtime bindings on a reload and on a restart, so the binder
//     re-applies them on firewalld's Reloaded signal and when its bus name
//     gets a new owner.
//   - A bridge an administrator bound to another zone stays there.
//   - Every call goes with NO_AUTO_START: talking to a stopped firewalld
//     must not start it through D-Bus activation.
package firewalld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Zone is the firewalld zone Berth's bridges are bound to.
const Zone = "berth"

const (
	busName    = "org.fedoraproject.FirewallD1"
	objPath    = dbus.ObjectPath("/org/fedoraproject/FirewallD1")
	configPath = dbus.ObjectPath("/org/fedoraproject/FirewallD1/config")
	// exception is the D-Bus error name of firewalld's errors; the first
	// word of the message is its code (NAME_CONFLICT, ZONE_ALREADY_SET...).
	exception = busName + ".Exception"
)

// Binder keeps Berth's bridges bound to Zone. A nil *Binder (no firewalld)
// is valid and does nothing. It is safe for concurrent use.
type Binder struct {
	conn *dbus.Conn
	obj  dbus.BusObject // the runtime interface
	cfg  dbus.BusObject // the permanent configuration
	log  *slog.Logger
	sigs chan *dbus.Signal
	done chan struct{} // closed when the signal loop has ended

	mu        sync.Mutex
	ifaces    map[string]bool // bridges that should be in Zone
	zoneReady bool            // Zone is known to exist in the runtime config
	closed    bool
}

// Open connects to firewalld on the system bus (DBUS_SYSTEM_BUS_ADDRESS,
// else /var/run/dbus/system_bus_socket). It returns nil and no error when
// there is no system bus or no firewalld on it.
func Open(ctx context.Context, log *slog.Logger) (*Binder, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		// No bus (the common case on hosts without firewalld) is not an
		// error: there is nothing to coexist with.
		log.Debug("firewalld: no system bus", "err", err)
		return nil, nil
	}
	var running bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", dbus.FlagNoAutoStart, busName).Store(&running); err != nil {
		conn.Close()
		return nil, fmt.Errorf("firewalld: ask the system bus: %w", err)
	}
	if !running {
		conn.Close()
		return nil, nil
	}
	b := &Binder{
		conn: conn, obj: conn.Object(busName, objPath), cfg: conn.Object(busName, configPath), log: log,
		sigs: make(chan *dbus.Signal, 16), done: make(chan struct{}), ifaces: map[string]bool{},
	}
	matches := [][]dbus.MatchOption{
		{dbus.WithMatchSender(busName), dbus.WithMatchObjectPath(objPath), dbus.WithMatchInterface(busName), dbus.WithMatchMember("Reloaded")},
		{dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, busName)},
	}
	for _, m := range matches {
		if err := conn.AddMatchSignalContext(ctx, m...); err != nil {
			conn.Close()
			return nil, fmt.Errorf("firewalld: watch its signals: %w", err)
		}
	}
	conn.Signal(b.sigs)
	go b.watch()
	log.Info("firewalld is running: Berth's bridges go in its zone", "zone", Zone)
	return b, nil
}

// watch re-applies the bindings whenever firewalld may have dropped them.
// It ends when the connection closes (the channel is closed then).
func (b *Binder) watch() {
	defer close(b.done)
	for sig := range b.sigs {
		switch sig.Name {
		case busName + ".Reloaded":
		case "org.freedesktop.DBus.NameOwnerChanged":
			// A new owner is a (re)started firewalld; an empty one a
			// stopped firewalld, with nothing to re-apply to.
			if len(sig.Body) < 3 || sig.Body[0] != busName || sig.Body[2] == "" {
				continue
			}
		default:
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := b.reapply(ctx); err != nil {
			b.log.Warn("firewalld: cannot bind the bridges again after its reload", "zone", Zone, "err", err)
		}
		cancel()
	}
}

func (b *Binder) reapply(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.zoneReady = false
	var errs []error
	for _, iface := range slices.Sorted(maps.Keys(b.ifaces)) {
		errs = append(errs, b.bindLocked(ctx, iface))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(b.ifaces) > 0 {
		b.log.Info("firewalld reloaded: bridges bound again", "zone", Zone, "bridges", len(b.ifaces))
	}
	return nil
}

// Add binds bridge to Zone, creating the zone if it is missing.
func (b *Binder) Add(ctx context.Context, bridge string) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.ifaces[bridge] = true
	return b.bindLocked(ctx, bridge)
}

// Remove unbinds bridge (if it is in Zone).
func (b *Binder) Remove(ctx context.Context, bridge string) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.ifaces[bridge] {
		return nil
	}
	delete(b.ifaces, bridge)
	return b.unbindLocked(ctx, bridge)
}

// Close unbinds every bridge and closes the connection.
func (b *Binder) Close(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	var errs []error
	if !b.closed {
		for _, iface := range slices.Sorted(maps.Keys(b.ifaces)) {
			errs = append(errs, b.unbindLocked(ctx, iface))
		}
		clear(b.ifaces)
	}
	b.mu.Unlock()
	return errors.Join(append(errs, b.Detach())...)
}

// Detach closes the connection and leaves the bindings (live restore: the
// containers keep running on the bridges).
func (b *Binder) Detach() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	b.mu.Unlock()
	if !first {
		return nil
	}
	err := b.conn.Close()
	<-b.done
	return err
}

func (b *Binder) bindLocked(ctx context.Context, bridge string) error {
	if err := b.ensureZoneLocked(ctx); err != nil {
		return err
	}
	var zone string
	if err := b.call(ctx, b.obj, "zone.getZoneOfInterface", bridge).Store(&zone); err != nil {
		return fmt.Errorf("firewalld: zone of %s: %w", bridge, err)
	}
	switch zone {
	case Zone:
		return nil
	case "":
	default:
		b.log.Info("firewalld: bridge is bound to another zone; left there", "bridge", bridge, "zone", zone)
		return nil
	}
	if err := b.call(ctx, b.obj, "zone.addInterface", Zone, bridge).Err; err != nil && code(err) != "ZONE_ALREADY_SET" {
		return fmt.Errorf("firewalld: add %s to zone %s: %w", bridge, Zone, err)
	}
	return nil
}

func (b *Binder) unbindLocked(ctx context.Context, bridge string) error {
	var zone string
	if err := b.call(ctx, b.obj, "zone.getZoneOfInterface", bridge).Store(&zone); err != nil {
		if isGone(err) {
			return nil // firewalld stopped: its bindings went with it
		}
		return fmt.Errorf("firewalld: zone of %s: %w", bridge, err)
	}
	if zone != Zone {
		return nil
	}
	if err := b.call(ctx, b.obj, "zone.removeInterface", Zone, bridge).Err; err != nil && code(err) != "UNKNOWN_INTERFACE" && !isGone(err) {
		return fmt.Errorf("firewalld: remove %s from zone %s: %w", bridge, Zone, err)
	}
	return nil
}

// ensureZoneLocked makes Zone exist in firewalld's runtime configuration:
// added to the permanent configuration when missing there (another daemon
// may be doing the same: NAME_CONFLICT is success), then a reload.
func (b *Binder) ensureZoneLocked(ctx context.Context) error {
	if b.zoneReady {
		return nil
	}
	have := func() (bool, error) {
		var zones []string
		if err := b.call(ctx, b.obj, "zone.getZones").Store(&zones); err != nil {
			return false, fmt.Errorf("firewalld: list zones: %w", err)
		}
		return slices.Contains(zones, Zone), nil
	}
	ok, err := have()
	if err != nil || ok {
		b.zoneReady = ok
		return err
	}
	settings := map[string]dbus.Variant{
		"short":       dbus.MakeVariant("Berth"),
		"description": dbus.MakeVariant("Berth's bridge networks: what containers send to the host and forward is accepted; Berth's own nftables rules filter it."),
		"target":      dbus.MakeVariant("ACCEPT"),
		"forward":     dbus.MakeVariant(true),
	}
	if err := b.call(ctx, b.cfg, "config.addZone2", Zone, settings).Err; err != nil && code(err) != "NAME_CONFLICT" {
		return fmt.Errorf("firewalld: create zone %s: %w", Zone, err)
	}
	b.log.Info("firewalld: zone created; reloading firewalld", "zone", Zone)
	if err := b.call(ctx, b.obj, "reload").Err; err != nil {
		return fmt.Errorf("firewalld: reload after creating zone %s: %w", Zone, err)
	}
	if ok, err = have(); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("firewalld: zone %s missing after a reload", Zone)
	}
	b.zoneReady = true
	return nil
}

// call calls busName's method (relative to its interface) on obj.
func (b *Binder) call(ctx context.Context, obj dbus.BusObject, method string, args ...any) *dbus.Call {
	return obj.CallWithContext(ctx, busName+"."+method, dbus.FlagNoAutoStart, args...)
}

// code is the code of a firewalld exception ("NAME_CONFLICT: berth" →
// "NAME_CONFLICT"), or "".
func code(err error) string {
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != exception {
		return ""
	}
	c, _, _ := strings.Cut(de.Error(), ":")
	return strings.TrimSpace(c)
}

// isGone reports whether err says firewalld is not on the bus any more.
func isGone(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner")
}

// Bindings lists the interfaces bound to Zone in firewalld's runtime
// configuration, from a fresh connection to the system bus; for tests and
// diagnostics. ok is false when firewalld or the zone is absent.
func Bindings(ctx context.Context) (ifaces []string, ok bool, err error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	obj := conn.Object(busName, objPath)
	var zones []string
	if err := obj.CallWithContext(ctx, busName+".zone.getZones", dbus.FlagNoAutoStart).Store(&zones); err != nil {
		if isGone(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if !slices.Contains(zones, Zone) {
		return nil, false, nil
	}
	err = obj.CallWithContext(ctx, busName+".zone.getInterfaces", dbus.FlagNoAutoStart, Zone).Store(&ifaces)
	return ifaces, err == nil, err
}
