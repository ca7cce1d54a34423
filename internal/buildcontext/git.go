package buildcontext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GitRemote is a git context split into what to fetch and what to build.
type GitRemote struct {
	URL    string // the repository, without the fragment
	Ref    string // branch, tag or ref to check out; "master" when not given
	Subdir string // directory inside the repository used as the context
}

// ParseGitURL splits a git context "URL#ref:subdir" like docker: a spec
// with no git transport gets https://, git@host:path is kept as is, the
// ref defaults to master and may not start with "-".
func ParseGitURL(spec string) (GitRemote, error) {
	var g GitRemote
	if !isGitTransport(spec) {
		spec = "https://" + spec
	}
	var fragment string
	if strings.HasPrefix(spec, "git@") {
		// scp-like syntax, not a URL
		g.URL, fragment, _ = strings.Cut(spec, "#")
	} else {
		u, err := url.Parse(spec)
		if err != nil {
			return GitRemote{}, err
		}
		fragment = u.Fragment
		u.Fragment, u.RawFragment = "", ""
		g.URL = u.String()
	}
	g.Ref, g.Subdir, _ = strings.Cut(fragment, ":")
	if g.Ref == "" {
		g.Ref = "master"
	}
	if err := ValidateGitFragment(g.Ref, g.Subdir); err != nil {
		return GitRemote{}, err
	}
	return g, nil
}

// ValidateGitFragment checks the ref and sub-directory of a "#ref:dir"
// fragment before any of it reaches git. A ref that starts with "-" would
// be read as an option (git checkout --pathspec-from-file=/etc/shadow
// prints the host file in its error), so it is refused with dockerd's
// words; so is anything git itself does not allow in a ref name. The
// sub-directory never reaches git, but a NUL or control character in it
// has no business in a path either. An empty ref is allowed (the
// repository's default branch).
func ValidateGitFragment(ref, subdir string) error {
	if ref != "" && !validRef(ref) {
		return fmt.Errorf("invalid refspec: %s", ref)
	}
	if strings.HasPrefix(subdir, "-") || strings.ContainsFunc(subdir, isCtl) {
		return fmt.Errorf("invalid git context sub-directory: %q", subdir)
	}
	return nil
}

// validRef follows git check-ref-format for the characters and sequences
// it forbids, and refuses a leading "-".
func validRef(ref string) bool {
	if strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") || ref == "@" {
		return false
	}
	for _, bad := range []string{"..", "//", "@{", "/."} {
		if strings.Contains(ref, bad) {
			return false
		}
	}
	return !strings.ContainsFunc(ref, func(r rune) bool {
		return isCtl(r) || strings.ContainsRune(" ~^:?*[\\", r)
	})
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

func isGitTransport(s string) bool {
	if strings.HasPrefix(s, "git@") {
		return true
	}
	switch scheme(s) {
	case "git", "http", "https", "ssh":
		return true
	}
	return false
}

func scheme(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme)
}

// FromGit clones the repository into a temporary directory (removed by
// Close) and tars the ref's subdirectory like a local directory. The
// Dockerfile path (-f) is relative to that directory and must stay inside it.
func FromGit(ctx context.Context, spec string, o Options) (c *Context, err error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("unable to find 'git': %w", err)
	}
	g, err := ParseGitURL(spec)
	if err != nil {
		return nil, fmt.Errorf("unable to 'git clone' to temporary context directory: %w", err)
	}
	root, err := os.MkdirTemp("", "berth-build-git")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(root)
		}
	}()
	dir, err := g.clone(ctx, root, o.httpClient())
	if err != nil {
		return nil, fmt.Errorf("unable to 'git clone' to temporary context directory: %w", err)
	}
	if dir, err = resolveDir(dir); err != nil {
		return nil, err
	}
	rel, err := dockerfileRelPath(dir, o.Dockerfile)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("the Dockerfile (%s) must be within the build context", o.Dockerfile)
	}
	var stdinDockerfile io.Reader
	if rel == "-" {
		stdinDockerfile = o.Stdin
	}
	c, err = tarDir(dir, filepath.ToSlash(rel), stdinDockerfile)
	if err != nil {
		return nil, err
	}
	c.cleanup = append(c.cleanup, removeAllFunc(root))
	return c, nil
}

