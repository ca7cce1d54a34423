package daemon

import (
	"reflect"
	"testing"
)

// TestContainerIndexNames: the names pointing at a container (its own and
// link names) follow reserve, release, re-pointing and removal.
func TestContainerIndexNames(t *testing.T) {
	x := newContainerIndex()
	a, b := &Container{ID: "aaaa", Name: "/a"}, &Container{ID: "bbbb", Name: "/b"}
	x.add(a)
	x.add(b)
	if err := x.reserveName("/b/alias", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := x.reserveName("/b/alias", b.ID); err == nil {
		t.Error("a name taken by another container was reserved")
	}
	if got, want := x.namesOf(a.ID, a.Name), []string{"/a", "/b/alias"}; !reflect.DeepEqual(got, want) {
		t.Errorf("namesOf(a) = %v, want %v", got, want)
	}
	if got, want := x.namesOf(b.ID, b.Name), []string{"/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("namesOf(b) = %v, want %v", got, want)
	}
	x.releaseName("/b/alias", b.ID) // not b's: no effect
	if !x.nameTaken("/b/alias") {
		t.Error("releasing another container's name dropped it")
	}
	x.releaseName("/b/alias", a.ID)
	if x.nameTaken("/b/alias") || len(x.namesOf(a.ID, a.Name)) != 1 {
		t.Errorf("released link name still listed: %v", x.namesOf(a.ID, a.Name))
	}
	x.reserveName("/c/alias", a.ID)
	x.remove(a)
	if x.nameTaken("/a") || x.nameTaken("/c/alias") {
		t.Error("names of a removed container are still taken")
	}
	if _, ok := x.namesByID[a.ID]; ok {
		t.Error("removed container still in namesByID")
	}
	if c, err := x.get("/b"); err != nil || c != b {
		t.Errorf("get(/b) = %v, %v", c, err)
	}
}
