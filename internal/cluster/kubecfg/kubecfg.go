// Package kubecfg merges a cluster's kubeconfig into the user's, as kind and
// minikube do, and takes it out again. It is the client side of `berth
// cluster up/down` and has no dependency on the cluster package.
package kubecfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Path is the file kubectl would write: the first entry of KUBECONFIG, else
// $HOME/.kube/config.
func Path() (string, error) {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		for _, p := range filepath.SplitList(env) {
			if p != "" {
				return p, nil
			}
		}
	}
	home := os.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no KUBECONFIG and no home directory: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".kube", "config"), nil
}

type doc = map[string]any

func read(path string) (doc, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return doc{"apiVersion": "v1", "kind": "Config"}, nil
	}
	if err != nil {
		return nil, err
	}
	d := doc{}
	if err := yaml.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d == nil {
		d = doc{"apiVersion": "v1", "kind": "Config"}
	}
	return d, nil
}

func write(path string, d doc) error {
	b, err := yaml.Marshal(d)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".berth-tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// list returns d[key] as a list of maps.
func list(d doc, key string) []any {
	l, _ := d[key].([]any)
	return l
}

func without(l []any, name string) []any {
	var out []any
	for _, e := range l {
		if m, ok := e.(doc); ok && m["name"] == name {
			continue
		}
		out = append(out, e)
	}
	return out
}

func find(l []any, name string) doc {
	for _, e := range l {
		if m, ok := e.(doc); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// Merge puts the cluster, user and context named name from src (a complete
// kubeconfig) into the file at path, replacing entries of that name, and
// makes it the current context.
func Merge(path string, src []byte, name string) error {
	var in doc
	if err := yaml.Unmarshal(src, &in); err != nil {
		return fmt.Errorf("cluster kubeconfig: %w", err)
	}
	d, err := read(path)
	if err != nil {
		return err
	}
	for _, key := range []string{"clusters", "users", "contexts"} {
		e := find(list(in, key), name)
		if e == nil {
			return fmt.Errorf("cluster kubeconfig has no %s entry %q", strings.TrimSuffix(key, "s"), name)
		}
		d[key] = append(without(list(d, key), name), e)
	}
	d["current-context"] = name
	return write(path, d)
}

// Remove takes the entries named name out of the file at path when its
// cluster points at server (another cluster of that name is left alone). A
// missing file is fine.
func Remove(path, name, server string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	d, err := read(path)
	if err != nil {
		return err
	}
	c := find(list(d, "clusters"), name)
	if c == nil {
		return nil
	}
	if cc, _ := c["cluster"].(doc); server != "" && (cc == nil || cc["server"] != server) {
		return nil
	}
	for _, key := range []string{"clusters", "users", "contexts"} {
		d[key] = without(list(d, key), name)
	}
	if d["current-context"] == name {
		d["current-context"] = ""
	}
	return write(path, d)
}

// Server returns the server URL of the cluster named name in a kubeconfig.
func Server(src []byte, name string) string {
	var in doc
	if yaml.Unmarshal(src, &in) != nil {
		return ""
	}
	if c := find(list(in, "clusters"), name); c != nil {
		if cc, ok := c["cluster"].(doc); ok {
			s, _ := cc["server"].(string)
			return s
		}
	}
	return ""
}
