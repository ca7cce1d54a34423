#!/bin/bash
# Runs critest against a private instance of Debian's containerd (1.6) with
# the same local stand-in images as tests/cri's TestCritest uses for berthd,
# to know which specs containerd passes on this machine (the list berthd is
# held to: tests/cri/testdata/critest-containerd-passes.txt, docs/cri.md).
#
# Usage (root, after make build; needs critest from make kube):
#   scripts/critest-containerd.sh [REPORT]
# Everything it starts is stopped by pid and everything it adds is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
W=/var/tmp/berth-critest-ctrd
REG=${BERTH_CRITEST_REGISTRY_ADDR:-127.0.0.1:5599}
REPORT=${1:-$PWD/critest-containerd.txt}
BR=bctrd0
rm -rf "$W"; mkdir -p "$W/net.d" "$W/ipam"
cat > "$W/net.d/10-ctrd.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "ctrd-critest", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.214.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$W/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
cat > "$W/config.toml" <<TOML
version = 2
root = "$W/root"
state = "$W/state"
[grpc]
  address = "$W/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REG/e2e/pause:3.10"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REG"]
    endpoint = ["http://$REG"]
TOML
had_hostport=0; iptables -w -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 && had_hostport=1
/usr/bin/containerd --config "$W/config.toml" > "$W/containerd.log" 2>&1 &
CPID=$!
cleanup() {
  kill "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true
  # Shims and their containers outlive containerd: stop them by pid.
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "-address $W/containerd.sock"; then
      pid=${p#/proc/}; pkill -9 -P "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true
    fi
  done
  sleep 1
  grep -o "$W[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  for cg in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/*/critest*; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  if [ "$had_hostport" = 0 ]; then
    iptables-save -t nat | grep -- '-j CNI-HOSTPORT-' | grep -v '^-A CNI-HOSTPORT-' | sed 's/^-A //' | while read -r r; do eval "iptables -w -t nat -D $r" || true; done
    for c in DNAT SNAT MASQ SETMARK; do iptables -w -t nat -F CNI-HOSTPORT-$c 2>/dev/null || true; done
    for c in DNAT SNAT MASQ SETMARK; do iptables -w -t nat -X CNI-HOSTPORT-$c 2>/dev/null || true; done
  fi
  rm -rf "$W" 2>/dev/null || { sleep 2; rm -rf "$W"; }
}
trap cleanup EXIT
for i in $(seq 100); do [ -S "$W/containerd.sock" ] && break; sleep 0.1; done
BERTH_CRITEST_ENDPOINT="unix://$W/containerd.sock" BERTH_CRITEST_REGISTRY_ADDR="$REG" BERTH_CRITEST_REPORT="$REPORT" \
  go test -count=1 -timeout 40m -run 'TestCritest$' -v ./tests/cri/ | grep -E '^(---|ok|FAIL|PASS)|critest:' || true
echo "report: $REPORT"
