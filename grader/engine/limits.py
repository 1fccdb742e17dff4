"""`python -m grader.engine.limits --cpu=S --data=B --fsize=B --nofile=N --nproc=N -- COMMAND...`:
set resource limits, then become COMMAND (exec: no process stays in between).

The sandbox starts student code through this: limits set before bubblewrap starts hold inside
its namespaces and for every process the code starts.
"""

from __future__ import annotations

import os
import resource
import sys

LIMITS = {"--cpu": resource.RLIMIT_CPU, "--data": resource.RLIMIT_DATA, "--fsize": resource.RLIMIT_FSIZE,
          "--nofile": resource.RLIMIT_NOFILE, "--nproc": resource.RLIMIT_NPROC}


def main(argv: list[str]) -> None:
    split = argv.index("--")
    for option in argv[:split]:
        name, value = option.split("=", 1)
        soft_hard = int(value)
        current_soft, current_hard = resource.getrlimit(LIMITS[name])
        hard = soft_hard if current_hard == resource.RLIM_INFINITY else min(soft_hard, current_hard)
        resource.setrlimit(LIMITS[name], (hard, hard))
    command = argv[split + 1:]
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
