#!/usr/bin/env bash
# Build the RootlessKit peers the tests compare nsgate with (run as root, from .ci/run, before npm test):
# v2.3.4, the reference, and the newest v3, each with `go install` into $NSGATE_PEERS_DIR/VERSION/
# (default /opt/nsgate-peers, world-readable). A version already built there is kept, so a second run
# takes a second. Without Go nothing is built and the tests fall back to Debian's rootlesskit.
# A failed v3 build is reported and not fatal (it is only a comparison peer); a failed v2.3.4 build is.
set -euo pipefail

PEERS=${NSGATE_PEERS_DIR:-/opt/nsgate-peers}
REFERENCE=v2.3.4
MODULE=github.com/rootless-containers/rootlesskit

say() { echo "build-peers: $*"; }

go=$(command -v go || true)
if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
if [ -z "$go" ]; then
  fallback=$(rootlesskit --version 2>/dev/null || echo 'rootlesskit is not installed either')
  say "no go here, no peer built: the tests use Debian's rootlesskit ($fallback)"
  exit 0
fi
# The toolchain that is installed, never one downloaded on the fly; the peers' own go.mod decides dependencies.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
[ -n "${HOME:-}" ] || export HOME=/root

# built DIR VERSION: both binaries there, and rootlesskit says it is VERSION.
built() {
  [ -x "$1/rootlesskit" ] && [ -x "$1/rootlessctl" ] &&
    [ "$("$1/rootlesskit" --version 2>/dev/null)" = "rootlesskit version ${2#v}" ]
}

# install_peer MODULE_PATH VERSION: both commands into PEERS/VERSION, through a temporary directory so that
# an interrupted build never looks built.
install_peer() {
  local module=$1 version=$2 dir="$PEERS/$2"
  if built "$dir" "$version"; then
    say "$dir already built ($("$dir/rootlesskit" --version))"
    return 0
  fi
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$PEERS/.build-$version.XXXXXX")
  if ! (cd "$tmp" && GOBIN="$tmp" "$go" install "$module/cmd/rootlesskit@$version" "$module/cmd/rootlessctl@$version"); then
    rm -rf "$tmp"
    say "building $module@$version failed"
    return 1
  fi
  chmod 0755 "$tmp" "$tmp/rootlesskit" "$tmp/rootlessctl"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  say "built $dir in $((SECONDS - start)) s with $("$go" version | cut -d' ' -f3)"
}

mkdir -p "$PEERS"
chmod 0755 "$PEERS"
rm -rf "$PEERS"/.build-* # what an interrupted run left
install_peer "$MODULE/v2" "$REFERENCE"

if ! newest=$(cd / && "$go" list -m -f '{{.Version}}' "$MODULE/v3@latest"); then
  say "cannot resolve the newest $MODULE/v3: not built now (the tests use a v3 peer only if one was built before)"
  exit 0
fi
install_peer "$MODULE/v3" "$newest" || say "no v3 peer: the tests compare with $REFERENCE only"
