package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
)

// fakeNetworks is a Backend with an in-memory network table.
type fakeNetworks struct {
	*fakeBackend
	nets       map[string]network.Inspect
	busy       map[string]bool
	connected  network.ConnectRequest
	disconnect network.DisconnectRequest
	prunedWith filters.Args
}

func (f *fakeNetworks) NetworkCreate(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if _, ok := f.nets[req.Name]; ok {
		return network.CreateResponse{}, errdefs.Conflictf("network with name %s already exists", req.Name)
	}
	in := network.Inspect{Network: network.Network{Name: req.Name, ID: "id-" + req.Name, Driver: "bridge", Scope: "local", Labels: req.Labels}}
	if req.IPAM != nil {
		in.IPAM = *req.IPAM
	}
	f.nets[req.Name] = in
	return network.CreateResponse{ID: in.ID}, nil
}

func (f *fakeNetworks) NetworkInspect(_ context.Context, ref string) (*network.Inspect, error) {
	n, ok := f.nets[ref]
	if !ok {
		return nil, errdefs.NotFoundf("network %s not found", ref)
	}
	return &n, nil
}

func (f *fakeNetworks) NetworkList(_ context.Context, fl filters.Args) ([]network.Summary, error) {
	if err := fl.Validate("name", "driver"); err != nil {
		return nil, err
	}
	var out []network.Summary
	for _, n := range f.nets {
		if fl.ExactMatch("name", n.Name) {
			out = append(out, network.Summary{Network: n.Network})
		}
	}
	return out, nil
}

func (f *fakeNetworks) NetworkRemove(_ context.Context, ref string) error {
	if f.busy[ref] {
		return errdefs.Conflictf("error while removing network: network %s has active endpoints", ref)
	}
	if _, ok := f.nets[ref]; !ok {
		return errdefs.NotFoundf("network %s not found", ref)
	}
	delete(f.nets, ref)
	return nil
}

func (f *fakeNetworks) NetworksPrune(_ context.Context, fl filters.Args) (*network.PruneReport, error) {
	f.prunedWith = fl
	return &network.PruneReport{NetworksDeleted: []string{"old"}}, nil
}

func (f *fakeNetworks) NetworkConnect(_ context.Context, ref string, req network.ConnectRequest) error {
	f.connected = req
	return nil
}

func (f *fakeNetworks) NetworkDisconnect(_ context.Context, ref string, req network.DisconnectRequest) error {
	f.disconnect = req
	return nil
}

func networkServer(f *fakeNetworks) http.Handler {
	be := f.backends()
	be.Networks = f
	s := &Server{be: be, opts: Options{Version: "0.0.1-test"}, log: slog.New(slog.DiscardHandler)}
	rt := newRouter()
	s.registerNetworks(rt)
	return s.middleware(rt)
}

func TestNetworkRoutes(t *testing.T) {
	f := &fakeNetworks{fakeBackend: &fakeBackend{}, nets: map[string]network.Inspect{}, busy: map[string]bool{"busy": true}}
	h := networkServer(f)
	// The docker CLI 28 body, byte for byte (api-captures/10-network-create.log).
	body := `{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.77.0.0/16","Gateway":"10.77.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{"k":"v"},"Name":"n1"}`
	code, resp := call(t, h, http.MethodPost, "/v1.50/networks/create", body)
	if code != http.StatusCreated || resp != `{"Id":"id-n1","Warning":""}`+"\n" {
		t.Fatalf("create: %d %s", code, resp)
	}
	if got := f.nets["n1"].IPAM.Config[0].Subnet; got != netip.MustParsePrefix("10.77.0.0/16") {
		t.Fatalf("subnet decoded as %s", got)
	}
	if code, resp = call(t, h, http.MethodPost, "/v1.50/networks/create", body); code != http.StatusConflict {
		t.Fatalf("duplicate: %d %s", code, resp)
	}
	// A subnet with host bits: refused from API 1.44 on (dockerd 25+),
	// passed to the backend below that (dockerd 20.10 took it).
	hostBits := `{"Name":"hb","IPAM":{"Config":[{"Subnet":"10.78.0.5/16","Gateway":"10.79.0.1"}]}}`
	code, resp = call(t, h, http.MethodPost, "/v1.44/networks/create", hostBits)
	want := `{"message":"invalid network config:\n* invalid subnet 10.78.0.5/16: it should be 10.78.0.0/16\n* invalid gateway 10.79.0.1: parent subnet 10.78.0.5/16 doesn't contain this address"}` + "\n"
	if code != http.StatusBadRequest || resp != want {
		t.Fatalf("host bits at 1.44: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodPost, "/v1.43/networks/create", hostBits); code != http.StatusCreated {
		t.Fatalf("host bits at 1.43: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodPost, "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/33"}]}}`); code != http.StatusBadRequest {
		t.Fatalf("bad CIDR: %d %s", code, resp)
	}
	code, resp = call(t, h, http.MethodGet, "/v1.50/networks/n1", "")
	var in network.Inspect
	if code != http.StatusOK || json.Unmarshal([]byte(resp), &in) != nil || in.Labels["k"] != "v" {
		t.Fatalf("inspect: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodGet, "/v1.50/networks/nope", ""); code != http.StatusNotFound || resp != `{"message":"network nope not found"}`+"\n" {
		t.Fatalf("inspect missing: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodGet, `/v1.50/networks?filters={"name":{"n1":true}}`, ""); code != http.StatusOK || !strings.HasPrefix(resp, `[{"Name":"n1"`) {
		t.Fatalf("list: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodGet, `/v1.50/networks?filters={"name":{"zz":true}}`, ""); code != http.StatusOK || resp != "[]\n" {
		t.Fatalf("empty list: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodGet, `/networks?filters={"bogus":{"x":true}}`, ""); code != http.StatusBadRequest {
		t.Fatalf("bad filter: %d %s", code, resp)
	}
	code, resp = call(t, h, http.MethodPost, "/v1.50/networks/n1/connect", `{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.77.0.9"},"Aliases":["web"]}}`)
	if code != http.StatusOK || f.connected.Container != "c1" || f.connected.EndpointConfig.IPAMConfig.IPv4Address != netip.MustParseAddr("10.77.0.9") {
		t.Fatalf("connect: %d %s %+v", code, resp, f.connected)
	}
	if code, resp = call(t, h, http.MethodPost, "/v1.50/networks/n1/connect", `{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.77.0.999"}}}`); code != http.StatusBadRequest {
		t.Fatalf("connect with a bad IP: %d %s", code, resp)
	}
	if code, _ = call(t, h, http.MethodPost, "/v1.50/networks/n1/disconnect", `{"Container":"c1","Force":true}`); code != http.StatusOK || !f.disconnect.Force {
		t.Fatalf("disconnect: %d %+v", code, f.disconnect)
	}
	if code, resp = call(t, h, http.MethodDelete, "/v1.50/networks/busy", ""); code != http.StatusConflict {
		t.Fatalf("remove busy: %d %s", code, resp)
	}
	if code, resp = call(t, h, http.MethodDelete, "/v1.50/networks/n1", ""); code != http.StatusNoContent || resp != "" {
		t.Fatalf("remove: %d %s", code, resp)
	}
	code, resp = call(t, h, http.MethodPost, `/v1.50/networks/prune?filters={"label":{"a=b":true}}`, "")
	if code != http.StatusOK || resp != `{"NetworksDeleted":["old"]}`+"\n" || !f.prunedWith.ExactMatch("label", "a=b") {
		t.Fatalf("prune: %d %s", code, resp)
	}
}
