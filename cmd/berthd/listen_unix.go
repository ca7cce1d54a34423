package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/berth-project/berth/internal/daemonconfig"
)

// listenUnix serves on a unix socket that is root:<group> 0660 from the
// moment anyone can reach it: the socket is bound inside a fresh 0700
// directory, given its owner and mode there, and only then renamed into
// place. Binding at the final path and chmod'ing afterwards left a window
// in which the socket had the process umask's mode (0777 under umask 0),
// so any local user could connect and be root. The "run docker without
// sudo" recipe works with a berth group.
func listenUnix(path string, cfg *daemonconfig.Config, log *slog.Logger) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	gid := 0
	if g, err := user.LookupGroup(cfg.Group); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	} else if cfg.Group != "" && cfg.Group != "berth" {
		return nil, fmt.Errorf("group %s not found", cfg.Group)
	} else {
		log.Warn("could not change group of the socket to berth: group berth not found", "socket", path)
	}
	private, err := os.MkdirTemp(dir, ".berth-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(private)
	if err := os.Chmod(private, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(private, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	// The listener's own name goes away with the rename; the final path
	// is removed by run on shutdown.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chown(tmp, 0, gid); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Chmod(tmp, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
