#!/usr/bin/env bash
# nsgate's main job in one go: a web server in new user + network namespaces, reached from the host
# through a published port (builtin driver over slirp4netns). Prints the page it fetched, then stops nsgate.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in newuidmap slirp4netns busybox curl; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is missing: sudo apt-get install uidmap slirp4netns busybox-static curl" >&2; exit 1; }
done
[ -f dist/bundle/nsgate.js ] || npm run build >/dev/null

port=${PORT:-8080}
www=$(mktemp -d)
echo "hello from inside nsgate's namespace" > "$www/index.html"
chmod -R a+rX "$www"

# As Docker's rootless script runs it: no way to the host's loopback, and a private /etc (for resolv.conf).
node dist/bundle/nsgate.js --net=slirp4netns --disable-host-loopback --copy-up=/etc --port-driver=builtin --publish "127.0.0.1:$port:80/tcp" \
  -- busybox httpd -f -p 80 -h "$www" 2>"$www.log" &
nsgate=$!
# Stopping it at the end makes nsgate say, as RootlessKit would, that httpd died of SIGTERM: its stderr is
# shown only if the demo fails.
trap 'kill "$nsgate" 2>/dev/null; wait "$nsgate" 2>/dev/null || true; rm -rf "$www" "$www.log"' EXIT

for _ in $(seq 50); do
  kill -0 "$nsgate" 2>/dev/null || { cat "$www.log" >&2; echo "demo: nsgate exited (its error is above)" >&2; exit 1; }
  if page=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null) && [ "$page" = "hello from inside nsgate's namespace" ]; then
    echo "curl http://127.0.0.1:$port/ -> $page"
    exit 0
  fi
  sleep 0.1
done
cat "$www.log" >&2
echo "demo: no answer on 127.0.0.1:$port" >&2
exit 1
