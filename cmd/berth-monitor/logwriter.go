package main

import (
	"time"

	"github.com/berth-project/berth/internal/logs"
)

// lineWriter is what the monitor needs from a log driver; internal/logs'
// json-file Writer is the one in use.
type lineWriter interface {
	Write(stream string, line []byte, t time.Time) error
	Close() error
}

func newLogWriter(path string, maxSize int64, maxFiles int) (lineWriter, error) {
	return logs.NewWriter(path, maxSize, maxFiles)
}
