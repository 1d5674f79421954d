"""The fuzz tests of tests/test_fuzz.py at a larger scale, with hypothesis's counts per property.

    python scripts/maintenance/fuzz.py                   # 20,000 cases per property (CI runs a few hundred to 2,500)
    python scripts/maintenance/fuzz.py --examples 5000

Each property either holds for every generated case or pytest prints the smallest failing one. The statistics
(cases generated, how many passed, how long) are hypothesis's own (`--hypothesis-show-statistics`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20_000, help="cases per property")
    args = ap.parse_args()
    env = {**os.environ, "MILESTONES_FUZZ_EXAMPLES": str(args.examples)}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "--hypothesis-show-statistics", str(REPO / "tests" / "test_fuzz.py")], env=env, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
