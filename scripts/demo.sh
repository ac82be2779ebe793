#!/usr/bin/env bash
# pynet demo: `pynet create bridge mynet`, two containers reaching each other by name, a published
# port, `pynet topology`, cleanup. The "host" is a network namespace of its own and every pynet directory lives in a
# temporary one, so this machine's links, routes, firewall, /etc/cni/net.d, /run/pynet and
# /var/lib/cni are never touched. Leaves nothing behind, even when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/.venv/bin
HOST=pynet-demo-host-$$
WORK=$(mktemp -d /tmp/pynet-demo.XXXXXX)
export PYNET_RUN_DIR=$WORK/run PYNET_CNI_CONF_DIR=$WORK/net.d PYNET_CNI_CACHE_DIR=$WORK/cni \
       PYNET_STATE_DIR=$WORK/state CNI_PATH=$WORK/bin

pynet() { ip netns exec "$HOST" "$BIN/pynet" "$@"; }   # pynet, run on the simulated host
say() { printf '\n== %s\n' "$*"; }
cleanup() {
    if [ -e "/run/netns/$HOST" ]; then
        pynet rm -f web client >/dev/null 2>&1 || true
        pynet network rm mynet >/dev/null 2>&1 || true
        ip netns pids "$HOST" | xargs -r kill -9   # the pynet agent serving the simulated host
        ip netns delete "$HOST"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/pynet" plugins install --dir "$CNI_PATH" --names reference >/dev/null
ip netns add "$HOST"
ip -n "$HOST" link set lo up

say "pynet create bridge mynet   (a free subnet from Docker's pools, bridge pn-mynet)"
pynet create bridge mynet
pynet network ls

say "pynet run: a web server publishing port 8080, and a client (each in its own namespaces)"
pynet run -d --name web --network mynet -p 8080:8000 -- python3 -m http.server 8000 >/dev/null
pynet run -d --name client --network mynet -- sleep 300 >/dev/null
pynet ps
WEB=$(pynet inspect web --format json | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["addresses"][0].split("/")[0])')

say "pynet exec client ping web   (by name: the network's dnsname; web is $WEB)"
pynet exec client ping -c2 -W1 web | grep -E 'PING|bytes from|packet loss'

# fetch URL WHAT: a GET, tried for 10 s (the server may still be starting)
FETCH='import sys, time, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
            print(f"HTTP {r.status} from {sys.argv[2]}, {len(r.read())} bytes")
            break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit(f"{sys.argv[2]} did not answer")'

say "the client fetches http://web:8000/ by name"
pynet exec client python3 -c "$FETCH" http://web:8000/ "web, by name"

say "the published port from the host: http://127.0.0.1:8080/"
ip netns exec "$HOST" "$BIN/python" -c "$FETCH" http://127.0.0.1:8080/ "web's port 8000, published on the host"

say "pynet topology"
pynet topology

say "pynet rm -f web client; pynet network rm mynet"
pynet rm -f web client >/dev/null
pynet network rm mynet
echo "containers: $(pynet ps -a --format json)  networks: $(pynet network ls --format json)"
echo "links left on the simulated host: $(ip -n "$HOST" -br link | awk '{print $1}' | tr '\n' ' ')"

say "bad input is one line and a non-zero exit"
pynet run --network nosuchnet -- true 2>&1 || echo "(exit $?)"
