package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
)

// execUser is a resolved --user.
type execUser struct {
	uid, gid uint32
	sgids    []uint32
	home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// readRootFile reads a file inside rootfs without following symlinks out of
// it: an image may make /etc/passwd a link to the host's files.
func readRootFile(rootfs, name string) ([]byte, error) {
	if rootfs == "" {
		return nil, os.ErrNotExist
	}
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// passwd files are small; the cap keeps a hostile image from costing memory.
	return io.ReadAll(io.LimitReader(f, 16<<20))
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	for _, f := range colonLines(b, 7) {
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
	}
	return out
}

func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	for _, f := range colonLines(b, 4) {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: uint32(gid), members: members})
	}
	return out
}

// colonLines splits non-comment lines into exactly n colon-separated
// fields, padding short lines with empty fields.
func colonLines(b []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, ":", n)
		for len(f) < n {
			f = append(f, "")
		}
		out = append(out, f)
	}
	return out
}

// resolveUser resolves "", "name", "uid", "uid:gid", "name:group" and
// GroupAdd against the rootfs's /etc/passwd and /etc/group, with Docker's
// error wording. Numeric ids work without the files.
func resolveUser(rootfs, spec string, groupAdd []string) (*execUser, error) {
	pw, err := readRootFile(rootfs, "etc/passwd")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading /etc/passwd: %w", err)
	}
	gr, err := readRootFile(rootfs, "etc/group")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading /etc/group: %w", err)
	}
	users, groups := parsePasswd(pw), parseGroup(gr)
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := &execUser{home: "/"}
	name := ""
	if e, ok := findUser(users, userPart); ok {
		u.uid, u.gid, u.home, name = e.uid, e.gid, e.home, e.name
	} else if id, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.uid = uint32(id)
	} else {
		return nil, errdefs.Invalidf("unable to find user %s: no matching entries in passwd file", userPart)
	}
	if hasGroup && groupPart != "" {
		gid, err := lookupGroup(groups, groupPart, "unable to find group %s: no matching entries in group file")
		if err != nil {
			return nil, err
		}
		u.gid = gid
	} else if name != "" {
		// Without an explicit group, the user's supplementary groups apply.
		for _, g := range groups {
			if contains(g.members, name) && g.gid != u.gid {
				u.sgids = appendUniq(u.sgids, g.gid)
			}
		}
	}
	for _, ga := range groupAdd {
		gid, err := lookupGroup(groups, ga, "Unable to find group %s")
		if err != nil {
			return nil, err
		}
		u.sgids = appendUniq(u.sgids, gid)
	}
	return u, nil
}

func findUser(users []passwdEntry, s string) (passwdEntry, bool) {
	for _, e := range users {
		if e.name == s {
			return e, true
		}
	}
	if id, err := strconv.ParseUint(s, 10, 32); err == nil {
		for _, e := range users {
			if uint64(e.uid) == id {
				return e, true
			}
		}
	}
	return passwdEntry{}, false
}

func lookupGroup(groups []groupEntry, s, notFound string) (uint32, error) {
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	if id, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(id), nil
	}
	return 0, errdefs.Invalidf(notFound, s)
}

func appendUniq(list []uint32, v uint32) []uint32 {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// withPrimaryGid puts the primary group first in the supplementary list:
// what `id` shows in a Docker container (containerd adds it the same way).
func withPrimaryGid(gid uint32, sgids []uint32) []uint32 {
	out := []uint32{gid}
	for _, g := range sgids {
		if g != gid {
			out = append(out, g)
		}
	}
	return out
}
