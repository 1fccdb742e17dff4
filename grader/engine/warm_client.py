"""`python -I -S warm_client.py SOCKET --cwd=DIR --processes=N [--writable=DIR]... [--read-only=DIR]... [--hidden=DIR]...
[--report=FILE] -- python -m MODULE ARGS...`: run one process in the grader's warm sandbox and
stand for it (grader/engine/warm.py).

The zygote forks the process; this one passes it its standard streams, environment and folder,
waits, and ends as it ended (the same exit status, or the same signal), so that whoever started
it (jupyter_client for a kernel, subprocess for the probe) sees the process it asked for.
Stopping this one stops the run. Standard library only: it starts in a few milliseconds.
"""

import json
import os
import signal
import socket
import sys


def main(argv):
    split = argv.index("--")
    path, options, command = argv[0], argv[1:split], argv[split + 1:]
    request = {"argv": command, "env": dict(os.environ), "writable": [], "read_only": [], "hidden": []}
    report = None
    for option in options:
        name, _, value = option.partition("=")
        if name in ("--writable", "--read-only", "--hidden"):
            request[name[2:].replace("-", "_")].append(value)
        elif name == "--cwd":
            request["cwd"] = value
        elif name == "--processes":
            request["processes"] = int(value)
        elif name == "--report":
            report = value
        else:
            sys.exit(f"warm_client: unknown option {option}")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        answer = connection.makefile("rb").readline()
    except OSError as err:
        sys.exit(f"vaelab: the warm sandbox at {path} did not answer ({err})")
    if not answer:
        sys.exit("vaelab: the warm sandbox stopped before the run ended")
    ended = json.loads(answer)
    if "error" in ended:
        sys.exit(f"vaelab: the warm sandbox could not start the run: {ended['error']}")
    if ended.get("stopped"):
        if report:
            with open(report, "w", encoding="utf-8") as handle:
                handle.write(ended["stopped"])
        else:
            print(f"vaelab: {ended['stopped']}", file=sys.stderr)
    code = ended["exit"]
    if code < 0:  # killed by a signal: end the same way
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # (those two cannot be caught anyway)
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
