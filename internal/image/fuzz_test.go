package image

import (
	"strings"
	"testing"
)

// FuzzNormalize checks the reference forms the image store keys on: a
// normalized reference normalizes to itself, its familiar form normalizes
// back to it, and repoOf strips exactly its tag or digest.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"busybox", "library/busybox:1", "127.0.0.1:5000/a/b:c",
		"x@sha256:" + strings.Repeat("a", 64), "UPPER", "a:b:c", "localhost/x", "docker.io/x/y:latest"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalize(s)
		if err != nil {
			return
		}
		if again, err := normalize(n); err != nil || again != n {
			t.Fatalf("normalize(%q) = %q, then %q (%v)", s, n, again, err)
		}
		if back, err := normalize(familiar(n)); err != nil || back != n {
			t.Fatalf("familiar(%q) = %q normalizes to %q (%v)", n, familiar(n), back, err)
		}
		repo := repoOf(n)
		if !strings.HasPrefix(n, repo) || len(n) == len(repo) {
			t.Fatalf("repoOf(%q) = %q", n, repo)
		}
	})
}
