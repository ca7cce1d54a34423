// Package hostfw lets the forwarded traffic of berthd's bridges through the
// host's iptables FORWARD path, beside Docker's rules (FORWARD policy DROP,
// the DOCKER-USER chain) and any other iptables ruleset, the way Podman's
// netavark does.
//
// Why this is needed at all: a packet crossing a bridge or routed out of one
// passes every base chain hooked at forward, in every table; an accept in
// berthd's own nftables table ends only that table's verdict, while a drop
// anywhere is final. So where Docker has set FORWARD to DROP, our traffic
// must be accepted in Docker's ruleset itself.
//
// Design:
//   - One chain per daemon in iptables' filter table (the name derives from
//     the daemon's nft table name, so daemons side by side never share one),
//     reached by one jump inserted first in DOCKER-USER where that chain
//     exists (Docker never flushes it and jumps to it before its own rules),
//     else first in FORWARD. Docker's own chains and rules are never
//     modified; only our jump is inserted into and deleted from them.
//   - The chain holds, per bridge: accept what comes out of the bridge
//     (to anywhere, or only back into it for --internal networks), and
//     what goes into it that conntrack knows as RELATED/ESTABLISHED or as
//     DNATed (published ports).
//   - The chain's content is a function of the set of bridges: every
//     change rewrites it (and the jump) in one iptables-restore --noflush
//     transaction, so a stale chain of a crashed daemon with the same name is
//     replaced, never duplicated, and with no bridges left the chain and its
//     jumps are deleted.
//   - A family (iptables, ip6tables) whose FORWARD chain could not drop
//     anything (policy ACCEPT, no rules, no DOCKER-USER) is left alone: no
//     table is created on hosts that use no iptables. It is looked at again
//     on every change, so a Docker that starts later is seen at the next
//     network create.
//   - The iptables and ip6tables binaries are driven, not netlink: they
//     write into whichever backend (nf_tables or legacy xtables) the host's
//     Docker uses, and in the form iptables-nft can read back; native nft
//     rules in iptables-nft's tables make `iptables -S` fail ("chain is
//     incompatible, use 'nft' tool"), which would break Docker's own rule
//     management.
package hostfw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
)

// dockerUser is Docker's chain for user rules, evaluated before its own.
const dockerUser = "DOCKER-USER"

// ChainName derives the daemon's chain name from its nft table name
// ("berth" → "BERTH-FORWARD", "berth-1a2b3c4d" → "BERTH-FORWARD-1a2b3c4d").
// iptables chain names are at most 28 characters.
func ChainName(table string) string {
	s := "BERTH-FORWARD" + strings.TrimPrefix(table, "berth")
	if len(s) > 28 {
		s = s[:28]
	}
	return s
}

// Family is one iptables binary pair.
type Family struct {
	Save    string // lists the filter table's rules ("iptables")
	Restore string // applies a rule set ("iptables-restore")
}

// IPv4 and IPv6 are the host's default binaries, the ones Docker runs.
var (
	IPv4 = Family{"iptables", "iptables-restore"}
	IPv6 = Family{"ip6tables", "ip6tables-restore"}
)

// Firewall keeps the daemon's chain in step with its bridges. It is safe
// for concurrent use.
type Firewall struct {
	chain   string
	fams    []Family
	mu      sync.Mutex
	bridges map[string]bool // bridge name → internal
}

// New returns a Firewall for chain over the families whose binaries exist
// (IPv4 and IPv6 unless fams names others).
func New(chain string, fams ...Family) *Firewall {
	if len(fams) == 0 {
		fams = []Family{IPv4, IPv6}
	}
	f := &Firewall{chain: chain, bridges: map[string]bool{}}
	for _, fam := range fams {
		if _, err := exec.LookPath(fam.Save); err != nil {
			continue
		}
		if _, err := exec.LookPath(fam.Restore); err != nil {
			continue
		}
		f.fams = append(f.fams, fam)
	}
	return f
}

// Chain is the daemon's chain name.
func (f *Firewall) Chain() string { return f.chain }

// Start removes what an earlier daemon of the same name left (a crash):
// the chain and every jump to it.
func (f *Firewall) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncLocked(ctx)
}

// Allow accepts the forwarded traffic of bridge.
func (f *Firewall) Allow(ctx context.Context, bridge string, internal bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridges[bridge] = internal
	return f.syncLocked(ctx)
}

// Revoke removes bridge's rules (the chain goes with the last bridge).
func (f *Firewall) Revoke(ctx context.Context, bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.bridges[bridge]; !ok {
		return nil
	}
	delete(f.bridges, bridge)
	return f.syncLocked(ctx)
}

