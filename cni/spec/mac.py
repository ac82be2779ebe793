"""MAC addresses as configurations give them (runtimeConfig.mac, CNI_ARGS MAC=, tuning's mac). No I/O."""

from __future__ import annotations

from .errors import invalid_config, shown

_HEX = frozenset("0123456789abcdefABCDEF")
_FORMS = ((":", 2, 6), ("-", 2, 6), (".", 4, 3))  # separator, digits per group, groups


def normalise_mac(value) -> str:
    """"AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff" or "aa:bb:cc:dd:ee:ff" -> "aa:bb:cc:dd:ee:ff" ("" if invalid)."""
    if not isinstance(value, str):
        return ""
    for separator, size, count in _FORMS:
        groups = value.split(separator)
        if len(groups) == count and all(len(g) == size and _HEX.issuperset(g) for g in groups):
            digits = "".join(groups).lower()
            return ":".join(digits[i:i + 2] for i in range(0, 12, 2))
    return ""


def unicast_mac(value, where: str) -> str:
    """The normalised unicast MAC `value` ("" for none), or a code-7 error naming `where`."""
    if value is None or value == "":
        return ""
    mac = normalise_mac(value)
    if not mac:
        raise invalid_config("invalid mac", f"{where} {shown(value)} is not a MAC address "
                                            "(write it as aa:bb:cc:dd:ee:ff)")
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise invalid_config("invalid mac", f"{where} {shown(value)} is not a unicast address "
                                            "(the lowest bit of the first byte must be 0, and not all zeros)")
    return mac
