package buildcontext

import (
	"strings"
	"testing"
)

// FuzzParseGitURL: whatever the URL, the ref handed to git never starts
// with "-" (it would be read as an option).
func FuzzParseGitURL(f *testing.F) {
	for _, s := range []string{"github.com/a/b", "https://x/y.git#main:sub", "git@h:r.git#v1",
		"https://x/y#--upload-pack=z", "git://h/r#:dir", "http://[::1]:80/r#a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGitURL(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(g.Ref, "-") || g.Ref == "" {
			t.Fatalf("%q gives ref %q", s, g.Ref)
		}
		if strings.HasPrefix(g.URL, "-") {
			t.Fatalf("%q gives URL %q", s, g.URL)
		}
	})
}
