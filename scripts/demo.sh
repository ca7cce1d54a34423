#!/usr/bin/env bash
# From nothing to a real app answering on a published port: install
# dependencies, build Berth, start berthd with its defaults, make a Debian
# base image locally (debootstrap from Debian's mirror, imported with
# `berth import`), build examples/friendlyhello from its Dockerfile (Flask
# installed from Debian's packages inside the build), run it with -p and
# ask it for a page.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
say() { printf '\n==> %s\n' "$*"; }

say "installing dependencies (runc, crun, nftables, ... from Debian)"
./scripts/install-deps.sh

say "building bin/berthd, bin/berth, bin/berth-monitor, bin/berth-registry"
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

say "building examples/friendlyhello from its Dockerfile"
$BERTH build -t friendlyhello examples/friendlyhello

say "running it with port 4000 published"
$BERTH rm -f friendlyhello >/dev/null 2>&1 || true
$BERTH run -d --name friendlyhello -p 4000:80 friendlyhello
$BERTH ps
for _ in $(seq 50); do
  if out=$(curl -fsS http://127.0.0.1:4000/ 2>/dev/null); then
    say "curl http://127.0.0.1:4000/"
    echo "$out"
    break
  fi
  sleep 0.2
done
[ -n "${out:-}" ] || { echo "the app did not answer; see: $BERTH logs friendlyhello" >&2; exit 1; }
echo
echo "berthd is running (log: /var/log/berthd.log); try: DOCKER_HOST=unix://$sock docker ps"
