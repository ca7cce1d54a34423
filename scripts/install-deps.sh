#!/usr/bin/env bash
# Installs what Berth needs on a fresh Debian machine: the OCI runtimes, a
# static busybox for the test images, debootstrap for the demo's Debian base,
# iptables to accept our bridges beside Docker's FORWARD rules, the CNI plugins
# and conntrack the CRI and `berth cluster` need, and the tools tests use
# (containerd: the cluster test's comparison runtime).
set -euo pipefail
need=()
for pkg in runc crun busybox-static iproute2 nftables procps util-linux make git ca-certificates curl debootstrap tini docker-compose \
    containernetworking-plugins iptables conntrack containerd python3-docker; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  echo "Go is missing: install Go 1.26 at /usr/local/go" >&2
  exit 1
fi
# The socket's group: members run berth and docker without sudo.
getent group berth >/dev/null || groupadd --system berth
