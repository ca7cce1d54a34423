// Package layering holds the test that keeps the import rules of
// docs/architecture.md ("Layers"): every package under internal/ belongs to
// one layer, and a package may import only the layers its own may.
package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/berth-project/berth/"

// layers maps a package (or a folder and everything below it) to its layer;
// the longest matching prefix wins. A new package must be placed here.
var layers = map[string]string{
	"cmd": "cmd",

	"internal/api":   "frontend",
	"internal/cri":   "frontend",
	"internal/swarm": "frontend",

	"internal/engine": "contract",

	"internal/daemon":  "backend",
	"internal/backend": "backend",

	"internal/archive":    "part",
	"internal/builder":    "part",
	"internal/cgroups":    "part",
	"internal/cgroupwarm": "part",
	"internal/cluster":    "part",
	"internal/cni":        "part",
	"internal/console":    "part",
	// Crash-consistency test hook: the backends die at a named point.
	"internal/crashpoint":   "part",
	"internal/daemonconfig": "part",
	"internal/distribution": "part",
	"internal/events":       "part",
	"internal/image":        "part",
	"internal/logs":         "part",
	"internal/monitor":      "part",
	"internal/network":      "part",
	"internal/oci":          "part",
	"internal/registry":     "part",
	"internal/runtime":      "part",
	"internal/safepath":     "part",
	"internal/swarmproc":    "part",
	"internal/volume":       "part",

	"internal/client":  "client",
	"internal/cli":     "client",
	"internal/compose": "client",

	"internal/atomicfile":   "shared",
	"internal/buildcontext": "shared",
	// The kubeconfig format: berthd writes the cluster's, the CLI reads it.
	"internal/cluster/kubecfg": "shared",
	"internal/detachkeys":      "shared",
	"internal/errdefs":         "shared",
	"internal/etcfiles":        "shared",
	"internal/filters":         "shared",
	"internal/imageref":        "shared",
	"internal/jsonstream":      "shared",
	"internal/stdcopy":         "shared",
	"internal/version":         "shared",

	"internal/layering": "shared",
	// Address arithmetic over moby's IPAM types, no I/O: the network
	// manager allocates with it, and the API checks a request with it
	// before anything else from API 1.44 on, as dockerd 25+ does (the
	// version is the HTTP layer's to know).
	"internal/network/ipam": "shared",

	// Test support: imported by tests only, never by product code.
	"internal/hostiletar": "test",
}

// may lists the layers each layer may import besides itself.
var may = map[string][]string{
	"cmd":      {"frontend", "contract", "backend", "part", "client", "shared"},
	"frontend": {"contract", "shared"},
	"contract": {"shared"},
	"backend":  {"contract", "part", "shared"},
	"part":     {"contract", "shared"},
	"client":   {"shared"},
	"shared":   {},
	"test":     {"shared"},
}

// apart are the groups of one layer that must not import each other: the
// front ends are peers over the contract, and so are the backends, which
// ask each other for small interfaces handed over in cmd/berthd.
var apart = map[string][]string{
	"frontend": {"internal/api", "internal/cri", "internal/swarm"},
	"backend":  {"internal/daemon", "internal/backend/networks", "internal/backend/volumes", "internal/backend/images", "internal/backend/builds", "internal/backend/system", "internal/backend/clusters"},
	// These command groups are built from internal/cli/command and the
	// client only; what one needs of another (run's pull of a missing
	// image) is handed over by the root, internal/cli. The groups that
	// meet on a command of docker's (system prune and df run the
	// container, image and builder groups' logic) import those groups'
	// exported functions, below the root (clientViolation).
	"client": {"internal/cli/container", "internal/cli/cluster", "internal/cli/swarm", "internal/cli/service", "internal/compose"},
}

// allowed are the edges that break the rules on purpose, with the reason.
var allowed = map[[2]string]string{
	// The CRI front end sets up its pods' networks with CNI plugins, as
	// the kubelet expects of a CRI runtime; nothing else runs them.
	{"internal/cri", "internal/cni"}: "pod networking is the CRI's own",
	// Groups in internal/cli/<group>/ and the compose commands are built
	// from the shared command package and the client.
	{"internal/cli", "internal/compose"}:        "berth compose is a CLI group",
	{"internal/cli", "internal/client"}:         "the CLI is a client",
	{"internal/compose", "internal/client"}:     "compose is a client",
	{"internal/cli/command", "internal/client"}: "commands get the client",
}

