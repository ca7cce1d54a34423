#!/usr/bin/env bash
# From nothing to a real app answering on a published port: install
# dependencies, build Berth, start berthd with its defaults, make a Debian
# base image locally (debootstrap from Debian's mirror, imported with
# `berth import`), then build and run Docker's composetest app with
# `berth compose`: a Flask web service (python3-flask, python3-redis from
# Debian, installed inside the build) counting visits in a redis-server
# service, and ask it for the page three times.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
say() { printf '\n==> %s\n' "$*"; }

say "installing dependencies (runc, crun, nftables, ... from Debian)"
./scripts/install-deps.sh

say "building bin/berthd, bin/berth, bin/berth-compose, bin/berth-monitor, bin/berth-registry"
make build
BERTH="./bin/berth"
sock=/run/berth/berth.sock
if ! $BERTH -H unix://$sock version >/dev/null 2>&1; then
  say "starting berthd (log: /var/log/berthd.log)"
  mkdir -p /var/log
  nohup ./bin/berthd >/var/log/berthd.log 2>&1 &
  for _ in $(seq 50); do [ -S $sock ] && $BERTH version >/dev/null 2>&1 && break; sleep 0.1; done
fi
$BERTH version

if ! $BERTH image inspect debian:bookworm >/dev/null 2>&1; then
  say "making a Debian bookworm base image with debootstrap (about a minute)"
  root=$(mktemp -d /var/tmp/berth-debian.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  tar -C "$root" -c . | $BERTH import -c 'CMD ["bash"]' - debian:bookworm
  rm -rf "$root"
fi
if ! $BERTH image inspect busybox:latest >/dev/null 2>&1; then
  ./scripts/mkbusybox.sh | $BERTH import -c 'CMD ["sh"]' - busybox:latest >/dev/null
fi

say "building and starting examples/composetest (Flask web + Redis) with berth compose"
$BERTH compose -f examples/composetest/compose.yaml up -d --build
$BERTH compose -f examples/composetest/compose.yaml ps
say "curl http://127.0.0.1:5000/ (three times: the count is kept in Redis)"
ok=
for _ in $(seq 100); do
  if curl -fsS http://127.0.0.1:5000/ >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { echo "the app did not answer; see: $BERTH compose -f examples/composetest/compose.yaml logs" >&2; exit 1; }
for _ in 1 2 3; do curl -fsS http://127.0.0.1:5000/; done
echo
echo "berthd is running (log: /var/log/berthd.log). Try: DOCKER_HOST=unix://$sock docker ps"
echo "Stop the app with: $BERTH compose -f examples/composetest/compose.yaml down"
