#!/usr/bin/env bash
# pynet demo: a bridge network (docker0-style) with two containers, run the way a container runtime
# runs CNI plugins. The "host" is a network namespace of its own, so this machine's links, routes and
# firewall are never touched. Leaves nothing behind, even when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/.venv/bin
TAG=$$
HOST=pynet-demo-host-$TAG
WORK=$(mktemp -d /tmp/pynet-demo.XXXXXX)
CONF=$(cat <<JSON
{"cniVersion": "1.1.0", "name": "demo", "type": "bridge", "bridge": "pynet0",
 "isGateway": true, "ipMasq": true,
 "ipam": {"type": "host-local", "dataDir": "$WORK/ipam",
          "ranges": [[{"subnet": "10.88.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
JSON
)

cleanup() {
    for ns in "$HOST" "pynet-demo-c1-$TAG" "pynet-demo-c2-$TAG"; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

cni() {  # cni COMMAND CONTAINER [CONFIG]: run pynet-bridge inside the simulated host, as a runtime would
    local conf=${3:-$CONF}
    ip netns exec "$HOST" env CNI_COMMAND="$1" CNI_CONTAINERID="demo-$2" CNI_NETNS="/run/netns/pynet-demo-$2-$TAG" \
        CNI_IFNAME=eth0 CNI_PATH="$WORK/bin" "$BIN/pynet-bridge" <<< "$conf"
}
say() { printf '\n== %s\n' "$*"; }

"$BIN/pynet" plugins install --dir "$WORK/bin" --names reference >/dev/null   # CNI_PATH for IPAM delegation
ip netns add "$HOST"
ip -n "$HOST" link set lo up

say "ADD: two containers join the bridge network 'demo' (10.88.0.0/24) on a simulated host"
for c in c1 c2; do
    ip netns add "pynet-demo-$c-$TAG"
    cni ADD "$c" > "$WORK/$c.json"
    "$BIN/python" - "$WORK/$c.json" "$c" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]}: {r['ips'][0]['address']} via {r['ips'][0]['gateway']}, "
      f"veth {r['interfaces'][1]['name']} on bridge {r['interfaces'][0]['name']}")
PY
done

say "the host: bridge with the gateway address, one veth per container"
ip -n "$HOST" -br addr show

say "container c1 pings c2 and the gateway"
ip netns exec "pynet-demo-c1-$TAG" ping -c2 -W1 10.88.0.3 | grep -E 'bytes from|packet loss'
ip netns exec "pynet-demo-c1-$TAG" ping -c1 -W1 10.88.0.1 | grep -E 'packet loss'

say "masquerade: pynet's own nftables table on the host (one rule, containers are set elements)"
ip netns exec "$HOST" nft list table inet pynet

say "CHECK c1 (no output: all is well)"
"$BIN/python" -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.load(open(sys.argv[2])); print(json.dumps(c))' \
    "$CONF" "$WORK/c1.json" > "$WORK/check.json"
cni CHECK c1 "$(cat "$WORK/check.json")"

say "DEL both, then DEL again (idempotent)"
for c in c1 c2 c1; do cni DEL "$c"; done
ip -n "$HOST" -br link show
echo "reservations left: $(ls "$WORK/ipam/demo" | grep -c '^10\.' || true)"

say "bad input gets a CNI error, not a traceback"
cni ADD c2 '{"cniVersion": "9.9.9", "name": "demo", "type": "bridge"}' || echo "(exit $?)"

say "demo done; the simulated host and the containers are removed"
