"""Lists the test executables of a `cargo test --no-run --message-format=json` build.

Reads cargo's JSON messages on stdin and prints one line per test executable:
`<package directory>/<target>:<kind> <package directory> <executable>`, the package directory
relative to the current one (`.` for the root package), so that `.ci/run` can run a test
binary that an earlier step built, from the directory cargo would run it in. The compiler's
messages go to stderr as cargo would print them.
"""

import json
import os
import sys

for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-message":
        # Warnings and errors, as cargo would have printed them without `--message-format`.
        sys.stderr.write(message["message"].get("rendered") or "")
        continue
    if message.get("reason") != "compiler-artifact" or not message.get("executable"):
        continue
    if not message["profile"]["test"]:
        continue
    target = message["target"]
    directory = os.path.relpath(os.path.dirname(message["manifest_path"]))
    print(f"{directory}/{target['name']}:{target['kind'][0]} {directory} {message['executable']}")
