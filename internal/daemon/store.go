package daemon

import (
	"sort"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/errdefs"
)

// containerIndex finds containers by full ID, name or unique ID prefix, in
// that order, like dockerd.
type containerIndex struct {
	mu    sync.RWMutex
	byID  map[string]*Container
	names map[string]string // "/name" -> id
	// namesByID is names inverted (id -> its names, link names included),
	// so listing a container's names costs no scan of every name: `ps`
	// over n containers would be n².
	namesByID map[string]map[string]struct{}
}

func newContainerIndex() *containerIndex {
	return &containerIndex{byID: map[string]*Container{}, names: map[string]string{}, namesByID: map[string]map[string]struct{}{}}
}

// setName points name at id. x.mu held.
func (x *containerIndex) setName(name, id string) {
	if old, ok := x.names[name]; ok {
		x.unsetName(name, old)
	}
	x.names[name] = id
	set := x.namesByID[id]
	if set == nil {
		set = map[string]struct{}{}
		x.namesByID[id] = set
	}
	set[name] = struct{}{}
}

// unsetName drops name, which points at id. x.mu held.
func (x *containerIndex) unsetName(name, id string) {
	delete(x.names, name)
	if set := x.namesByID[id]; set != nil {
		delete(set, name)
		if len(set) == 0 {
			delete(x.namesByID, id)
		}
	}
}

func (x *containerIndex) get(ref string) (*Container, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if ref == "" {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	if c, ok := x.byID[ref]; ok {
		return c, nil
	}
	if id, ok := x.names["/"+strings.TrimPrefix(ref, "/")]; ok {
		if c, ok := x.byID[id]; ok {
			return c, nil
		}
	}
	var found *Container
	for id, c := range x.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.Invalidf("multiple IDs found with provided prefix: %s", ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	return found, nil
}

// reserveName claims name for id, failing with Docker's conflict message.
func (x *containerIndex) reserveName(name, id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if other, ok := x.names[name]; ok && other != id {
		return errdefs.Conflictf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other)
	}
	x.setName(name, id)
	return nil
}

func (x *containerIndex) releaseName(name, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.names[name] == id {
		x.unsetName(name, id)
	}
}

func (x *containerIndex) add(c *Container) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[c.ID] = c
	x.setName(c.Name, c.ID)
}

func (x *containerIndex) remove(c *Container) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.byID, c.ID)
	// Its own name and the link names that point at it.
	for n := range x.namesByID[c.ID] {
		delete(x.names, n)
	}
	delete(x.namesByID, c.ID)
}

// list returns all containers, newest first.
func (x *containerIndex) list() []*Container {
	x.mu.RLock()
	out := make([]*Container, 0, len(x.byID))
	for _, c := range x.byID {
		out = append(out, c)
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

func (x *containerIndex) nameTaken(name string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.names[name]
	return ok
}

// byIDLookup finds a container by its full ID only.
func (x *containerIndex) byIDLookup(id string) (*Container, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.byID[id]
	return c, ok
}

// namesOf lists every name that points at id: its own and the
// "/parent/alias" names of links to it, sorted as dockerd lists them.
func (x *containerIndex) namesOf(id, own string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []string{own}
	for n := range x.namesByID[id] {
		if n != own {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
