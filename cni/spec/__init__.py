"""Sans-I/O CNI protocol core: environment, configuration, results and errors for 0.3.0-1.1.0.

Names are imported on first use, so a plugin answering VERSION loads only what VERSION needs.
"""

_WHERE = {
    "Attachment": "config", "NetConf": "config", "parse_config": "config",
    "Invocation": "env", "parse_env": "env",
    "CNIError": "errors",
    "Request": "request", "parse_request": "request", "request_for": "request",
    "DNS": "result", "Interface": "result", "IPConfig": "result", "Result": "result", "Route": "result",
    "parse_result": "result",
    "LATEST": "versions", "SUPPORTED": "versions", "error_version": "versions", "version_answer": "versions",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{_WHERE[name]}", fromlist=[name]), name)  # not importlib: ~0.5 ms
    globals()[name] = value
    return value
