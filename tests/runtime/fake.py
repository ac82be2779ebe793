"""A scriptable fake CNI plugin for runtime tests (no root, no kernel).

Every call is appended to $FAKE_LOG as one JSON line: the command, the CNI_* variables, the
stdin configuration. What it answers comes from its configuration's "fake" key:
{"ADD": "ip" | "garbage" | "silent-fail" | {"code": n, "msg": ...}, "DEL": ..., ...}.
"ip" (the ADD default) returns prevResult plus the address in "fake_ip" (default 10.9.0.N/24),
and the "dns" in "fake_dns" if there is one.
"""

from __future__ import annotations

import os
import stat
import sys

SCRIPT = r'''#!{python}
import json, os, sys
command = os.environ.get("CNI_COMMAND", "")
conf = json.loads(sys.stdin.read() or "{{}}")
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"type": os.path.basename(sys.argv[0]), "command": command, "conf": conf,
                          "env": {{k: v for k, v in os.environ.items() if k.startswith(("CNI_", "FAKE_EXTRA"))}}}}) + "\n")
act = conf.get("fake", {{}}).get(command, "ip" if command == "ADD" else "ok")
if command == "VERSION":
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.1.0"),
                      "supportedVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]}}))
elif act == "sleep":
    import time; time.sleep(30)
elif act == "garbage":
    print("hello, I am not JSON")
elif act == "silent-fail":
    print("something broke", file=sys.stderr)
    sys.exit(2)
elif isinstance(act, dict):
    print(json.dumps({{"cniVersion": conf["cniVersion"], **act}}))
    sys.exit(1)
elif command == "ADD":
    result = conf.get("prevResult") or {{"cniVersion": conf["cniVersion"], "interfaces": [], "ips": []}}
    result = dict(result, cniVersion=conf["cniVersion"])
    result["ips"] = result.get("ips", []) + [{{"address": conf.get("fake_ip", "10.9.0.%d/24" % (len(result.get("ips", [])) + 2))}}]
    if "fake_dns" in conf:
        result["dns"] = conf["fake_dns"]
    print(json.dumps(result))
'''


def install(directory, *names: str) -> str:
    """Fake plugins named `names` in `directory`; returns the directory."""
    os.makedirs(directory, exist_ok=True)
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(SCRIPT.format(python=sys.executable))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(directory)
