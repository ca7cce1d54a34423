package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// criProxy sits between the kubelet and a CRI runtime for `-kube-trace`:
// it forwards every call unchanged (bytes, not decoded messages) and
// records how long the runtime took, so the apply-to-Running time can be
// split into time inside the runtime and time elsewhere (kubelet, control
// plane). It adds a hop, so traced runs are for reading, not for the table.
type criProxy struct {
	srv  *grpc.Server
	conn *grpc.ClientConn
	mu   sync.Mutex
	on   bool
	obs  map[string][]time.Duration
	// busy is the union of the intervals during which at least one call
	// was in the runtime; open counts the calls in flight.
	open      int
	openSince time.Time
	busy      time.Duration
}

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// startCRIProxy listens on sock and forwards to target (unix://...).
func startCRIProxy(sock, target string) (*criProxy, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &criProxy{conn: conn, obs: map[string][]time.Duration{}}
	p.srv = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(16<<20), grpc.UnknownServiceHandler(p.forward))
	go p.srv.Serve(l)
	return p, nil
}

func (p *criProxy) stop() {
	p.srv.Stop()
	p.conn.Close()
}

// record turns recording on or off and clears what was recorded.
func (p *criProxy) record(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on, p.obs, p.busy = on, map[string][]time.Duration{}, 0
	if p.open > 0 {
		p.openSince = time.Now()
	}
}

func (p *criProxy) enter() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == 0 {
		p.openSince = time.Now()
	}
	p.open++
}

func (p *criProxy) leave(method string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open--
	if p.on {
		if p.open == 0 {
			p.busy += time.Since(p.openSince)
		}
		p.obs[method] = append(p.obs[method], d)
	}
}

func (p *criProxy) forward(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return errors.New("no method")
	}
	ctx := ss.Context()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	}
	p.enter()
	start := time.Now()
	defer func() { p.leave(method[strings.LastIndex(method, "/")+1:], time.Since(start)) }()
	cs, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	go func() {
		for {
			var msg []byte
			if err := ss.RecvMsg(&msg); err != nil {
				cs.CloseSend()
				return
			}
			if err := cs.SendMsg(&msg); err != nil {
				return
			}
		}
	}()
	first := true
	for {
		var msg []byte
		err := cs.RecvMsg(&msg)
		if first {
			if md, herr := cs.Header(); herr == nil {
				ss.SendHeader(md)
			}
			first = false
		}
		if err == io.EOF {
			ss.SetTrailer(cs.Trailer())
			return nil
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			return err
		}
		if err := ss.SendMsg(&msg); err != nil {
			return err
		}
	}
}

// report prints, per CRI method, the calls seen while recording and their
// time inside the runtime, and the wall time during which any call was in
// the runtime, against wall (the span recorded).
func (p *criProxy) report(label string, wall time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	type m struct {
		name  string
		ds    []time.Duration
		total time.Duration
	}
	var ms []m
	for name, ds := range p.obs {
		var t time.Duration
		for _, d := range ds {
			t += d
		}
		ms = append(ms, m{name, append([]time.Duration(nil), ds...), t})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].total > ms[j].total })
	fmt.Fprintf(os.Stderr, "bench-kube: CRI calls of %s (%.0f ms wall; some call in the runtime during %.0f ms of it):\n", label, ms2f(wall), ms2f(p.busy))
	w := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  method\tcalls\ttotal\tmedian\tmax")
	for _, x := range ms {
		sort.Slice(x.ds, func(i, j int) bool { return x.ds[i] < x.ds[j] })
		fmt.Fprintf(w, "  %s\t%d\t%.0f ms\t%.1f ms\t%.1f ms\n", x.name, len(x.ds), ms2f(x.total), ms2f(medianOf(x.ds)), ms2f(x.ds[len(x.ds)-1]))
	}
	w.Flush()
}

func ms2f(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
