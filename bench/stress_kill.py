"""Stress: kill -9 `kb index` at random moments, hundreds of times.

The same loop as tests/test_safety_faults.py (see tests/killloop.py for what
is checked after every kill), with more kills and a bigger corpus.  Run from
the repository root:

    python bench/stress_kill.py                 # 200 mid-update kills, ~3,000 passages
    python bench/stress_kill.py --kills 50 --files 40 --seed 7 -v

Exit status 0 when the index survived every kill; an AssertionError names the
round that broke it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.killloop import kill_loop  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=200, help="mid-update kills to land")
    ap.add_argument("--files", type=int, default=60, help="reports in the corpus (~49 passages each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chain", type=float, default=0.5,
                    help="probability that a killed update is followed by another killed one")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-stress-") as tmp:
        stats = kill_loop(Path(tmp), kills=a.kills, files=a.files, seed=a.seed,
                          chain=a.chain, max_attempts=a.kills * 4, verbose=a.verbose)
    print(stats.summary())
    if stats.mid < a.kills:
        sys.exit(f"only {stats.mid} of {a.kills} kills landed mid-update")


if __name__ == "__main__":
    main()
