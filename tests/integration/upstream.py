"""A small upstream resolver for the DNS tests, run in the namespace behind a simulated host's uplink
(tests.netns.link_outside): `python -m tests.integration.upstream` answers every name on
192.0.2.2:53 with 192.0.2.99, but big.example, too big for UDP (truncated there, 40 addresses over TCP)."""

from __future__ import annotations

import socket
import struct
import threading

from cni.dns import message as m

ADDRESS, ANSWER = "192.0.2.2", "192.0.2.99"


def answer(data: bytes, tcp: bool) -> bytes:
    q = m.parse(data)
    if q.name != m.encode_name("big.example"):
        return m.response(q, answers=[(m.A, m.rdata(m.A, ANSWER))], ttl=60, authoritative=False)
    if not tcp:  # too big for UDP: truncated (TC, no answers), as a real server would
        truncated = bytearray(m.response(q, authoritative=False))
        truncated[2] |= 0x02
        return bytes(truncated)
    return m.response(q, answers=[(m.A, m.rdata(m.A, f"192.0.2.{n}")) for n in range(1, 41)], authoritative=False)


def serve_tcp() -> None:
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((ADDRESS, 53))
    t.listen(8)
    while True:
        c, _ = t.accept()
        with c:
            size = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))[0]
            reply = answer(c.recv(size, socket.MSG_WAITALL), True)
            c.sendall(struct.pack("!H", len(reply)) + reply)


def main() -> None:
    threading.Thread(target=serve_tcp, daemon=True).start()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDRESS, 53))
    while True:
        data, client = s.recvfrom(4096)
        s.sendto(answer(data, False), client)


if __name__ == "__main__":
    main()
