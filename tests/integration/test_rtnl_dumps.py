"""cni.kernel.rtnl's dumps are filtered by the kernel: asking for one link's addresses does not
bring every address of a namespace with many containers' veths."""

from __future__ import annotations

import socket

import pytest

from cni.kernel import rtnl
from cni.kernel.netns import entered

pytestmark = pytest.mark.root


def test_one_links_addresses_come_alone(host, monkeypatch):
    script = "".join(f"link add pnd{n}a type veth peer name pnd{n}b\naddress add 10.66.{n}.1/24 dev pnd{n}a\n"
                     f"address add 10.67.{n}.1/24 dev pnd{n}b\n" for n in range(40))
    host.run("ip", "-batch", "-", input=script)
    answers = []
    request = rtnl.NetlinkSocket.request

    def counting(self, kind, flags, body):
        found = request(self, kind, flags, body)
        answers.append(len(found))
        return found

    monkeypatch.setattr(rtnl.NetlinkSocket, "request", counting)
    with entered(host.path):
        sock = rtnl.Rtnl()
    try:
        index = sock.get_link(name="pnd7a").index
        answers.clear()
        assert sock.addresses(index, socket.AF_INET) == ["10.66.7.1/24"]
    finally:
        sock.close()
    assert answers == [1]
