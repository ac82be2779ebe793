"""How much input pynet takes (documented in docs/protocol.md): a request larger or deeper is refused
with a CNI error before it can cost the host memory or time."""

MAX_CONFIG_BYTES = 1 << 20  # the network configuration on stdin (1 MiB; Podman's are about 1 KiB)
MAX_DEPTH = 64  # nesting of JSON objects and arrays in it (prevResult inside a config needs about 6)
MAX_FILE_BYTES = 1 << 20  # a file a configuration names (resolvConf) or pynet keeps (stores, leases)
