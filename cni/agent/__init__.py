"""The resident `pynet agent`: plugin executables hand their requests to it over a Unix socket.

One agent per network namespace (the host it serves; simulated hosts get one each), started by the
first plugin call there and gone after an idle timeout. `wire` (socket path, build id, framing) and
`client` use the standard library only, so a plugin's entry point stays cheap; `server` is the agent.
"""
