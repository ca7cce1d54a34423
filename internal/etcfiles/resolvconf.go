package etcfiles

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// defaultDNS is what Docker falls back to when the host only lists local
// resolvers, which a container in its own network namespace cannot reach.
var defaultDNS = []string{"8.8.8.8", "8.8.4.4"}

// WriteResolvConf writes the container's resolv.conf: the host's file
// (hostResolvConf, missing = empty) without loopback nameservers, falling
// back to 8.8.8.8 and 8.8.4.4 when none remain; --dns, --dns-search and --dns-option
// replace the nameserver, search/domain and options lines. A --dns-search
// of "." means no search domains, as in Docker.
func WriteResolvConf(path, hostResolvConf string, dns, search, options []string) error {
	host, err := os.ReadFile(hostResolvConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", hostResolvConf, err)
	}
	return writeAtomic(path, BuildResolvConf(host, dns, search, options))
}

// BuildResolvConf returns the content WriteResolvConf writes.
func BuildResolvConf(host []byte, dns, search, options []string) []byte {
	return build(host, dns, search, options, false)
}

// BuildEmbeddedResolvConf is BuildResolvConf for a container that asks the
// embedded DNS at ns (which forwards to the host's or the --dns servers):
// ns is the only nameserver, and ndots:0 is added unless the host's file
// or --dns-option set ndots, as dockerd does for its internal resolver.
func BuildEmbeddedResolvConf(host []byte, ns string, search, options []string) []byte {
	return build(host, []string{ns}, search, options, true)
}

// ReadHostResolvConf reads the host's resolv.conf (missing = empty).
func ReadHostResolvConf(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// WriteResolvConfData writes a container's resolv.conf before it starts,
// and beside it the hash RewriteResolvConf compares, so that a file the
// container's user edited is left alone later, as dockerd's .hash file does.
func WriteResolvConfData(path string, data []byte) error {
	if err := writeAtomic(path, data); err != nil {
		return err
	}
	return writeAtomic(path+".hash", []byte(hashOf(data)))
}

// RewriteResolvConf gives a running container's resolv.conf new content in
// place (its bind mount holds the inode), unless the file is no longer
// what was last written (edited inside the container): then it stays, and
// false is returned. A file without a hash beside it (written by an older
// berthd) counts as unedited.
func RewriteResolvConf(path string, data []byte) (bool, error) {
	cur, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if bytes.Equal(cur, data) {
		return true, nil
	}
	if want, err := os.ReadFile(path + ".hash"); err == nil && string(want) != hashOf(cur) {
		return false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err != nil {
		return false, err
	}
	return true, writeAtomic(path+".hash", []byte(hashOf(data)))
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func build(host []byte, dns, search, options []string, embedded bool) []byte {
	var other, servers, hostSearch, hostOptions []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "nameserver" && len(f) > 1:
			if !isLocal(f[1]) {
				servers = append(servers, f[1])
			}
		case f[0] == "search" || f[0] == "domain":
			// The last search/domain line wins, as in the resolver.
			hostSearch = f[1:]
		case f[0] == "options":
			hostOptions = append(hostOptions, f[1:]...)
		default:
			other = append(other, line)
		}
	}
	if len(dns) > 0 {
		servers = dns
	} else if len(servers) == 0 {
		servers = defaultDNS
	}
	if len(search) > 0 {
		hostSearch = search
		if len(search) == 1 && search[0] == "." {
			hostSearch = nil
		}
	}
	if len(options) > 0 {
		hostOptions = options
	}
	if embedded {
		// An invalid ndots gives way to the resolver's, as in dockerd.
		hostOptions = slices.DeleteFunc(slices.Clone(hostOptions), func(o string) bool {
			return strings.HasPrefix(o, "ndots:") && !validNdots(o)
		})
		if !slices.ContainsFunc(hostOptions, validNdots) {
			hostOptions = append(hostOptions, "ndots:0")
		}
	}
	var b bytes.Buffer
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	if len(hostSearch) > 0 {
		b.WriteString("search " + strings.Join(hostSearch, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(hostOptions) > 0 {
		b.WriteString("options " + strings.Join(hostOptions, " ") + "\n")
	}
	return b.Bytes()
}

// validNdots reports an "ndots:N" option with N a number from 0 on.
func validNdots(o string) bool {
	v, ok := strings.CutPrefix(o, "ndots:")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 0
}

// isLocal reports loopback nameservers (127.0.0.0/8, ::1), e.g. a host's
// systemd-resolved or dnsmasq stub.
func isLocal(s string) bool {
	a, err := netip.ParseAddr(strings.Split(s, "%")[0])
	return err == nil && a.IsLoopback()
}
