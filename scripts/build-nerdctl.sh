#!/usr/bin/env bash
# Build what test/e2e/nerdctl-rootless.test.ts runs (as root, before npm test): nerdctl, containerd with its
# runc shim, and the CNI plugins of nerdctl's default bridge network, from the Go module proxy, each into
# $NSGATE_PEERS_DIR/NAME-VERSION/ (default /opt/nsgate-peers, world-readable). runc is Debian's (package
# runc). A build already there is kept, so a second run takes a second. Without Go nothing is built and the
# test is skipped. A failed build is reported and not fatal: nerdctl is a client the suite tries, not one it
# needs.
# Cold on 2 cores (empty build cache, modules already downloaded): containerd 133 s, then the plugins 9 s, and
# nerdctl 111 s (alone, with its own standard library build).
set -uo pipefail

PEERS=${NSGATE_PEERS_DIR:-/opt/nsgate-peers}
# Pinned: @latest cannot be resolved for nerdctl here (the proxy refuses its version list). nerdctl 2.3.5
# expects containerd 1.7 to 2.3; 2.4.2 runs everything the test does.
NERDCTL_VERSION=v2.3.5
CONTAINERD_VERSION=v2.4.2
CNI_PLUGINS_VERSION=v1.10.0
CNI_PLUGINS=(main/bridge main/loopback ipam/host-local meta/portmap meta/firewall meta/tuning)

say() { echo "build-nerdctl: $*"; }

go=$(command -v go || true)
if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
if [ -z "$go" ]; then
  say "no go here, nothing built: the nerdctl test is skipped"
  exit 0
fi
# The toolchain that is installed, never one downloaded on the fly. Static binaries: no cgo.
export GOTOOLCHAIN=local CGO_ENABLED=0
[ -n "${HOME:-}" ] || export HOME=/root

# built DIR FILE...: every FILE is in DIR and runnable.
built() {
  local dir=$1 f
  shift
  for f in "$@"; do [ -x "$dir/$f" ] || return 1; done
}

# install_build NAME-VERSION BUILD-FUNCTION FILE...: run the build into a temporary directory, so that an
# interrupted build never looks built, then move it to PEERS/NAME-VERSION.
install_build() {
  local name=$1 build=$2 dir="$PEERS/$1" tmp start=$SECONDS
  shift 2
  if built "$dir" "$@"; then
    say "$dir already built"
    return 0
  fi
  tmp=$(mktemp -d "$PEERS/.build-$name.XXXXXX")
  if ! "$build" "$tmp" || ! built "$tmp" "$@"; then
    rm -rf "$tmp"
    say "building $name failed"
    return 1
  fi
  chmod 0755 "$tmp" "${@/#/$tmp/}"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  say "built $dir in $((SECONDS - start)) s with $("$go" version | cut -d' ' -f3)"
}

build_containerd() {
  local m=github.com/containerd/containerd/v2/cmd
  (cd / && GOBIN=$1 nice -n 10 "$go" install "$m/containerd@$CONTAINERD_VERSION" "$m/containerd-shim-runc-v2@$CONTAINERD_VERSION")
}

build_cni_plugins() {
  local p packages=()
  for p in "${CNI_PLUGINS[@]}"; do packages+=("github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION"); done
  (cd / && GOBIN=$1 nice -n 10 "$go" install "${packages[@]}")
}

# nerdctl cannot be `go install`ed as MODULE@VERSION: the go command looks up the module's deprecation in its
# version list, which the proxy refuses here, and cmd/nerdctl/helpers/testing_linux.go (a test helper in a
# non-test file) imports the nested module mod/tigron, which go.mod replaces with ./mod/tigron, a directory
# the module's zip does not hold. So: a writable copy of the module without that file, built in place.
build_nerdctl() {
  local out=$1 src
  src=$(cd / && "$go" mod download -json "github.com/containerd/nerdctl/v2@$NERDCTL_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || return 1
  cp -r "$src" "$out/src" && chmod -R u+w "$out/src" && rm "$out/src/cmd/nerdctl/helpers/testing_linux.go" &&
    (cd "$out/src" && nice -n 10 "$go" build -o "$out/nerdctl" \
      -ldflags "-s -w -X github.com/containerd/nerdctl/v2/pkg/version.Version=$NERDCTL_VERSION" ./cmd/nerdctl) &&
    install -m 0755 "$out/src/extras/rootless/containerd-rootless.sh" "$out/" && # the module zip keeps no mode
    rm -rf "$out/src"
}

mkdir -p "$PEERS"
chmod 0755 "$PEERS"
rm -rf "$PEERS"/.build-containerd-* "$PEERS"/.build-nerdctl-* "$PEERS"/.build-cni-plugins-* # what an interrupted run left
install_build "containerd-$CONTAINERD_VERSION" build_containerd containerd containerd-shim-runc-v2
install_build "cni-plugins-$CNI_PLUGINS_VERSION" build_cni_plugins "${CNI_PLUGINS[@]#*/}"
install_build "nerdctl-$NERDCTL_VERSION" build_nerdctl nerdctl containerd-rootless.sh
exit 0
