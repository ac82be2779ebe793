#!/usr/bin/env bash
# Install pynet on a fresh Debian machine (run as root), then run the demo.
#   ./install.sh            system packages + .venv with pynet and its test tools, then the demo
#   ./install.sh --no-demo  the same without the demo
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(iproute2 nftables iptables iputils-ping containernetworking-plugins iperf3 podman runc busybox-static
              containerd buildah  # real clients beside Podman (tests/integration/test_clients.py)
              golang-go golang-github-appc-cni-dev  # the Go libcni, for the runtime's interop tests
              qemu-system-x86 linux-image-amd64 cpio kmod  # the VM tests (ipvlan, VLANs)
              etcd-server ethtool  # the overlay's etcd store (tests, `pynet lab --store etcd`); bench/overlay.py
              dnsperf dnsmasq-base  # bench/dns.py: pynet's DNS server against dnsmasq
              golang-github-containernetworking-plugin-dnsname  # bench/agent.py: the reference dnsname
              curl)  # the README's tour fetches a published port

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (pynet creates namespaces, links and firewall rules)" >&2
    exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The distribution's interpreter: Debian builds it with PGO and LTO, and every plugin call starts one
# (here 1.5-2 ms sooner than a plain build from source, and pynet's code runs 10-15 % faster).
PYTHON=${PYTHON:-/usr/bin/python3}
if ! [ -x "$PYTHON" ] || ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3 python3-venv)
    [ "$PYTHON" = /usr/bin/python3 ] || PYTHON=python3
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"install.sh: pynet needs Python 3.11 or newer, {sys.executable} is {sys.version.split()[0]}")
PY

echo "== Python packages into $(pwd)/.venv"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# compat mode: a plain path entry, not an import hook (saves ~15 ms on every plugin start)
.venv/bin/python -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
.venv/bin/pynet plugins list

if [ "${1:-}" != "--no-demo" ]; then
    exec ./scripts/demo.sh
fi
