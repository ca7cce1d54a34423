//go:build tools

package registry

// The OCI conformance suite is built by TestOCIConformance from the module
// cache; this import keeps its module pinned in go.mod through go mod tidy.
import _ "github.com/opencontainers/distribution-spec/conformance"
