package node

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/swarm"
)

// writePretty writes `node inspect --pretty` of n as docker CLI 28 lays
// it out (rendered client-side from the node's JSON).
func writePretty(b *strings.Builder, n swarm.Node) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("ID:\t\t\t%s", n.ID)
	if n.Spec.Name != "" {
		p("\nName:\t\t\t%s", n.Spec.Name)
	}
	labels(b, "\nLabels:", n.Spec.Labels)
	p("\nHostname:              \t%s", n.Description.Hostname)
	p("\nJoined at:             \t%s", command.PrettyPrint(n.CreatedAt.String()))
	p("\nStatus:\n State:\t\t\t%s", command.PrettyPrint(string(n.Status.State)))
	if n.Status.Message != "" {
		p("\n Message:              \t%s", command.PrettyPrint(n.Status.Message))
	}
	p("\n Availability:         \t%s", command.PrettyPrint(string(n.Spec.Availability)))
	if n.Status.Addr != "" {
		p("\n Address:\t\t%s", n.Status.Addr)
	}
	if ms := n.ManagerStatus; ms != nil {
		leader := "No"
		if ms.Leader {
			leader = "Yes"
		}
		p("\nManager Status:\n Address:\t\t%s\n Raft Status:\t\t%s\n Leader:\t\t%s", ms.Addr, command.PrettyPrint(string(ms.Reachability)), leader)
	}
	p("\nPlatform:\n Operating System:\t%s\n Architecture:\t\t%s", n.Description.Platform.OS, n.Description.Platform.Architecture)
	mem := ""
	if n.Description.Resources.MemoryBytes != 0 {
		mem = units.BytesSize(float64(n.Description.Resources.MemoryBytes))
	}
	p("\nResources:\n CPUs:\t\t\t%d\n Memory:\t\t%s", n.Description.Resources.NanoCPUs/1e9, mem)
	if plugins := n.Description.Engine.Plugins; len(plugins) > 0 {
		byType := map[string][]string{}
		var types []string
		for _, pl := range plugins {
			if byType[pl.Type] == nil {
				types = append(types, pl.Type)
			}
			byType[pl.Type] = append(byType[pl.Type], pl.Name)
		}
		sort.Strings(types)
		p("\nPlugins:")
		for _, t := range types {
			p("\n %s:", t)
			if names := strings.Join(byType[t], ", "); names != "" {
				p("\t\t%s", names)
			}
		}
	}
	p("\nEngine Version:\t\t%s", n.Description.Engine.EngineVersion)
	labels(b, "\nEngine Labels:", n.Description.Engine.Labels)
	if tls := n.Description.TLSInfo; tls.TrustRoot != "" || len(tls.CertIssuerSubject) > 0 || len(tls.CertIssuerPublicKey) > 0 {
		p("\nTLS Info:\n TrustRoot:\n%s\n Issuer Subject:\t%s\n Issuer Public Key:\t%s", tls.TrustRoot,
			base64.StdEncoding.EncodeToString(tls.CertIssuerSubject), base64.StdEncoding.EncodeToString(tls.CertIssuerPublicKey))
	}
	p("\n")
}

// labels writes title and " - KEY[=VALUE]" lines, keys sorted.
func labels(b *strings.Builder, title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(title)
	for _, k := range keys {
		b.WriteString("\n - " + k)
		if m[k] != "" {
			b.WriteString("=" + m[k])
		}
	}
}
