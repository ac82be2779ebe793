"""host-local's range model without files: validation and the order addresses are handed out in."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.ipam.ranges import candidates, parse_range_sets, range_for, requested_addresses
from cni.spec import CNIError, parse_config


def sets(*range_sets, **runtime):
    return parse_range_sets({"ranges": [list(rs) for rs in range_sets]}, runtime)


def order(range_set, last=None) -> list[str]:
    return [str(a) for a, _ in candidates(range_set, ipaddress.ip_address(last) if last else None)]


def test_defaults_like_the_reference():
    (r,), = sets([{"subnet": "10.1.0.0/24"}])
    assert (str(r.start), str(r.end), str(r.gateway)) == ("10.1.0.1", "10.1.0.254", "10.1.0.1")
    (r6,), = sets([{"subnet": "fd00::/120"}])
    assert (str(r6.start), str(r6.end), str(r6.gateway)) == ("fd00::1", "fd00::ff", "fd00::1")


def test_order_skips_gateway_network_and_broadcast_and_wraps():
    (rs,) = sets([{"subnet": "10.1.0.0/29", "rangeStart": "10.1.0.0", "rangeEnd": "10.1.0.7"}])
    assert order(rs) == ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"]
    assert order(rs, "10.1.0.4") == ["10.1.0.5", "10.1.0.6", "10.1.0.2", "10.1.0.3", "10.1.0.4"]
    assert order(rs, "192.168.0.1") == order(rs)  # a last address outside the set restarts at the top


def test_order_crosses_ranges_of_one_set():
    (rs,) = sets([{"subnet": "10.1.0.0/30"}, {"subnet": "10.2.0.0/30", "gateway": "10.2.0.2"}])
    assert order(rs) == ["10.1.0.2", "10.2.0.1"]
    assert order(rs, "10.1.0.2") == ["10.2.0.1", "10.1.0.2"]


def test_large_ipv6_ranges_are_lazy():
    (rs,) = sets([{"subnet": "fd00::/64"}])
    first = candidates(rs, None)
    assert [str(next(first)[0]) for _ in range(3)] == ["fd00::2", "fd00::3", "fd00::4"]


def test_runtime_ip_ranges_come_first_then_single_form_then_ranges():
    found = parse_range_sets({"subnet": "10.2.0.0/24", "ranges": [[{"subnet": "10.3.0.0/24"}]]},
                             {"ipRanges": [[{"subnet": "10.1.0.0/24"}]]})
    assert [str(rs[0].subnet) for rs in found] == ["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]


@pytest.mark.parametrize("ranges,text", [
    ([[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/24"}]], "overlaps"),
    ([[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.50"}], [{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.60"}]],
     "overlaps"),
    ([[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.8"}]], "after rangeEnd"),
    ([[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.1"}]], "outside the subnet"),
    ([[{"subnet": "fd00::/64", "rangeStart": "10.0.0.1"}]], "IPv4 address in an IPv6 range"),
    ([[{"subnet": "not-a-subnet"}]], "CIDR"),
    ([[{"subnet": "10.0.0.0"}]], "not a network address"),
    ([[{"gateway": "10.0.0.1"}]], "needs a \"subnet\""),
    ([["10.0.0.0/24"]], "is an object"),
    ([[]], "non-empty"),
])
def test_invalid_ranges_are_code_7(ranges, text):
    with pytest.raises(CNIError) as error:
        parse_range_sets({"ranges": ranges}, {})
    assert error.value.code == 7 and text in str(error.value)


def test_non_overlapping_ranges_of_one_subnet_are_fine():
    found = sets([{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.99"}],
                 [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.100"}])
    assert range_for(found[1], ipaddress.ip_address("10.0.0.150")) is not None
    assert range_for(found[0], ipaddress.ip_address("10.0.0.150")) is None


def test_requested_addresses_from_every_source():
    conf = parse_config({"cniVersion": "1.0.0", "name": "n", "type": "t",
                         "args": {"cni": {"ips": ["10.0.0.2"]}}, "runtimeConfig": {"ips": ["fd00::2/64"]}})
    found = requested_addresses(conf, {"IP": "10.0.0.3,10.0.0.4/24"})
    assert [str(a) for a in found] == ["10.0.0.3", "10.0.0.4", "10.0.0.2", "fd00::2"]
    with pytest.raises(CNIError) as error:
        requested_addresses(conf, {"IP": "nonsense"})
    assert "nonsense" in error.value.details


def _brute_force_overlap(ranges) -> bool:
    return any(a.subnet.version == b.subnet.version and a.start <= b.end and b.start <= a.end
               for i, a in enumerate(ranges) for b in ranges[i + 1:])


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.booleans()), min_size=1, max_size=12))
@settings(max_examples=300, derandomize=True)
def test_the_overlap_check_agrees_with_comparing_every_pair(spans):
    """Ranges of 10.0.0.0/24 (and fd00::/120 when the flag is set) from random start/end pairs."""
    entries = []
    for a, b, v6 in spans:
        low, high = sorted((max(a, 1), max(b, 1)))
        high = min(high, 254)
        low = min(low, high)
        prefix = "fd00::" if v6 else "10.0.0."
        entries.append({"subnet": "fd00::/120" if v6 else "10.0.0.0/24", "rangeStart": f"{prefix}{low:x}" if v6
                        else f"{prefix}{low}", "rangeEnd": f"{prefix}{high:x}" if v6 else f"{prefix}{high}"})
    ranges = [parse_range_sets({"ranges": [[e]]}, {})[0][0] for e in entries]
    try:
        parse_range_sets({"ranges": [[e] for e in entries]}, {})
        found = False
    except CNIError as e:
        assert "overlaps" in e.details
        found = True
    assert found == _brute_force_overlap(ranges)


def test_the_overlap_check_compares_n_log_n_times(monkeypatch):
    """1,000 ranges: sorting compares about n log n pairs of addresses (10,000), every pair would be 500,000
    (the shared agent spent 16 s on 3,000 range sets)."""
    count = [0]
    compare = ipaddress.IPv4Address.__lt__

    def counted(self, other):
        count[0] += 1
        return compare(self, other)

    ipam = {"ranges": [[{"subnet": f"10.{n // 256}.{n % 256}.0/24"}] for n in range(1000)]}
    ipam["ranges"].reverse()
    monkeypatch.setattr(ipaddress.IPv4Address, "__lt__", counted)
    parse_range_sets({"ranges": ipam["ranges"][:64]}, {})
    count[0] = 0
    from cni.ipam import ranges as module

    monkeypatch.setattr(module, "MAX_RANGE_SETS", 1000)
    parse_range_sets(ipam, {})
    assert 1000 < count[0] < 30 * 1000


@pytest.mark.parametrize("sets_,per_set,words", [(65, 1, "65 range sets"), (2, 600, "1200 ranges")])
def test_too_many_ranges_are_code_7(sets_, per_set, words):
    ipam = {"ranges": [[{"subnet": f"10.{s}.{r // 256}.{r % 256 // 4 * 4}/30"} for r in range(0, per_set * 4, 4)]
                       for s in range(sets_)]}
    with pytest.raises(CNIError) as error:
        parse_range_sets(ipam, {})
    assert error.value.code == 7 and "too many" in error.value.msg and words in error.value.details
