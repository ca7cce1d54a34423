package layer

import (
	_ "crypto/sha256"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	want := digest.FromString(a.String() + " " + b.String())
	if len(got) != 2 || got[0] != a || got[1] != want {
		t.Errorf("ChainIDs = %v", got)
	}
	if len(ChainIDs(nil)) != 0 {
		t.Error("empty")
	}
}
