#!/usr/bin/env bash
# pynet demo: a throwaway "container" network namespace, attached the way a runtime attaches it.
# Leaves nothing behind, even when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/.venv/bin
NS="pynet-demo-$$"
CONF='{"cniVersion": "1.1.0", "name": "demo", "type": "loopback"}'

cleanup() { ip netns delete "$NS" 2>/dev/null || true; }
trap cleanup EXIT

cni() {  # cni COMMAND: run pynet-loopback as a container runtime would
    echo "\$ CNI_COMMAND=$1 ... pynet-loopback <<< '$CONF'" >&2
    CNI_COMMAND=$1 CNI_CONTAINERID=demo-$$ CNI_NETNS=/run/netns/$NS CNI_IFNAME=eth0 \
        "$BIN/pynet-loopback" <<< "$CONF"
}

echo "== a new network namespace (the container): lo is down"
ip netns add "$NS"
ip -n "$NS" -br link show lo

echo "== ADD: the plugin brings lo up and reports it"
cni ADD
ip -n "$NS" -br link show lo
ip netns exec "$NS" ping -c1 -W1 127.0.0.1 | grep -E 'bytes from|packet loss'

echo "== CHECK (no output means all is well), DEL, DEL again (idempotent)"
cni CHECK
cni DEL
cni DEL
ip -n "$NS" -br link show lo

echo "== bad input gets a CNI error, not a traceback"
CNI_COMMAND=ADD CNI_CONTAINERID=demo CNI_NETNS=/run/netns/$NS CNI_IFNAME=eth0 \
    "$BIN/pynet-loopback" <<< '{"cniVersion": "9.9.9", "name": "demo", "type": "loopback"}' || echo "(exit $?)"

echo "== demo done; namespace $NS removed"
