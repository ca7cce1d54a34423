// Package etcfiles writes the /etc/hostname, /etc/hosts and /etc/resolv.conf
// each container gets. The daemon keeps them in the container's directory
// and the runtime spec bind-mounts them; every write before a start is
// atomic (temp file, rename) so a container never sees a half-written
// file; a running container's hosts is rewritten in place (RewriteHosts).
package etcfiles

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/errdefs"
)

// WriteHostname writes "hostname\n".
func WriteHostname(path, hostname string) error {
	return writeAtomic(path, []byte(hostname+"\n"))
}

// defaultHosts is the start of Docker's /etc/hosts.
const defaultHosts = "127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"ff00::0\tip6-mcastprefix\n" +
	"ff02::1\tip6-allnodes\n" +
	"ff02::2\tip6-allrouters\n"

// WriteHosts writes Docker's layout: the loopback and IPv6 multicast names,
// then --add-host entries ("name:ip", the API's form), then one
// "<ip>\t<hostname>" line per container address (with the FQDN first when a
// domain name is set).
func WriteHosts(path string, hostname, domainname string, ips []string, extraHosts []string) error {
	b, err := hosts(hostname, domainname, ips, extraHosts)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// RewriteHosts is WriteHosts for a running container: the file is
// rewritten in place, since the container's bind mount holds the inode
// (a rename would leave it reading the old file), as dockerd does.
func RewriteHosts(path string, hostname, domainname string, ips []string, extraHosts []string) error {
	b, err := hosts(hostname, domainname, ips, extraHosts)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// UpdateHost gives the lines of a running container's hosts file whose
// first name is name the address ip, in place, as dockerd updates a
// parent's link entries when the linked child starts with a new address;
// every other line stays as it is.
func UpdateHost(path, ip, name string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(old), "\n")
	changed := false
	for i, l := range lines {
		addr, rest, ok := strings.Cut(l, "\t")
		if !ok || addr == ip {
			continue
		}
		if first := strings.Fields(rest); len(first) > 0 && first[0] == name {
			lines[i], changed = ip+"\t"+rest, true
		}
	}
	if !changed {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(lines, ""))
	return errors.Join(err, f.Close())
}

func hosts(hostname, domainname string, ips []string, extraHosts []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(defaultHosts)
	for _, eh := range extraHosts {
		name, ip, err := ParseExtraHost(eh)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	names := hostNames(hostname, domainname)
	for _, ip := range ips {
		if names == "" {
			break
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	return b.Bytes(), nil
}

// hostNames are the names of a container's own lines: the FQDN, then the
// bare hostname when it has a domain (given apart or in the hostname), as
// dockerd writes them.
func hostNames(hostname, domainname string) string {
	if hostname == "" {
		return ""
	}
	names := hostname
	if domainname != "" {
		names += "." + domainname
	}
	if short, _, ok := strings.Cut(names, "."); ok {
		names += " " + short
	}
	return names
}

// AddHostEntries appends a running container's lines for ips (a network
// it joined) to its hosts file, in place, as dockerd does on a network
// connect.
func AddHostEntries(path, hostname, domainname string, ips []netip.Addr) error {
	names := hostNames(hostname, domainname)
	if names == "" || len(ips) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	_, err = f.Write(b.Bytes())
	return errors.Join(err, f.Close())
}

// DeleteHostEntries removes a running container's own lines for ips (a
// network it left) from its hosts file, in place; every other line stays,
// as dockerd 28 does on a network disconnect.
func DeleteHostEntries(path, hostname, domainname string, ips []netip.Addr) error {
	names := hostNames(hostname, domainname)
	if names == "" || len(ips) == 0 {
		return nil
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(old), "\n")
	kept := lines[:0]
	for _, l := range lines {
		addr, rest, ok := strings.Cut(strings.TrimSuffix(l, "\n"), "\t")
		if ok && rest == names {
			if a, err := netip.ParseAddr(strings.TrimSpace(addr)); err == nil && slices.Contains(ips, a) {
				continue
			}
		}
		kept = append(kept, l)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(kept, ""))
	return errors.Join(err, f.Close())
}

// ParseExtraHost splits "name:ip" (also "name=ip" and "name:[v6]") at the
// first separator, so IPv6 addresses keep their colons.
func ParseExtraHost(s string) (name, ip string, err error) {
	i := strings.IndexAny(s, ":=")
	if i <= 0 {
		return "", "", errdefs.Invalidf("invalid extra host: %s", s)
	}
	name, ip = s[:i], strings.TrimSuffix(strings.TrimPrefix(s[i+1:], "["), "]")
	if ip == "host-gateway" {
		// The daemon substitutes the gateway before writing.
		return "", "", errdefs.Invalidf("invalid extra host: %s: host-gateway must be resolved by the daemon", s)
	}
	if _, perr := netip.ParseAddr(ip); perr != nil {
		return "", "", errdefs.Invalidf("invalid IP address in add-host: %q", ip)
	}
	return name, ip, nil
}

// writeAtomic replaces path with data so that readers see the old or the
// new content, never a mix. It does not fsync: the files are written anew
// on every start, so a machine crash cannot make a stale one matter, and
// six fsyncs were a millisecond or two of every container start. They are
// bind-mounted into containers that may run as any user: 0644.
func writeAtomic(path string, data []byte) error {
	return atomicfile.WriteNoSync(path, data, 0o644)
}
