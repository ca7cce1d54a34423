package testutil

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// BusyboxPath is Debian's static busybox, the only binary in the fixture.
const BusyboxPath = "/usr/bin/busybox"

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
const group = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"

// BusyboxTar builds a minimal rootfs tar: /bin/busybox plus a symlink per
// applet, /etc/passwd and /etc/group with root, app (1000) and nobody
// (65534), and a world-writable sticky /tmp.
func BusyboxTar(w io.Writer) error { return BusyboxTarWith(w, false, nil) }

// BusyboxTarWith is BusyboxTar with the applets as hard links to
// /bin/busybox instead of symlinks when hard is set (as in the official
// busybox image: masking one applet's path then masks only that path), and
// extra executable files (path in the image -> content).
func BusyboxTarWith(w io.Writer, hard bool, extra map[string]string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	list, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	tw := tar.NewWriter(w)
	now := time.Unix(1700000000, 0)
	dirs := []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"etc/", 0o755}, {"tmp/", 0o1777}, {"root/", 0o700}, {"home/", 0o755},
		{"home/app/", 0o755}, {"proc/", 0o755}, {"sys/", 0o755}, {"dev/", 0o755}, {"var/", 0o755}}
	for _, d := range dirs {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: now}
		if d.name == "home/app/" {
			h.Uid, h.Gid = 1000, 1000
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar dir: %w", err)
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"bin/busybox", 0o755, bb}, {"etc/passwd", 0o644, []byte(passwd)}, {"etc/group", 0o644, []byte(group)}}
	for name, content := range extra {
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{strings.TrimPrefix(name, "/"), 0o755, []byte(content)})
	}
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar file: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("tar write: %w", err)
		}
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if _, ok := extra["/bin/"+applet]; ok {
			continue
		}
		h := &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: now}
		if hard {
			h = &tar.Header{Typeflag: tar.TypeLink, Name: "bin/" + applet, Linkname: "bin/busybox", Mode: 0o755, ModTime: now}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar link: %w", err)
		}
	}
	return tw.Close()
}

// BusyboxTarBytes is BusyboxTar into memory.
func BusyboxTarBytes() ([]byte, error) {
	var buf bytes.Buffer
	err := BusyboxTar(&buf)
	return buf.Bytes(), err
}
