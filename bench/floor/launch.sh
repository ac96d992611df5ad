#!/bin/sh
# The floor case's launcher (bench/cases.ts): nsgate with no port driver makes the namespace and runs the
# servers; once the namespace is up, the C relay (relay.c) forwards the host ports into it as nsgate's
# builtin driver does (listeners on the host, dialled inside).
# usage: launch.sh RELAY STATE_DIR RELAY_ARGS -- NSGATE_ARGV... (RELAY_ARGS: relay.c's threads and forwards, as words in one argument)
set -eu
relay=$1 state=$2 relay_args=$3
shift 3
[ "$1" = -- ] && shift
"$@" &
launched=$!
# child_pid appears once the namespace is up (RootlessKit's state dir layout, which nsgate keeps).
while [ ! -s "$state/child_pid" ]; do
  kill -0 "$launched" 2>/dev/null || { wait "$launched"; exit $?; }
  sleep 0.01
done
pid=$(cat "$state/child_pid")
# shellcheck disable=SC2086 # RELAY_ARGS is a list of words
"$relay" -u "/proc/$pid/ns/user" -n "/proc/$pid/ns/net" $relay_args &
wait "$launched"
