package main

import (
	"os"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
)

// lineWriter is what the monitor needs from a log driver. It matches
// internal/logs.Writer; the json-file stand-in below is used until that
// package is wired in.
type lineWriter interface {
	Write(stream string, line []byte, t time.Time) error
	Close() error
}

// jsonFileWriter writes Docker's json-file format, one object per entry:
// {"log":"...","stream":"stdout","time":"RFC3339Nano"}. It rotates at
// maxSize into path.1 ... path.(maxFiles-1).
type jsonFileWriter struct {
	path     string
	f        *os.File
	size     int64
	maxSize  int64
	maxFiles int
	buf      []byte
}

func newLogWriter(path string, maxSize int64, maxFiles int) (lineWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &jsonFileWriter{path: path, f: f, size: st.Size(), maxSize: maxSize, maxFiles: maxFiles}, nil
}

func (w *jsonFileWriter) Write(stream string, line []byte, t time.Time) error {
	b := append(w.buf[:0], `{"log":`...)
	b = proto.AppendJSONString(b, string(line))
	b = append(b, `,"stream":`...)
	b = proto.AppendJSONString(b, stream)
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	w.buf = b[:0]
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(b)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

func (w *jsonFileWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i > 1; i-- {
			os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
		}
		os.Rename(w.path, w.path+".1")
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	return nil
}

func (w *jsonFileWriter) Close() error { return w.f.Close() }
