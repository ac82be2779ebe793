"""The driver for hosts whose firewall is managed elsewhere: pynet adds no rules."""


def _nothing() -> None:
    pass


class NoFirewall:
    name = "none"

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        return _nothing

    def add_port_mappings(self, owner: str, mappings: list[dict]):
        return _nothing

    def allow_forwarding(self, owner: str, addresses: list[str]):
        return _nothing

    def isolate_bridge(self, network: str, owner: str, bridge: str, peers: tuple[str, ...] = ()):
        return _nothing

    def deny_icc(self, owner: str, port: str):
        return _nothing

    def remove(self, owner: str, kind: str, expected=None) -> None:
        pass

    def release(self, network: str, owner: str, expected=None) -> None:
        pass

    def owners(self, network: str) -> set[str]:
        return set()

    def forget_network(self, network: str) -> None:
        pass

    def missing(self, owner: str, kind: str, expected: list) -> list[str]:
        return []
