package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/daemonconfig"
	"github.com/berth-project/berth/internal/swarmproc"
	"github.com/berth-project/berth/internal/version"
)

func printVersion() {
	fmt.Printf("Berth version %s, build %s\n", version.Version, version.GitCommit)
}

// run starts the daemon and serves until ctx is cancelled.
func run(ctx context.Context, cfg *daemonconfig.Config, log *slog.Logger) error {
	if cfg.Pidfile == "" {
		cfg.Pidfile = filepath.Join(cfg.ExecRoot, "berthd.pid")
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{"unix://" + filepath.Join(cfg.ExecRoot, "berth.sock")}
	}
	if err := checkHosts(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.ExecRoot, 0o711); err != nil {
		return err
	}
	pid, err := acquirePidfile(cfg.Pidfile)
	if err != nil {
		return err
	}
	defer pid.release()
	rootLock, err := lockDataRoot(cfg.DataRoot)
	if err != nil {
		return err
	}
	defer rootLock.Close()

	d, be, err := openEngine(ctx, cfg, log)
	if err != nil {
		return err
	}
	// The swarm front end runs as its own process (berth-swarm), started
	// on swarm init or join and while the node is in a swarm.
	var daemonSock string
	for _, h := range cfg.Hosts {
		if p, ok := strings.CutPrefix(h, "unix://"); ok && daemonSock == "" {
			daemonSock = p
		}
	}
	sw := swarmproc.New(swarmproc.Config{
		StateDir:   filepath.Join(cfg.DataRoot, "swarm"),
		Socket:     filepath.Join(cfg.ExecRoot, "swarm.sock"),
		DaemonHost: daemonSock,
		VolumeRoot: filepath.Join(cfg.DataRoot, "swarm", "volumes"),
		Kubeconfig: cfg.SwarmKubeconfig,
		Logger:     log,
	})
	defer sw.Stop()
	srv := api.NewServer(be, api.Options{Version: version.Version, GitCommit: version.GitCommit, Logger: log, SwarmProcess: sw})
	var listeners []net.Listener
	for _, h := range cfg.Hosts {
		l, err := listen(h, cfg, log)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			shutdownEngine(context.WithoutCancel(ctx), d, be, cfg.LiveRestore, log)
			return err
		}
		listeners = append(listeners, l)
	}
	criSrv, criL, err := startCRI(ctx, d, be, cfg, log)
	if err != nil {
		for _, l := range listeners {
			l.Close()
		}
		shutdownEngine(context.WithoutCancel(ctx), d, be, cfg.LiveRestore, log)
		return fmt.Errorf("cri: %w", err)
	}
	errc := make(chan error, len(listeners)+1)
	for _, l := range listeners {
		log.Info("API listen on " + l.Addr().String())
		go func(l net.Listener) { errc <- srv.Serve(ctx, l) }(l)
	}
	// The CRI socket outlives the daemon's shutdown, which takes the
	// cluster down first and so removes its pods through this socket.
	criCtx, stopCRI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCRI()
	if criSrv != nil {
		log.Info("CRI listen on " + criL.Addr().String())
		go func() { errc <- criSrv.Serve(criCtx, criL) }()
		defer func() {
			criSrv.Close()
			os.Remove(criL.Addr().String())
		}()
	}
	log.Info("Daemon has completed initialization", "version", version.Version, "data-root", cfg.DataRoot)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("Processing signal, shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	shutdownEngine(sctx, d, be, cfg.LiveRestore, log)
	stopCRI()
	for _, h := range cfg.Hosts {
		if p, ok := strings.CutPrefix(h, "unix://"); ok {
			os.Remove(p)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// listen opens one -H address. Unix sockets are root:<group> 0660 so the
// "run docker without sudo" recipe works with a berth group.
func listen(addr string, cfg *daemonconfig.Config, log *slog.Logger) (net.Listener, error) {
	proto, rest, ok := strings.Cut(addr, "://")
	if !ok {
		proto, rest = "unix", addr
		if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "/") {
			proto = "tcp"
		}
	}
	switch proto {
	case "unix":
		return listenUnix(rest, cfg, log)
	case "tcp":
		l, err := net.Listen("tcp", rest)
		if err != nil {
			return nil, err
		}
		if !cfg.TLS && !cfg.TLSVerify {
			// Only reached with an explicit --tls=false (checkHosts).
			log.Warn("Binding to an IP address without --tlsverify gives root access on this machine to everyone who can reach it, scripts run in a browser included", "host", addr)
			return l, nil
		}
		tc, err := tlsConfig(cfg)
		if err != nil {
			l.Close()
			return nil, err
		}
		return tls.NewListener(l, tc), nil
	}
	return nil, fmt.Errorf("invalid host %q: unsupported protocol %q", addr, proto)
}

// checkHosts refuses, before anything starts, a tcp:// host without TLS
// unless the user asked for that with --tls=false (or "tls": false), as
// current dockerd releases do: an unauthenticated TCP API is root on this
// machine for anyone who reaches the port, including a web page.
func checkHosts(cfg *daemonconfig.Config) error {
	for _, h := range cfg.Hosts {
		proto, rest, ok := strings.Cut(h, "://")
		if !ok {
			proto, rest = "unix", h
			if strings.Contains(h, ":") && !strings.HasPrefix(h, "/") {
				proto = "tcp"
			}
		}
		if proto == "tcp" && !cfg.TLS && !cfg.TLSVerify && !cfg.TLSExplicit {
			return fmt.Errorf("refusing to listen on tcp://%s without TLS: an unauthenticated API gives root access on this machine to everyone who can reach it (and to scripts run in a browser); "+
				"set up --tlsverify with --tlscacert, --tlscert and --tlskey, or pass --tls=false to run without TLS explicitly", rest)
		}
	}
	return nil
}

func tlsConfig(cfg *daemonconfig.Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLSVerify {
		ca, err := os.ReadFile(cfg.TLSCACert)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("no certificates in CA file")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