// CloneGit fetches the repository a git context spec ("URL#ref:subdir")
// names into the empty directory root and returns the context directory
// inside it. It is the one git fetcher: the CLI's contexts (FromGit) and
// the daemon's POST /build?remote= both clone through it, with docker's
// rules and protections.
func CloneGit(ctx context.Context, spec, root string, hc *http.Client) (string, error) {
	g, err := ParseGitURL(spec)
	if err != nil {
		return "", err
	}
	return g.clone(ctx, root, hc)
}

// clone fetches g.Ref into root the way docker does (init, remote add,
// fetch --depth 1 when the server can do it, checkout, submodules) and
// returns the context directory inside root.
func (g GitRemote) clone(ctx context.Context, root string, hc *http.Client) (string, error) {
	if out, err := git(ctx, root, "init"); err != nil {
		return "", fmt.Errorf("failed to init repo at %s: %w: %s", root, err, out)
	}
	if out, err := git(ctx, root, "remote", "add", "origin", g.URL); err != nil {
		return "", fmt.Errorf("failed add origin repo at %s: %w: %s", g.URL, err, out)
	}
	fetch := []string{"fetch"}
	if shallowOK(ctx, hc, g.URL) {
		fetch = append(fetch, "--depth", "1")
	}
	if out, err := git(ctx, root, append(fetch, "origin", "--", g.Ref)...); err != nil {
		return "", fmt.Errorf("error fetching: %w: %s", err, out)
	}
	// A branch name checks out by name (so HEAD names the branch); a tag or
	// any other ref is what was just fetched.
	// The ref is validated (no leading "-") and the "--" ends it as a
	// revision: it can never be read as an option or a pathspec.
	if out, err := git(ctx, root, "checkout", g.Ref, "--"); err != nil {
		if _, err2 := git(ctx, root, "checkout", "FETCH_HEAD", "--"); err2 != nil {
			return "", fmt.Errorf("error checking out %s: %w: %s", g.Ref, err, out)
		}
	}
	if out, err := git(ctx, root, "submodule", "update", "--init", "--recursive", "--depth=1"); err != nil {
		return "", fmt.Errorf("error initializing submodules: %w: %s", err, out)
	}
	if g.Subdir == "" {
		return root, nil
	}
	return subdirInRepo(root, g.Subdir)
}

// subdirInRepo resolves sub inside root, refusing anything (a "..", a
// symlink) that would leave the checkout.
func subdirInRepo(root, sub string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	p, err := filepath.EvalSymlinks(filepath.Join(realRoot, sub))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("error setting git context, %q not found: %w", sub, err)
		}
		return "", err
	}
	if rel, err := filepath.Rel(realRoot, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("error setting git context, %q not within git root", sub)
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("error setting git context, not a directory: %s", p)
	}
	return p, nil
}

// git runs git in dir with docker's protections: no file:// submodules
// from a hostile repository, no unsafe transports, and no credential
// prompt that would hang a non-interactive build.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "protocol.file.allow=never"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_PROTOCOL_FROM_USER=0", "GIT_TERMINAL_PROMPT=0")
	return cmd.CombinedOutput()
}

// shallowOK reports whether a shallow fetch works: always for non-HTTP
// transports; over HTTP only with a smart server (a dumb one, plain files,
// cannot serve --depth).
func shallowOK(ctx context.Context, hc *http.Client, remote string) bool {
	if s := scheme(remote); s != "http" && s != "https" {
		return true
	}
	u := remote + "/info/refs?service=git-upload-pack"
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return false
		}
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return resp.Header.Get("Content-Type") == "application/x-git-upload-pack-advertisement"
		}
	}
	return false
}
