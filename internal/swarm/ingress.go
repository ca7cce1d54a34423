package swarm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Ingress publishes the ingress ports of the swarm's services on this
// node: a TCP listener on every published port forwards each connection
// to the port of the service's Kubernetes Service, whose cluster IP
// kube-proxy balances over the ready replicas. This is swarm's routing
// mesh: the port answers on every node (127.0.0.1 included, which
// kube-proxy's NodePorts in nftables mode do not serve). UDP ports are
// not forwarded.
type Ingress struct {
	m   *Manager
	log *slog.Logger

	mu        sync.Mutex
	listeners map[int32]*listener
}

type listener struct {
	l      net.Listener
	target string // clusterIP:port
	mu     sync.Mutex
}

// NewIngress makes the forwarder of m's services.
func NewIngress(m *Manager, log *slog.Logger) *Ingress {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingress{m: m, log: log, listeners: map[int32]*listener{}}
}

// Run follows the services until ctx ends, then closes every listener.
func (in *Ingress) Run(ctx context.Context) {
	defer in.closeAll()
	for {
		// The routing mesh listens on the manager's host (see docs/swarm.md:
		// a worker on the same host would collide with its ports).
		if i := in.m.SwarmInfo(ctx); i.LocalNodeState == "active" && i.ControlAvailable && in.m.RunsControlPlane() {
			if err := in.sync(ctx); err != nil {
				in.log.Debug("ingress sync", "err", err)
			}
		} else {
			in.closeAll()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// sync opens a listener for each published TCP port and closes those no
// service publishes any more.
func (in *Ingress) sync(ctx context.Context) error {
	kc, err := in.m.client()
	if err != nil {
		return err
	}
	svcs, err := kc.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: LabelManaged + "=true"})
	if err != nil {
		return err
	}
	want := map[int32]string{}
	for _, s := range svcs.Items {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				want[p.Port] = net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
			}
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for port, l := range in.listeners {
		if _, ok := want[port]; !ok {
			l.l.Close()
			delete(in.listeners, port)
		}
	}
	for port, target := range want {
		if l, ok := in.listeners[port]; ok {
			l.mu.Lock()
			l.target = target
			l.mu.Unlock()
			continue
		}
		nl, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			in.log.Warn("cannot publish ingress port", "port", port, "err", err)
			continue
		}
		l := &listener{l: nl, target: target}
		in.listeners[port] = l
		go in.serve(l)
	}
	return nil
}

func (in *Ingress) serve(l *listener) {
	for {
		c, err := l.l.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		target := l.target
		l.mu.Unlock()
		go proxyConn(c, target)
	}
}

func proxyConn(c net.Conn, target string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); closeWrite(u); done <- struct{}{} }()
	go func() { io.Copy(c, u); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func (in *Ingress) closeAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for port, l := range in.listeners {
		l.l.Close()
		delete(in.listeners, port)
	}
}
