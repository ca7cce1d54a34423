package etcfiles

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
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

// isLocal reports loopback nameservers (127.0.0.0/8, ::1), e.g. a host's
// systemd-resolved or dnsmasq stub.
func isLocal(s string) bool {
	a, err := netip.ParseAddr(strings.Split(s, "%")[0])
	return err == nil && a.IsLoopback()
}
