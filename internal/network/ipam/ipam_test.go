package ipam

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestAllocateReleasePersist(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.99.0.0/29"), netip.Addr{}, netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Gateway != netip.MustParseAddr("10.99.0.1") {
		t.Fatalf("gateway %s", p.Gateway)
	}
	var got []netip.Addr
	for i := 0; i < 5; i++ {
		a, err := p.Allocate("ep", netip.Addr{})
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		got = append(got, a)
	}
	if got[0] != netip.MustParseAddr("10.99.0.2") || got[4] != netip.MustParseAddr("10.99.0.6") {
		t.Fatalf("allocations %v", got)
	}
	if _, err := p.Allocate("ep", netip.Addr{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("want exhausted, got %v", err)
	}
	p.Release(got[2])
	b, _ := json.Marshal(p)
	var q Pool
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	a, err := q.Allocate("x", netip.Addr{})
	if err != nil || a != got[2] {
		t.Fatalf("after reload got %v %v, want %s", a, err, got[2])
	}
	if q.InUse() != 5 {
		t.Fatalf("in use %d", q.InUse())
	}
}

func TestAllocateStaticAndRange(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.98.0.0/16"), netip.MustParseAddr("10.98.0.254"), netip.MustParsePrefix("10.98.5.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Allocate("a", netip.Addr{})
	if a != netip.MustParseAddr("10.98.5.0") {
		t.Fatalf("range allocation %s", a)
	}
	if _, err := p.Allocate("b", netip.MustParseAddr("10.98.5.0")); !errdefs.IsConflict(err) {
		t.Fatalf("want conflict, got %v", err)
	}
	if _, err := p.Allocate("b", netip.MustParseAddr("10.97.0.3")); !errdefs.IsInvalid(err) {
		t.Fatalf("want invalid, got %v", err)
	}
	if _, err := p.Allocate("b", netip.MustParseAddr("10.98.0.254")); !errdefs.IsConflict(err) {
		t.Fatalf("gateway must be taken, got %v", err)
	}
	if _, err := NewPool(netip.MustParsePrefix("10.98.0.0/16"), netip.MustParseAddr("10.1.0.1"), netip.Prefix{}); !errdefs.IsInvalid(err) {
		t.Fatalf("gateway outside subnet: %v", err)
	}
}

func TestChooseSkipsUsed(t *testing.T) {
	used := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.1.0/24")}
	got, err := Choose(Candidates(), used)
	if err != nil {
		t.Fatal(err)
	}
	if got != netip.MustParsePrefix("192.168.16.0/20") {
		t.Fatalf("chose %s", got)
	}
	got, _ = Choose(Candidates(), []netip.Prefix{netip.MustParsePrefix("172.17.5.0/24")})
	if got != netip.MustParsePrefix("172.18.0.0/16") {
		t.Fatalf("chose %s", got)
	}
	if _, err := Choose(Candidates()[:1], []netip.Prefix{netip.MustParsePrefix("128.0.0.0/1")}); err == nil {
		t.Fatal("expected no pool")
	}
	if b := Broadcast(netip.MustParsePrefix("10.1.2.0/23")); b != netip.MustParseAddr("10.1.3.255") {
		t.Fatalf("broadcast %s", b)
	}
}
