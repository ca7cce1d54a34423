package dns

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func table(name string) ([]netip.Addr, bool) {
	switch name {
	case "web", "alias1":
		return []netip.Addr{netip.MustParseAddr("10.213.9.2")}, true
	}
	return nil, false
}

func parseAnswers(t *testing.T, resp []byte) (dnsmessage.Header, []netip.Addr) {
	t.Helper()
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		t.Fatal(err)
	}
	p.SkipAllQuestions()
	var out []netip.Addr
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		if rh.Type != dnsmessage.TypeA {
			p.SkipAnswer()
			continue
		}
		a, _ := p.AResource()
		out = append(out, netip.AddrFrom4(a.A))
	}
	return h, out
}

func TestAnswer(t *testing.T) {
	resp, fwd, err := Answer(query(t, "WEB.", dnsmessage.TypeA), table)
	if err != nil || fwd {
		t.Fatalf("err %v forward %v", err, fwd)
	}
	h, addrs := parseAnswers(t, resp)
	if h.ID != 4242 || !h.Response || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("10.213.9.2") {
		t.Fatalf("header %+v answers %v", h, addrs)
	}
	resp, fwd, _ = Answer(query(t, "alias1.", dnsmessage.TypeAAAA), table)
	if fwd {
		t.Fatal("known name must not be forwarded")
	}
	if _, addrs := parseAnswers(t, resp); len(addrs) != 0 {
		t.Fatalf("AAAA answered %v", addrs)
	}
	if _, fwd, _ := Answer(query(t, "example.com.", dnsmessage.TypeA), table); !fwd {
		t.Fatal("unknown name must be forwarded")
	}
	if _, _, err := Answer([]byte{1, 2}, table); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestHostUpstreams(t *testing.T) {
	got := HostUpstreams("# x\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nsearch lan\n")
	if len(got) != 1 || got[0] != netip.MustParseAddrPort("192.0.2.53:53") {
		t.Fatalf("upstreams %v", got)
	}
}

// TestServerLoopback serves on 127.0.0.1 (a random high port) and asks over
// UDP and TCP; an unknown name with no upstream gets SERVFAIL.
func TestServerLoopback(t *testing.T) {
	s := &Server{Addr: netip.MustParseAddr("127.0.0.1"), Port: 35353, Lookup: table}
	if err := s.Start(); err != nil {
		t.Skipf("cannot bind test port: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, proto := range []string{"udp", "tcp"} {
		resp, err := Exchange(ctx, netip.MustParseAddrPort("127.0.0.1:35353"), query(t, "web.", dnsmessage.TypeA), proto)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if _, addrs := parseAnswers(t, resp); len(addrs) != 1 {
			t.Fatalf("%s answers %v", proto, addrs)
		}
	}
	resp, err := Exchange(ctx, netip.MustParseAddrPort("127.0.0.1:35353"), query(t, "nowhere.invalid.", dnsmessage.TypeA), "udp")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := parseAnswers(t, resp); h.RCode != dnsmessage.RCodeServerFailure {
		t.Fatalf("rcode %v", h.RCode)
	}
}

// TestClientUpstreams forwards an unknown name to the client's own
// upstream (another server of ours on loopback) instead of the default.
func TestClientUpstreams(t *testing.T) {
	up := &Server{Addr: netip.MustParseAddr("127.0.0.1"), Port: 35354, Lookup: func(n string) ([]netip.Addr, bool) {
		if n == "only.upstream" {
			return []netip.Addr{netip.MustParseAddr("10.213.9.77")}, true
		}
		return nil, false
	}}
	if err := up.Start(); err != nil {
		t.Skipf("cannot bind test port: %v", err)
	}
	t.Cleanup(func() { up.Close() })
	s := &Server{Addr: netip.MustParseAddr("127.0.0.1"), Port: 35355, Lookup: table,
		ClientUpstreams: func(c netip.Addr) []netip.AddrPort {
			if c == netip.MustParseAddr("127.0.0.1") {
				return []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:35354")}
			}
			return nil
		}}
	if err := s.Start(); err != nil {
		t.Skipf("cannot bind test port: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, proto := range []string{"udp", "tcp"} {
		resp, err := Exchange(ctx, netip.MustParseAddrPort("127.0.0.1:35355"), query(t, "only.upstream.", dnsmessage.TypeA), proto)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if _, addrs := parseAnswers(t, resp); len(addrs) != 1 || addrs[0] != netip.MustParseAddr("10.213.9.77") {
			t.Fatalf("%s: forwarded answer %v", proto, addrs)
		}
	}
}
