package testutil

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestBusyboxTar(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skip("busybox-static not installed")
	}
	data, err := BusyboxTarBytes()
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
		if strings.HasPrefix(h.Name, "etc/") && h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			contents[h.Name] = string(b)
		}
	}
	if h := entries["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Errorf("bin/sh should link to busybox: %+v", h)
	}
	if h := entries["bin/busybox"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox missing or not executable: %+v", h)
	}
	if h := entries["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/ should be 1777: %+v", h)
	}
	for _, want := range []string{"root:x:0:0:", "app:x:1000:1000:", "nobody:x:65534:65534:"} {
		if !strings.Contains(contents["etc/passwd"], want) {
			t.Errorf("etc/passwd lacks %q", want)
		}
	}
	if !strings.Contains(contents["etc/group"], "nogroup:x:65534:") {
		t.Errorf("etc/group lacks nogroup")
	}
}

func TestMountsUnderSelf(t *testing.T) {
	mps, err := MountsUnder("/proc")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mps {
		found = found || m == "/proc"
	}
	if !found {
		t.Errorf("/proc not among mounts under /proc: %v", mps)
	}
}

func TestPSSOfSelf(t *testing.T) {
	kb, err := PSS(os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	if kb <= 0 {
		t.Errorf("PSS of the test process = %d kB", kb)
	}
}
