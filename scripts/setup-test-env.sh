#!/usr/bin/env bash
# Prepare this machine for nsgate's end-to-end tests (run as root): the unprivileged users the tests
# run as, with subordinate id ranges, and /dev/net/tun usable by them as distros ship it (0666).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup-test-env.sh: run me as root" >&2; exit 1; }

add_user() { # name first-subid
  id "$1" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$1"
  for f in /etc/subuid /etc/subgid; do
    grep -q "^$1:" "$f" 2>/dev/null || echo "$1:$2:65536" >> "$f"
  done
}
add_user nsgtest 300000
# A second user: it must not get into the first one's state dir or API socket.
add_user nsgtest2 400000
# Docker rootless runs as a user of its own: its daemons and containers cannot disturb the other suites.
add_user nsgdocker 500000

chmod 0666 /dev/net/tun
