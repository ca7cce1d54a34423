#!/usr/bin/env bash
# From nothing to a running container: install dependencies, build, start
# berthd with its defaults, make a busybox image and run a web server in a
# container with a published port, then ask it for a page. (Building the app
# from a Dockerfile comes with the builder issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
./scripts/install-deps.sh
make build
BERTH="./bin/berth"
sock=/run/berth/berth.sock
if ! $BERTH -H unix://$sock version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup ./bin/berthd >/var/log/berthd.log 2>&1 &
  for _ in $(seq 50); do [ -S $sock ] && $BERTH version >/dev/null 2>&1 && break; sleep 0.1; done
fi
$BERTH version
if ! $BERTH image inspect busybox:latest >/dev/null 2>&1; then
  ./scripts/mkbusybox.sh | $BERTH import - busybox:latest
fi
$BERTH rm -f berth-demo >/dev/null 2>&1 || true
# A web server in a container on the default bridge, published on port 8080.
$BERTH run -d --name berth-demo -p 8080:80 busybox httpd -f -p 80 -h /www
$BERTH ps
for _ in $(seq 30); do
  if out=$(wget -qO- http://127.0.0.1:8080/ 2>/dev/null || curl -fsS http://127.0.0.1:8080/ 2>/dev/null); then
    echo "$out"; break
  fi
  sleep 0.1
done
echo "berthd is running (log: /var/log/berthd.log); try: DOCKER_HOST=unix://$sock docker ps"
