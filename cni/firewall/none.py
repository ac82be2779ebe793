"""The driver for hosts whose firewall is managed elsewhere: pynet adds no rules."""


class NoFirewall:
    name = "none"

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        return lambda: None

    def add_port_mappings(self, owner: str, mappings: list[dict]):
        return lambda: None

    def allow_forwarding(self, owner: str, addresses: list[str]):
        return lambda: None

    def isolate_bridge(self, network: str, bridge: str, peers: tuple[str, ...] = ()):
        return lambda: None

    def remove_isolation(self, bridge: str, peers: tuple[str, ...] = ()) -> None:
        pass

    def deny_icc(self, owner: str, port: str):
        return lambda: None

    def remove(self, owner: str, kind: str, expected=None) -> None:
        pass

    def forget_network(self, network: str, bridge: str) -> None:
        pass

    def owned(self, owner: str, kind: str) -> set[str]:
        return set()

    def missing(self, owner: str, addresses: list[str]) -> list[str]:
        return []
