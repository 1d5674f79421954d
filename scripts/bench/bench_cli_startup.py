"""How long the CLI takes to answer the commands that only list things (issue #31: "an instant CLI").

    python scripts/bench/bench_cli_startup.py                    # 10 runs of each command, both launchers
    python scripts/bench/bench_cli_startup.py --runs 20 --pythonpath /tmp/old   # another copy of the package

Each command runs `--runs` times (after one untimed run, so the files are in the page cache) as a fresh process,
through both launchers: `python -m milestones ...` and the `milestones` console script of the interpreter's
environment. The table gives the median and the fastest wall time in milliseconds; the median is the number to
quote (the fastest shows how much of it is noise from other processes). `hyperfine -N --warmup 1 'milestones zoo'`
measures the same. `--pythonpath DIR` puts DIR first on PYTHONPATH, to time an older copy of the package (DIR
holding its `milestones/` folder) against this one. Run it on a quiet machine: other processes' load shows up
directly in start-up times. Results go to stdout as a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ["--help", "zoo", "configs", "list"]  # the commands that must answer at once (tests/test_cli.py: no torch)


def wall_seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--commands", nargs="+", default=COMMANDS, metavar="COMMAND")
    p.add_argument("--pythonpath", metavar="DIR", help="time the package found in DIR instead of the installed one")
    args = p.parse_args()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.pythonpath).resolve()), env.get("PYTHONPATH", "")])
    script = Path(sys.executable).with_name("milestones")
    launchers = {"python -m milestones": [sys.executable, "-m", "milestones"]}
    if script.is_file() or shutil.which("milestones"):
        launchers["milestones"] = [str(script if script.is_file() else shutil.which("milestones"))]

    print("| command | launcher | median ms | fastest ms |\n|---|---|---:|---:|")
    for command in args.commands:
        for label, launcher in launchers.items():
            argv = [*launcher, *command.split()]
            wall_seconds(argv, env)  # untimed: the first run reads the files from disk
            times = [wall_seconds(argv, env) for _ in range(args.runs)]
            print(f"| `{command}` | `{label}` | {1000 * statistics.median(times):.0f} | {1000 * min(times):.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
