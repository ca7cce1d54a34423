#!/usr/bin/env bash
# Builds the Kubernetes components `berth cluster up` runs into /var/cache/berth-kube (see
# internal/cluster/kube-build.sh, which berthd embeds so `cluster up` can build on first use).
exec bash "$(dirname "$0")/../internal/cluster/kube-build.sh" "$@"
