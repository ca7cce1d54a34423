// Package version holds the build's version strings (set with -ldflags -X).
package version

var (
	// Version is Berth's release; the API's Server header reports it.
	Version = "0.1.0-dev"
	// GitCommit is the commit the binaries were built from.
	GitCommit = "unknown"
	// BuildTime is when the binaries were built (RFC 3339).
	BuildTime = ""
)

// APIVersion is the newest Engine API version Berth speaks (docker CLI 28's own).
const APIVersion = "1.50"

// MinAPIVersion is the oldest accepted on versioned paths.
const MinAPIVersion = "1.24"
