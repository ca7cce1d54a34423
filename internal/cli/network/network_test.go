package network

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
)

func TestNetworkLsFormats(t *testing.T) {
	created := time.Date(2026, 11, 26, 23, 40, 19, 0, time.UTC)
	list := []network.Summary{
		{Network: network.Network{Name: "n1", ID: "33116f1e5815d303974f1bfc2445064581e360dff97dbcc4fd0ac336945df5b5", Driver: "bridge", Scope: "local", Created: created, Labels: map[string]string{"k": "v", "a": "b"}}},
		{Network: network.Network{Name: "bridge", ID: "9738624f8832aaaa", Driver: "bridge", Scope: "local", Created: created}},
		{Network: network.Network{Name: "none", ID: "211f9c45e9cbbbbb", Driver: "null", Scope: "local", Internal: true, Created: created}},
	}
	cases := []struct {
		format         string
		quiet, noTrunc bool
		want           string
	}{
		{"", false, false, "NETWORK ID     NAME      DRIVER    SCOPE\n9738624f8832   bridge    bridge    local\n33116f1e5815   n1        bridge    local\n211f9c45e9cb   none      null      local\n"},
		{"", true, false, "9738624f8832\n33116f1e5815\n211f9c45e9cb\n"},
		{"{{.Name}}", true, false, "bridge\nn1\nnone\n"},
		{"{{.ID}} {{.Labels}} {{.Label \"k\"}}", false, true, "9738624f8832aaaa  \n33116f1e5815d303974f1bfc2445064581e360dff97dbcc4fd0ac336945df5b5 a=b,k=v v\n211f9c45e9cbbbbb  \n"},
		{"table {{.Name}}\t{{.Internal}}\t{{.CreatedAt}}", false, false, "NAME      INTERNAL   CREATED AT\nbridge    false      2026-11-26 23:40:19 +0000 UTC\nn1        false      2026-11-26 23:40:19 +0000 UTC\nnone      true       2026-11-26 23:40:19 +0000 UTC\n"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if err := WriteList(&out, append([]network.Summary(nil), list...), c.format, c.quiet, c.noTrunc); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("format %q:\n%q\nwant\n%q", c.format, out.String(), c.want)
		}
	}
}

func TestNetworkCreateRequest(t *testing.T) {
	o := CreateOptions{Driver: "bridge", IPAMDriver: "default", Subnets: []string{"10.77.0.0/24", "10.78.0.0/16"},
		Gateways: []string{"10.78.0.254", "10.77.0.1"}, IPRanges: []string{"10.78.5.0/24"}, Internal: true, Labels: []string{"k=v"}}
	req, err := o.Request("n2")
	if err != nil {
		t.Fatal(err)
	}
	c := req.IPAM.Config
	if len(c) != 2 || c[0].Gateway != netip.MustParseAddr("10.77.0.1") || c[1].Gateway != netip.MustParseAddr("10.78.0.254") ||
		c[1].IPRange != netip.MustParsePrefix("10.78.5.0/24") || !req.Internal || req.Labels["k"] != "v" || req.Options == nil {
		t.Fatalf("request %+v", req)
	}
	if _, err := (CreateOptions{Subnets: []string{"10.0.0.0/33"}}).Request("x"); err == nil || err.Error() != `invalid argument "10.0.0.0/33" for "--subnet" flag: invalid CIDR address: 10.0.0.0/33` {
		t.Fatalf("bad subnet: %v", err)
	}
	if _, err := (CreateOptions{Subnets: []string{"10.0.0.0/24"}, Gateways: []string{"10.1.0.1"}}).Request("x"); err == nil || err.Error() != "no matching subnet for gateway 10.1.0.1" {
		t.Fatalf("gateway outside: %v", err)
	}
}

func TestConnectEndpoint(t *testing.T) {
	es, err := ConnectOptions{IP: "10.77.0.9", Aliases: []string{"a"}, DriverOpts: []string{"k=v=w"}}.Endpoint()
	if err != nil || es.IPAMConfig.IPv4Address != netip.MustParseAddr("10.77.0.9") || es.Aliases[0] != "a" || es.DriverOpts["k"] != "v=w" {
		t.Fatalf("endpoint %+v, %v", es, err)
	}
	if _, err := (ConnectOptions{IP: "::1"}).Endpoint(); err == nil || err.Error() != `invalid argument "::1" for "--ip" flag: invalid IPv4 address` {
		t.Fatalf("IPv6 as --ip: %v", err)
	}
}
