package buildcontext

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// gitSuffix is docker's rule for http(s) URLs that name a git repository:
// the path ends in ".git", optionally followed by a "#ref:dir" fragment.
var gitSuffix = regexp.MustCompile(`\.git(?:#.+)?$`)

// IsURL reports whether s is an http(s) URL (no further validation, as docker).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// IsGitURL reports whether s names a git repository the way docker decides
// it: an http(s) URL ending in .git[#fragment], or a git://, git@ or
// (legacy) github.com/ prefix.
func IsGitURL(s string) bool {
	if IsURL(s) && gitSuffix.MatchString(s) {
		return true
	}
	for _, p := range []string{"git://", "github.com/", "git@"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Detect tells what kind of context spec is. An existing local path wins
// over the URL forms, as in docker (so a directory named github.com/x is a
// directory).
func Detect(spec string) (Kind, error) {
	switch {
	case spec == "-":
		return KindStdin, nil
	case exists(spec):
		return KindLocal, nil
	case IsGitURL(spec):
		return KindGit, nil
	case IsURL(spec):
		return KindRemote, nil
	}
	return "", fmt.Errorf("unable to prepare context: path %q not found", spec)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
