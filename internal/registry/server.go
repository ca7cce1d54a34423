package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
)

// Server is one registry instance: distribution's application mounted at
// /v2/ on an http.Server we own, so listening, TLS and shutdown are ours.
type Server struct {
	cfg    *configuration.Configuration
	app    *handlers.App
	srv    *http.Server
	ln     net.Listener
	tls    bool
	limits *uploadLimits
	// errlog carries net/http's own messages (TLS handshake failures,
	// mostly from scanners) into the registry's log at debug level.
	errlog *io.PipeWriter
}

// New builds the registry application for cfg. distribution reports bad
// configurations by panicking inside NewApp; those become errors here.
func New(ctx context.Context, cfg *configuration.Configuration) (s *Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("registry configuration: %v", r)
		}
	}()
	if err := checkAuthTransport(cfg); err != nil {
		return nil, err
	}
	ns := &namespaceRef{}
	addReferrersMiddleware(cfg, ns)
	app := handlers.NewApp(ctx, cfg)
	// The app routes on the full path, http.prefix included.
	base := path.Join("/", cfg.HTTP.Prefix, "v2")
	mux := http.NewServeMux()
	mux.Handle(base+"/", &referrers{base: base, ref: ns, next: app})
	mux.Handle(base, app)
	errlog := logrus.StandardLogger().WriterLevel(logrus.DebugLevel)
	limits := newUploadLimits(mux, DefaultMaxBlobSize, DefaultUploadIdle)
	s = &Server{
		limits: limits,
		cfg:    cfg,
		app:    app,
		errlog: errlog,
		srv: &http.Server{
			Handler:           limits,
			ErrorLog:          log.New(errlog, "", 0),
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return ctx },
		},
	}
	return s, nil
}

// SetUploadLimits changes the blob size cap (all chunks of one upload)
// and how long an upload may stall; call it before Serve. Zero keeps the
// default.
func (s *Server) SetUploadLimits(maxBlob int64, idle time.Duration) {
	if maxBlob > 0 {
		s.limits.max = maxBlob
	}
	if idle > 0 {
		s.limits.idle = idle
	}
}

// Listen opens the configured address (tcp or unix) and prepares TLS, so
// callers learn about a busy port before serving; with port 0 Addr then
// tells which port was chosen.
func (s *Server) Listen(ctx context.Context) error {
	network := s.cfg.HTTP.Net
	if network == "" {
		network = "tcp"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, s.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTP.Addr, err)
	}
	t := s.cfg.HTTP.TLS
	if t.Certificate != "" || t.LetsEncrypt.CacheFile != "" {
		conf, err := tlsConfig(t)
		if err != nil {
			ln.Close()
			return err
		}
		s.srv.TLSConfig = conf
		ln = tls.NewListener(ln, conf)
		s.tls = true
	}
	s.ln = ln
	return nil
}

// Addr is the listening address, valid after Listen.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL clients use to reach this registry.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve answers requests until Shutdown; it returns nil after a clean
// shutdown.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("registry: Serve before Listen")
	}
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections, lets requests in flight finish until
// ctx expires, then stops the application's background work (upload
// purging, the proxy's expiry scheduler).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if aerr := s.app.Shutdown(); aerr != nil && err == nil {
		err = fmt.Errorf("registry shutdown: %w", aerr)
	}
	s.errlog.Close()
	return err
}
