"""cni.spec.record behaves as dataclass(frozen=True) does for what pynet uses of it."""

from __future__ import annotations

import dataclasses

import pytest

from cni.spec.record import record, replace


@record
class Light:
    name: str
    size: int = 0
    tags: tuple = ()


@dataclasses.dataclass(frozen=True)
class Heavy:
    name: str
    size: int = 0
    tags: tuple = ()


@pytest.mark.parametrize("args,kwargs", [(("a",), {}), (("a", 2), {}), (("a",), {"tags": (1,)}), ((), {"name": "b", "size": 3})])
def test_construction_repr_equality_and_hash_match_a_frozen_dataclass(args, kwargs):
    light, heavy = Light(*args, **kwargs), Heavy(*args, **kwargs)
    assert repr(light).replace("Light", "Heavy") == repr(heavy)
    assert light == Light(*args, **kwargs) and hash(light) == hash(Light(*args, **kwargs))
    assert light != Light("other") and light != heavy


@pytest.mark.parametrize("args,kwargs", [((), {}), (("a", 1, (), 4), {}), (("a",), {"name": "b"}), (("a",), {"colour": 1})])
def test_bad_arguments_are_refused_as_by_a_dataclass(args, kwargs):
    with pytest.raises(TypeError):
        Heavy(*args, **kwargs)
    with pytest.raises(TypeError):
        Light(*args, **kwargs)


def test_frozen_and_replaced():
    light = Light("a", 1)
    with pytest.raises(AttributeError):
        light.size = 2
    with pytest.raises(AttributeError):
        del light.name
    changed = replace(light, size=5)
    assert (changed.name, changed.size, light.size) == ("a", 5, 1)
    with pytest.raises(TypeError):
        replace(light, colour=1)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 0
            b: int
