"""A pure-Python plugin commands module for the skeleton's unit tests: no kernel, no I/O.

Every command looks at the configuration's "raise" key and raises the exception it names;
otherwise ADD returns the fixed RESULT and the other commands succeed without output.
"""

from __future__ import annotations

from cni.spec import DNS, CNIError, Interface, IPConfig, Result, Route

RESULT = Result(
    interfaces=(Interface(name="eth0", mac="0a:58:0a:01:00:05", sandbox="/nonexistent/stub-netns"),),
    ips=(IPConfig(address="10.1.0.5/16", gateway="10.1.0.1", interface=0),),
    routes=(Route(dst="0.0.0.0/0", gw="10.1.0.1"),),
    dns=DNS(nameservers=("10.1.0.1",)),
)

# What the "raise" key of the configuration may ask for.
RAISES = {
    "ValueError": lambda: ValueError("bad value in the stub"),
    "KeyError": lambda: KeyError("missing-key"),
    "CNIError": lambda: CNIError(11, "busy", "the stub says try again later"),
    "KeyboardInterrupt": lambda: KeyboardInterrupt(),
    "ZeroDivisionError": lambda: ZeroDivisionError("division by zero in the stub"),
}

calls: list[str] = []
during_add: list = []  # callables ADD calls (a test's way to act while ADD runs)


def _maybe_raise(request) -> None:
    what = request.config.get("raise")
    if isinstance(what, str) and what in RAISES:
        raise RAISES[what]()


def add(request):
    calls.append("add")
    for action in during_add:
        action(request)
    _maybe_raise(request)
    if request.config.get("raise") == "return-none":
        return None
    return RESULT


def delete(request):
    calls.append("delete")
    _maybe_raise(request)


def check(request):
    calls.append("check")
    _maybe_raise(request)


def gc(request):
    calls.append("gc")
    _maybe_raise(request)


def status(request):
    calls.append("status")
    _maybe_raise(request)
