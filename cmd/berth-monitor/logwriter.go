package main

import (
	"errors"
	"time"

	"github.com/berth-project/berth/internal/logs"
)

// lineWriter is what the monitor needs from a log driver: internal/logs'
// json-file Writer, or its CRI-format writer for Kubernetes containers.
type lineWriter interface {
	Write(stream string, line []byte, t time.Time) error
	Close() error
}

// reopener is a log writer that can start a fresh file at its path.
type reopener interface{ Reopen() error }

func newLogWriter(path, format string, maxSize int64, maxFiles int) (lineWriter, error) {
	if format == "cri" {
		return logs.NewCRIWriter(path)
	}
	return logs.NewWriter(path, maxSize, maxFiles)
}

// reopenLog serves ReopenLog: the kubelet moved the file away to rotate it.
func (m *monitor) reopenLog() error {
	r, ok := m.log.(reopener)
	if !ok {
		return errors.New("container log cannot be reopened")
	}
	return r.Reopen()
}