// Close removes the chain and its jumps.
func (f *Firewall) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.bridges)
	return f.syncLocked(ctx)
}

func (f *Firewall) syncLocked(ctx context.Context) error {
	var errs []error
	for _, fam := range f.fams {
		errs = append(errs, f.syncFamily(ctx, fam))
	}
	return errors.Join(errs...)
}

// state is what `iptables -S` says about the filter table.
type state struct {
	forwardPolicy string
	forwardRules  int      // rules in FORWARD other than our jumps
	dockerUser    bool     // the DOCKER-USER chain exists
	haveChain     bool     // our chain exists
	jumps         []string // "-A X -j <chain>" lines, as listed
}

func (f *Firewall) readState(ctx context.Context, fam Family) (state, error) {
	out, err := run(ctx, nil, fam.Save, "-w", "-t", "filter", "-S")
	if err != nil {
		return state{}, err
	}
	st := state{forwardPolicy: "ACCEPT"}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) < 2:
		case fields[0] == "-P" && fields[1] == "FORWARD" && len(fields) > 2:
			st.forwardPolicy = fields[2]
		case fields[0] == "-N" && fields[1] == dockerUser:
			st.dockerUser = true
		case fields[0] == "-N" && fields[1] == f.chain:
			st.haveChain = true
		case fields[0] == "-A" && slices.Equal(fields[len(fields)-2:], []string{"-j", f.chain}):
			st.jumps = append(st.jumps, line)
		case fields[0] == "-A" && fields[1] == "FORWARD":
			st.forwardRules++
		}
	}
	return st, nil
}

// syncFamily rewrites the chain and its jump for the current bridges, or
// removes both, in one transaction.
func (f *Firewall) syncFamily(ctx context.Context, fam Family) error {
	st, err := f.readState(ctx, fam)
	if err != nil {
		return err
	}
	needed := len(f.bridges) > 0 && (st.forwardPolicy != "ACCEPT" || st.forwardRules > 0 || st.dockerUser)
	if !needed && !st.haveChain && len(st.jumps) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("*filter\n")
	// Declaring a chain in a --noflush restore creates it, or flushes it.
	fmt.Fprintf(&b, ":%s - [0:0]\n", f.chain)
	for _, j := range st.jumps {
		b.WriteString("-D" + strings.TrimPrefix(j, "-A") + "\n")
	}
	if needed {
		for _, br := range slices.Sorted(maps.Keys(f.bridges)) {
			for _, r := range bridgeRules(br, f.bridges[br]) {
				fmt.Fprintf(&b, "-A %s %s\n", f.chain, r)
			}
		}
		from := "FORWARD"
		if st.dockerUser {
			from = dockerUser
		}
		fmt.Fprintf(&b, "-I %s 1 -j %s\n", from, f.chain)
	} else {
		fmt.Fprintf(&b, "-X %s\n", f.chain)
	}
	b.WriteString("COMMIT\n")
	if _, err := run(ctx, &b, fam.Restore, "-w", "--noflush"); err != nil {
		return fmt.Errorf("%s chain %s: %w", fam.Save, f.chain, err)
	}
	return nil
}

// bridgeRules are the rule specs for one bridge.
func bridgeRules(br string, internal bool) []string {
	if internal {
		return []string{fmt.Sprintf("-i %s -o %s -j ACCEPT", br, br)}
	}
	return []string{
		fmt.Sprintf("-i %s -j ACCEPT", br),
		fmt.Sprintf("-o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", br),
		fmt.Sprintf("-o %s -m conntrack --ctstate DNAT -j ACCEPT", br),
	}
}

func run(ctx context.Context, stdin *bytes.Buffer, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// RulesMentioning lists the lines of `iptables -S` and `ip6tables -S`
// (filter table) that name any of words (a chain or an interface) as a
// whole argument: what a daemon would have left behind. For tests and
// diagnostics.
func RulesMentioning(ctx context.Context, words ...string) ([]string, error) {
	var out []string
	for _, fam := range []Family{IPv4, IPv6} {
		if _, err := exec.LookPath(fam.Save); err != nil {
			continue
		}
		s, err := run(ctx, nil, fam.Save, "-w", "-t", "filter", "-S")
		if err != nil {
			return out, err
		}
		for _, line := range strings.Split(s, "\n") {
			for _, f := range strings.Fields(line) {
				if slices.Contains(words, strings.Trim(f, `"`)) {
					out = append(out, fam.Save+" "+line)
					break
				}
			}
		}
	}
	return out, nil
}
