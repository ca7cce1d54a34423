// Package hostiletar makes the archives an attacker would hand to Berth:
// entries that climb out of their root, write through symlinks and
// hardlinks, create devices or setuid files, or stress the tar reader. It
// serves tests and fuzz seeds of every path that unpacks a tar (image
// import, load and pull layers, cp, ADD and build contexts); the product
// code never imports it.
package hostiletar

import (
	"archive/tar"
	"bytes"
	"strings"
	"time"
)

// Case is one hostile archive. Escape names the cases whose entries try to
// leave the extraction root: a safe extractor refuses them or keeps every
// write inside; the others may unpack, but must not crash or write outside.
type Case struct {
	Name   string
	Tar    []byte
	Escape bool
}

// Entry is one tar header and its body.
type Entry struct {
	Hdr  tar.Header
	Body []byte
}

// Build writes entries as a tar stream. Bodies set the size; a zero mode
// becomes 0755; times are fixed so the bytes are reproducible.
func Build(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Hdr
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		h.ModTime = time.Unix(1700000000, 0)
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			panic("hostiletar: " + e.Hdr.Name + ": " + err.Error())
		}
		if len(e.Body) > 0 {
			if _, err := tw.Write(e.Body); err != nil {
				panic("hostiletar: " + err.Error())
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic("hostiletar: " + err.Error())
	}
	return buf.Bytes()
}

func file(name, body string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, Body: []byte(body)}
}
func dir(name string) Entry { return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeDir}} }
func symlink(name, target string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}
func hardlink(name, target string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// Corpus returns every hostile archive. outside is a directory that the
// escaping cases aim at by absolute path (give a fresh empty one and check
// it stays empty); the relative escapes aim at the root's parents and at
// /tmp/berth-hostile-pwned.
func Corpus(outside string) []Case {
	long := strings.Repeat("d/", 2100) + "f" // > PATH_MAX
	longName := strings.Repeat("n", 300)     // > NAME_MAX
	return []Case{
		{Name: "dotdot", Escape: true, Tar: Build(file("../pwned", "x"))},
		{Name: "deep dotdot", Escape: true, Tar: Build(dir("a/"), file("a/../../pwned", "x"))},
		{Name: "dotdot to tmp", Escape: true, Tar: Build(file("../../../../../../../tmp/berth-hostile-pwned", "x"))},
		{Name: "absolute", Escape: true, Tar: Build(file(outside+"/abs", "x"))},
		{Name: "symlink then write", Escape: true, Tar: Build(symlink("link", outside), file("link/pwned", "x"))},
		{Name: "relative symlink then write", Escape: true, Tar: Build(dir("d/"),
			symlink("d/up", "../../../../../../../../.."), file("d/up/tmp/berth-hostile-pwned", "x"))},
		// The next two aim outside too, but a correct extractor replaces the
		// symlink by the later entry and so may accept them: only "nothing
		// outside" is required of them.
		{Name: "symlink then overwrite target", Tar: Build(symlink("f", outside+"/victim"), file("f", "x"))},
		{Name: "symlink chain", Escape: true, Tar: Build(symlink("a", "b"), symlink("b", outside), file("a/pwned", "x"))},
		{Name: "hardlink absolute", Escape: true, Tar: Build(hardlink("passwd", "/etc/passwd"))},
		{Name: "hardlink dotdot", Escape: true, Tar: Build(hardlink("passwd", "../../../../../../etc/passwd"))},
		{Name: "hardlink through symlink", Escape: true, Tar: Build(symlink("s", "/etc"), hardlink("passwd", "s/passwd"))},
		{Name: "hardlink then write", Escape: true, Tar: Build(symlink("s", outside), file("t", "x"),
			hardlink("s/h", "t"))},
		{Name: "whiteout dotdot", Escape: true, Tar: Build(file(".wh...", ""), file("a/.wh.../../pwned", ""))},
		{Name: "char device", Tar: Build(Entry{Hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}})},
		{Name: "block device", Tar: Build(Entry{Hdr: tar.Header{Name: "vda", Typeflag: tar.TypeBlock, Devmajor: 253, Devminor: 0, Mode: 0o660}})},
		{Name: "fifo", Tar: Build(Entry{Hdr: tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644}})},
		{Name: "setuid root file", Tar: Build(Entry{Hdr: tar.Header{Name: "su", Typeflag: tar.TypeReg, Mode: 0o4755}, Body: []byte("#!/bin/sh\n")})},
		{Name: "huge pax record", Tar: hugePAX()},
		{Name: "size beyond data", Tar: truncatedBody()},
		{Name: "long path", Tar: Build(file(long, "x"))},
		{Name: "long name", Tar: Build(file(longName, "x"))},
		{Name: "duplicate file then dir", Tar: Build(file("x", "1"), dir("x/"), file("x/y", "2"))},
		{Name: "duplicate dir then file", Tar: Build(dir("x/"), file("x/y", "2"), file("x", "1"))},
		{Name: "duplicate symlink then dir", Tar: Build(symlink("x", outside), dir("x/"), file("x/pwned", "x"))},
		{Name: "symlink loop", Tar: Build(symlink("a", "b"), symlink("b", "a"), file("a/x", "x"))},
		{Name: "empty name", Tar: Build(Entry{Hdr: tar.Header{Name: "", Typeflag: tar.TypeReg}, Body: []byte("x")})},
		{Name: "nul in name", Tar: nulName()},
		{Name: "not a tar", Tar: bytes.Repeat([]byte("garbage!"), 200)},
		{Name: "truncated header", Tar: Build(file("a", "x"))[:300]},
	}
}

// hugePAX is a PAX extended header whose record claims a length far
// beyond the data, followed by a file.
func hugePAX() []byte {
	rec := []byte("999999999999 comment=x\n")
	b := rawHeader("PaxHeaders/big", 'x', int64(len(rec)))
	b = append(b, pad(rec)...)
	return append(b, Build(file("big", "x"))...)
}

// rawHeader is a ustar header block written by hand, for headers that
// archive/tar refuses to write.
func rawHeader(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	sz := octal(size)
	copy(b[124:], strings.Repeat("0", 11-len(sz))+sz+"\x00")
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	setChecksum(b)
	return b
}

func pad(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// setChecksum recomputes a header block's checksum (bytes 148..155).
func setChecksum(b []byte) {
	var sum int64
	for j, c := range b[:512] {
		if j >= 148 && j < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	copy(b[148:156], []byte(strings.Repeat("0", 6-len(octal(sum)))+octal(sum)+"\x00 "))
}

// truncatedBody announces 1 GiB of data and ends after a few bytes.
func truncatedBody() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 30}); err != nil {
		panic(err)
	}
	tw.Write([]byte("only a little"))
	return buf.Bytes()
}

// nulName has a NUL byte in the middle of an entry name, written into a
// valid header by hand (archive/tar refuses to write it).
func nulName() []byte {
	b := Build(file("abcXdef", "x"))
	i := bytes.Index(b, []byte("abcXdef"))
	b[i+3] = 0
	setChecksum(b)
	return b
}

func octal(n int64) string {
	if n == 0 {
		return "0"
	}
	var s []byte
	for n > 0 {
		s = append([]byte{byte('0' + n%8)}, s...)
		n /= 8
	}
	return string(s)
}
