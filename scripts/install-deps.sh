#!/usr/bin/env bash
# Installs what Berth needs on a fresh Debian machine: the OCI runtimes, a
# static busybox for the test images, debootstrap for the demo's Debian base,
# iptables to accept our bridges beside Docker's FORWARD rules, the CNI plugins
# and conntrack the CRI and `berth cluster` need, and the tools tests use
# (containerd: the cluster test's comparison runtime; firewalld and dbus:
# the firewalld coexistence tests, which run their own firewalld in a
# private network namespace on a private bus).
set -euo pipefail
need=()
for pkg in runc crun busybox-static iproute2 nftables procps util-linux make git ca-certificates curl debootstrap tini docker-compose \
    containernetworking-plugins iptables conntrack containerd python3-docker dbus; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
fw=
dpkg -s firewalld >/dev/null 2>&1 || fw=1
export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ] || [ -n "$fw" ]; then
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ -n "$fw" ]; then
  # Installed for the tests only: it must neither start now nor at boot,
  # or it would take over this host's firewall. A policy-rc.d that refuses
  # every start holds during the install (unless the host has its own),
  # and the unit it enables is disabled again.
  guard=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends firewalld
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable firewalld.service >/dev/null 2>&1 || true
  fi
  if [ -n "$guard" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  echo "Go is missing: install Go 1.26 at /usr/local/go" >&2
  exit 1
fi
# The socket's group: members run berth and docker without sudo.
getent group berth >/dev/null || groupadd --system berth
