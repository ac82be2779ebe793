"""The resident `pynet agent`: plugin executables hand their requests to it over a Unix socket.

One agent per network namespace (the host it serves; simulated hosts get one each), started by the
first plugin call there and gone after an idle timeout. `wire` (socket path, build id, framing) and
`client` use the standard library only, so a plugin's entry point stays cheap; `server` is the agent.
"""

# What the agent answers (VERSION and the about line are cheaper to answer in the plugin process).
AGENT_COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS")


def write(stream, text: str) -> None:
    """Print a plugin's stdout or stderr; a closed stream (the caller gone) is not an error."""
    if text and stream is not None:
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass
