"""The driver for hosts whose firewall is managed elsewhere: pynet adds no rules."""


class NoFirewall:
    name = "none"

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        return lambda: None

    def remove(self, owner: str) -> None:
        pass

    def missing(self, owner: str, addresses: list[str]) -> list[str]:
        return []
