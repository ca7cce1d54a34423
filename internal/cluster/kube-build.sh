#!/usr/bin/env bash
# Builds the upstream Kubernetes components that `berth cluster up` runs, from the Go module proxy,
# into a cache outside the clone keyed by their versions. A warm cache makes this a no-op; a cold one
# takes about 10 minutes on 2 cores (kube-apiserver alone is ~6 of them).
#
#   scripts/kube-build.sh            build what is missing, print the bin directory
#   BERTH_KUBE_CACHE=DIR             cache root (default /var/cache/berth-kube)
#   BERTH_KUBE_CHECK=1               only check: print the bin directory when complete, else name what
#                                    is missing on stderr and exit 3 (swarm init asks this, never builds)
#
# The binaries are never committed; CI and `berth cluster up` call this script.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin

K8S=v1.37.2
STAGING=v0.37.2
ETCD=v3.7.3
COREDNS=v1.14.7
CRITOOLS=v1.37.0

root=${BERTH_KUBE_CACHE:-/var/cache/berth-kube}
key="k8s-$K8S-etcd-$ETCD-coredns-$COREDNS-critools-$CRITOOLS"
bin=$root/$key/bin
work=$root/$key/work
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns crictl critest)
if [ -n "${BERTH_KUBE_CHECK:-}" ]; then
  # No lock and no directories: a check never waits for a build or leaves anything.
  missing=()
  for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
  if [ ${#missing[@]} -eq 0 ]; then echo "$bin"; exit 0; fi
  echo "kube-missing: $bin: ${missing[*]}" >&2
  exit 3
fi
mkdir -p "$bin" "$work" "$root/logs"
# One build at a time (CI, `make kube` and `berth cluster up` may meet); the second waits, then finds
# the binaries the first made.
exec 9>"$root/.build.lock"
flock 9

missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi
echo "kube-build: building ${missing[*]} into $bin (first use: about 10 minutes)" >&2

# One build cache of our own, so the project's GOCACHE is not evicted by 3 GB of Kubernetes.
export GOCACHE=$root/gocache GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0

# k8s.io/kubernetes replaces its staging modules with ./staging paths; a wrapper module points them
# at the published copies of the same release.
kmod=$work/k8s
if [ ! -f "$kmod/go.sum" ]; then
  mkdir -p "$kmod"
  modfile=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  {
    echo "module berthkubebuild"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$STAGING"'#p' "$modfile"
    echo ")"
  } > "$kmod/go.mod"
  cat > "$kmod/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
EOF
  (cd "$kmod" && go mod tidy)
fi

side_module() { # dir module version pkg...
  local dir=$1 mod=$2 ver=$3; shift 3
  if [ ! -f "$dir/go.sum" ]; then
    mkdir -p "$dir"
    printf 'module berthkubebuild\n\ngo 1.26\n\nrequire %s %s\n' "$mod" "$ver" > "$dir/go.mod"
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
      printf ')\n'
    } > "$dir/tools.go"
    (cd "$dir" && go mod tidy)
  fi
}

kv=${K8S#v}
major=${kv%%.*}; minor=${kv#*.}; minor=${minor%%.*}
kld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build() { # name dir pkg ldflags
  local name=$1 dir=$2 pkg=$3 ld=$4 t0
  t0=$(date +%s)
  (cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ld" -o "$bin/.$name.tmp" "$pkg") \
    > "$root/logs/build-$name.log" 2>&1 || { echo "kube-build: $name failed, see $root/logs/build-$name.log" >&2; tail -20 "$root/logs/build-$name.log" >&2; exit 1; }
  mv "$bin/.$name.tmp" "$bin/$name"
  echo "kube-build: $name in $(( $(date +%s) - t0 )) s" >&2
}

for b in "${missing[@]}"; do
  case $b in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl)
      build "$b" "$kmod" "k8s.io/kubernetes/cmd/$b" "$kld" ;;
    etcd)
      side_module "$work/etcd" go.etcd.io/etcd/server/v3 "$ETCD" go.etcd.io/etcd/server/v3
      build etcd "$work/etcd" go.etcd.io/etcd/server/v3 "-s -w" ;;
    coredns)
      side_module "$work/coredns" github.com/coredns/coredns "$COREDNS" github.com/coredns/coredns
      build coredns "$work/coredns" github.com/coredns/coredns "-s -w" ;;
    crictl|critest)
      side_module "$work/critools" sigs.k8s.io/cri-tools "$CRITOOLS" sigs.k8s.io/cri-tools/cmd/crictl sigs.k8s.io/cri-tools/cmd/critest
      if [ "$b" = crictl ]; then
        build crictl "$work/critools" sigs.k8s.io/cri-tools/cmd/crictl "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRITOOLS"
      else
        # critest is a Ginkgo test binary.
        t0=$(date +%s)
        (cd "$work/critools" && nice -n 10 go test -c -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRITOOLS" -o "$bin/.critest.tmp" sigs.k8s.io/cri-tools/cmd/critest) \
          > "$root/logs/build-critest.log" 2>&1 || { echo "kube-build: critest failed, see $root/logs/build-critest.log" >&2; tail -20 "$root/logs/build-critest.log" >&2; exit 1; }
        mv "$bin/.critest.tmp" "$bin/critest"
        echo "kube-build: critest in $(( $(date +%s) - t0 )) s" >&2
      fi ;;
  esac
done
echo "$bin"
