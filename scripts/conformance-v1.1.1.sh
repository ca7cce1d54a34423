#!/bin/sh
# Runs the OCI distribution-spec conformance suite as tagged v1.1.1 against a
# fresh berth-registry on loopback. The module proxy does not serve that
# version of the suite (only pseudo-versions it has cached; TestOCIConformance
# runs the newer one pinned in go.mod), so the suite is built from a git
# checkout of github.com/opencontainers/distribution-spec given as $1.
#
#   scripts/conformance-v1.1.1.sh /path/to/distribution-spec
set -eu
spec=${1:?usage: $0 DISTRIBUTION-SPEC-GIT-DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/berth-conformance.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

git -C "$spec" archive v1.1.1 conformance | tar -x -C "$work"
(cd "$work/conformance" && GOFLAGS=-mod=mod go test -c -o "$work/conformance.test" .)
(cd "$here" && go build -o "$work/berth-registry" ./cmd/berth-registry)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/berth-registry" serve --addr "127.0.0.1:$port" --root "$work/root" --log-level error &
pid=$!
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.1
done

cd "$work"
OCI_ROOT_URL="http://127.0.0.1:$port" \
OCI_NAMESPACE=conformance/repo1 \
OCI_CROSSMOUNT_NAMESPACE=conformance/repo2 \
OCI_TEST_PULL=1 OCI_TEST_PUSH=1 \
OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
OCI_REPORT_DIR="$work/report" \
	./conformance.test
