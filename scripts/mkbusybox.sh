#!/usr/bin/env bash
# Writes a busybox root filesystem tar (from Debian's busybox-static) to
# stdout: the image Berth's demo and tests start from, with no registry.
set -euo pipefail
bb=$(command -v busybox)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,root,home/app,www,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
app:x:1000:
nogroup:x:65534:
G
echo '<h1>Hello from a Berth container</h1>' > "$root/www/index.html"
tar --numeric-owner -C "$root" -cf - .
