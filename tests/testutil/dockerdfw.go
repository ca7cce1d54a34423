package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/network/hostfw"
)

// dockerdICC lets the containers of each bridge network of a private test
// dockerd reach each other, as a dockerd with its iptables rules lets them.
//
// Why the harness does it: the private dockerd runs with --iptables=false,
// since a second dockerd writing the host's DOCKER chains would fight the
// host dockerd's rules. The host dockerd has set FORWARD's policy to DROP,
// and with br_netfilter (bridge-nf-call-iptables=1) a frame bridged from
// one container to another on the same bridge passes iptables' FORWARD
// too, so without a rule two containers of one private network cannot
// talk (names still resolve: the embedded DNS answers inside the
// container's namespace). dockerd with iptables accepts exactly that
// traffic itself (its inter-container rule, -i br -o br -j ACCEPT); the
// harness accepts that and nothing more, for the private dockerd's bridges
// only, through Berth's hostfw: a chain of its own reached by one jump
// first in DOCKER-USER, nothing of the host dockerd's changed. No
// forwarding off the bridge, no published-port DNAT: those stay as
// --iptables=false makes them. The set of bridges follows the daemon's
// network create and destroy events.
type dockerdICC struct {
	fw      *hostfw.Firewall
	cl      *client.Client
	log     io.Writer
	allowed map[string]bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// iccChain is the harness's chain for a private dockerd whose default
// bridge is bridge ("bdt123" → "BDT123-ICC"; at most 28 characters).
func iccChain(bridge string) string {
	s := strings.ToUpper(bridge)
	if len(s) > 24 {
		s = s[:24]
	}
	return s + "-ICC"
}

// startDockerdICC accepts the daemon's current bridges and follows its
// network events until stop.
func startDockerdICC(ctx context.Context, d *Daemon) (*dockerdICC, error) {
	cl, err := d.Client(ctx)
	if err != nil {
		return nil, err
	}
	f := &dockerdICC{fw: hostfw.New(iccChain(d.bridge)), cl: cl, log: d.log, allowed: map[string]bool{},
		done: make(chan struct{})}
	// A chain of the same name left by a crashed run goes first.
	if err := f.fw.Start(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	// Subscribed before the first listing, so no network made in between is missed.
	events, err := cl.Events(wctx, client.EventsOptions{Filters: client.Filters{
		"type": {"network"}, "event": {"create", "destroy"}}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("network events: %w", err)
	}
	if err := f.sync(ctx); err != nil {
		cancel()
		events.Close()
		_ = f.fw.Close(context.Background())
		return nil, err
	}
	f.cancel = cancel
	go f.follow(wctx, events)
	return f, nil
}

func (f *dockerdICC) follow(ctx context.Context, events io.ReadCloser) {
	defer close(f.done)
	defer events.Close()
	dec := json.NewDecoder(events)
	for {
		var ev struct{ Action string }
		if err := dec.Decode(&ev); err != nil {
			return // the daemon stopped, or stop cancelled the stream
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := f.sync(sctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(f.log, "harness: inter-container rules after network %s: %v\n", ev.Action, err)
		}
		cancel()
	}
}

// sync makes the chain accept the bridges of the daemon's bridge networks
// that keep inter-container traffic on (Docker's default).
func (f *dockerdICC) sync(ctx context.Context) error {
	nets, err := f.cl.NetworkList(ctx, nil)
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	want := map[string]bool{}
	for _, n := range nets {
		if n.Driver != "bridge" || n.Options["com.docker.network.bridge.enable_icc"] == "false" {
			continue
		}
		br := n.Options["com.docker.network.bridge.name"]
		if br == "" && len(n.ID) >= 12 {
			br = "br-" + n.ID[:12] // dockerd's name for a network's bridge
		}
		if br != "" {
			want[br] = true
		}
	}
	for _, br := range slices.Sorted(maps.Keys(f.allowed)) {
		if !want[br] {
			if err := f.fw.Revoke(ctx, br); err != nil {
				return err
			}
			delete(f.allowed, br)
		}
	}
	for _, br := range slices.Sorted(maps.Keys(want)) {
		if !f.allowed[br] {
			// "internal" in hostfw's terms: only from the bridge back into it.
			if err := f.fw.Allow(ctx, br, true); err != nil {
				return err
			}
			f.allowed[br] = true
		}
	}
	return nil
}

// stop ends the event loop and removes the chain and its jump.
func (f *dockerdICC) stop() error {
	f.cancel()
	<-f.done
	return f.fw.Close(context.Background())
}