// The client side has an order of its own: the Engine API client under
// everything; the shared command helpers, docker's client config and
// compose over it; the command groups (internal/cli/<group>/) over those,
// and the root command (internal/cli) over the groups. A group may use
// another group's exported logic (system prune runs image prune), never
// the root.
var clientBase = map[string]int{
	"internal/client":           0,
	"internal/cli/command":      1,
	"internal/cli/dockerconfig": 1,
	"internal/compose":          1,
}

// clientRank places a client-side package in that order.
func clientRank(pkg string) int {
	if r, ok := clientBase[pkg]; ok {
		return r
	}
	switch {
	case pkg == "internal/cli":
		return 3
	case strings.HasPrefix(pkg, "internal/cli/"):
		return 2
	}
	return 3
}

// clientViolation reports an import against the client side's order.
func clientViolation(pkg, dep string) string {
	from, to := clientRank(pkg), clientRank(dep)
	switch {
	case from < to:
		return pkg + " imports " + dep + " (on the client side the client, command helpers, groups and root stack in that order)"
	case from == to && from < 2:
		return pkg + " imports " + dep + " (the client side's base packages stay apart)"
	}
	return ""
}

func layerOf(pkg string) (string, string) {
	best := ""
	for p := range layers {
		if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return "", ""
	}
	return layers[best], best
}

// groupOf is the apart group of pkg in its layer ("" when none).
func groupOf(layer, pkg string) string {
	for _, g := range apart[layer] {
		if pkg == g || strings.HasPrefix(pkg, g+"/") {
			return g
		}
	}
	return ""
}

// imports reads the module-internal imports of every non-test Go file
// under the repository's cmd/ and internal/, by package directory.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			pkg := filepath.ToSlash(rel)
			if out[pkg] == nil {
				out[pkg] = map[string]bool{}
			}
			for _, im := range f.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if strings.HasPrefix(p, module) {
					out[pkg][strings.TrimPrefix(p, module)] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// violations lists the imports that break the rules, as "a imports b (why)".
func violations(graph map[string]map[string]bool) []string {
	var bad []string
	for pkg, deps := range graph {
		from, _ := layerOf(pkg)
		if from == "" {
			bad = append(bad, pkg+" has no layer: place it in layering_test.go and docs/architecture.md")
			continue
		}
		for dep := range deps {
			if _, ok := allowed[[2]string{pkg, dep}]; ok {
				continue
			}
			to, _ := layerOf(dep)
			switch {
			case to == from:
				if g, h := groupOf(from, pkg), groupOf(to, dep); g != "" && h != "" && g != h {
					bad = append(bad, pkg+" imports "+dep+" (peers in the "+from+" layer stay apart)")
				}
				if from == "client" {
					if v := clientViolation(pkg, dep); v != "" {
						bad = append(bad, v)
					}
				}
			case !contains(may[from], to):
				bad = append(bad, pkg+" imports "+dep+" (a "+from+" package may not import the "+to+" layer)")
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	graph := imports(t, root)
	if len(graph) < 20 || len(graph["internal/api"]) == 0 {
		t.Fatalf("read only %d packages; the walk is broken", len(graph))
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// TestRulesCatch makes sure the rules do fire: the imports this layering
// exists to forbid are reported.
func TestRulesCatch(t *testing.T) {
	for _, edge := range [][2]string{
		{"internal/daemon", "internal/api"},                   // the engine on its transport
		{"internal/api", "internal/builder"},                  // a front end on an engine part
		{"internal/api", "internal/daemon"},                   // a front end on a backend
		{"internal/cri", "internal/api"},                      // front ends are peers
		{"internal/backend/networks", "internal/daemon"},      // backends are peers
		{"internal/engine", "internal/image"},                 // the contract on a part
		{"internal/image", "internal/daemon"},                 // a part on a backend
		{"internal/cli", "internal/engine"},                   // the client on the server
		{"internal/cli/container", "internal/compose"},        // command groups are peers
		{"internal/client", "internal/cli/command"},           // the API client on the commands
		{"internal/cli/command", "internal/cli/image"},        // shared helpers on a group
		{"internal/cli/image", "internal/cli"},                // a group on the root command
		{"internal/compose", "internal/cli/image"},            // compose on a command group
		{"internal/cli/dockerconfig", "internal/cli/command"}, // the base packages are apart
		{"internal/errdefs", "internal/filters/x"},            // shared on a package with no layer
	} {
		graph := map[string]map[string]bool{edge[0]: {edge[1]: true}}
		if edge[1] == "internal/filters/x" {
			graph = map[string]map[string]bool{"internal/nowhere": {"internal/errdefs": true}}
		}
		if len(violations(graph)) == 0 {
			t.Errorf("%s -> %s passes the rules", edge[0], edge[1])
		}
	}
}
