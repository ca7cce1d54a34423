package cri

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/atomicfile"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandbox is one pod's record, <state-dir>/sandboxes/<id>/sandbox.json,
// with the pod's hostname, hosts and resolv.conf beside it.
type sandbox struct {
	ID      string
	Config  []byte // runtimeapi.PodSandboxConfig, protobuf
	Created int64  // unix ns
	State   runtimeapi.PodSandboxState
	// NetNS, IpcNS, UtsNS: "host" or the pinned namespace's path.
	NetNS, IpcNS, UtsNS string
	IPs                 []string
	RuntimeHandler      string
	// NetworkUp is true between a successful CNI ADD and its DEL.
	NetworkUp bool
	// PausePid is the berth-pause process owning the pod's shared PID
	// namespace (pods with PID namespace mode POD only).
	PausePid int `json:",omitempty"`

	dir string                       `json:"-"`
	cfg *runtimeapi.PodSandboxConfig `json:"-"`
}

func (sb *sandbox) hostnamePath() string   { return filepath.Join(sb.dir, "hostname") }
func (sb *sandbox) hostsPath() string      { return filepath.Join(sb.dir, "hosts") }
func (sb *sandbox) resolvConfPath() string { return filepath.Join(sb.dir, "resolv.conf") }

func (sb *sandbox) save() error { return sb.write(atomicfile.Write) }

// saveNoSync saves without fsync, for a change that a machine crash makes
// moot (see RunPodSandbox).
func (sb *sandbox) saveNoSync() error { return sb.write(atomicfile.WriteNoSync) }

func (sb *sandbox) write(w func(string, []byte, os.FileMode) error) error {
	b, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	return w(filepath.Join(sb.dir, "sandbox.json"), b, 0o600)
}

// sandboxStore holds every sandbox record in memory, keyed by id.
type sandboxStore struct {
	dir string
	mu  sync.Mutex
	m   map[string]*sandbox
	// names reserves "<name>_<namespace>_<uid>_<attempt>" per sandbox id.
	names map[string]string
}

func loadSandboxes(dir string) (*sandboxStore, error) {
	st := &sandboxStore{dir: dir, m: map[string]*sandbox{}, names: map[string]string{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		d := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(filepath.Join(d, "sandbox.json"))
		if err != nil {
			// A sandbox whose creation never finished: nothing to keep.
			os.RemoveAll(d)
			continue
		}
		sb := &sandbox{}
		if err := json.Unmarshal(b, sb); err != nil {
			continue
		}
		sb.dir, sb.cfg = d, &runtimeapi.PodSandboxConfig{}
		if err := proto.Unmarshal(sb.Config, sb.cfg); err != nil {
			continue
		}
		st.m[sb.ID] = sb
		st.names[sandboxName(sb.cfg.GetMetadata())] = sb.ID
	}
	return st, nil
}

func sandboxName(md *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{md.GetName(), md.GetNamespace(), md.GetUid(), itoa(int64(md.GetAttempt()))}, "_")
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// reserve claims name for id; it fails when another sandbox holds it.
func (st *sandboxStore) reserve(name, id string) (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if other, ok := st.names[name]; ok {
		return other, false
	}
	st.names[name] = id
	return "", true
}

func (st *sandboxStore) release(name, id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.names[name] == id {
		delete(st.names, name)
	}
}

func (st *sandboxStore) add(sb *sandbox) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.m[sb.ID] = sb
}

func (st *sandboxStore) remove(sb *sandbox) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, sb.ID)
	if st.names[sandboxName(sb.cfg.GetMetadata())] == sb.ID {
		delete(st.names, sandboxName(sb.cfg.GetMetadata()))
	}
}

var errAmbiguous = errors.New("ambiguous")

// get finds a sandbox by id or unique id prefix.
func (st *sandboxStore) get(id string) (*sandbox, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sb, ok := st.m[id]; ok {
		return sb, nil
	}
	var found *sandbox
	if id != "" {
		for k, sb := range st.m {
			if strings.HasPrefix(k, id) {
				if found != nil {
					return nil, errAmbiguous
				}
				found = sb
			}
		}
	}
	if found == nil {
		return nil, os.ErrNotExist
	}
	return found, nil
}

// list returns every sandbox, oldest first.
func (st *sandboxStore) list() []*sandbox {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*sandbox, 0, len(st.m))
	for _, sb := range st.m {
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out
}

// update changes a record's fields under the store's lock (readers of
// State and IPs take it too) and saves it.
func (st *sandboxStore) update(sb *sandbox, fn func(*sandbox)) error {
	st.mu.Lock()
	fn(sb)
	st.mu.Unlock()
	return sb.save()
}

// view returns a copy of the record for readers.
func (st *sandboxStore) view(sb *sandbox) sandbox {
	st.mu.Lock()
	defer st.mu.Unlock()
	return *sb
}
