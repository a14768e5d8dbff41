"""Incremental `kb index` versus a full build, whole process, median of N runs.

    python bench/incremental.py [--passages 20000] [--runs 3]

Builds a generated corpus (bench/corpus_gen.py), times `kb index --rebuild`,
then for each run changes one file (a new paragraph) and times `kb index`,
and times a `kb index` with nothing changed.  Prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_gen import generate  # noqa: E402


def kb(*args: str, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kb", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = generate(root / "corpus", a.passages)
        full = [kb("index", "--rebuild", cwd=root) for _ in range(a.runs)]
        target = sorted((root / "corpus").rglob("*.md"))[files // 2]
        inc, noop = [], []
        for i in range(a.runs):
            with open(target, "a", encoding="utf-8") as f:
                f.write(f"\n## Added section {i}\n\nA new paragraph about bystander training "
                        f"number {i} was added to this report for the benchmark run.\n")
            inc.append(kb("index", cwd=root))
            noop.append(kb("index", cwd=root))
        out = subprocess.run([sys.executable, "-m", "kb", "status", "--format", "json"],
                             cwd=root, check=True, capture_output=True, text=True).stdout
        passages = json.loads(out)["passages"]
    fb, ib, nb = (statistics.median(x) for x in (full, inc, noop))
    print(f"corpus: {passages:,} passages in {files:,} files; median of {a.runs} runs, whole process")
    print(f"| operation | seconds | vs full build |")
    print(f"|---|---|---|")
    print(f"| full build (`kb index --rebuild`) | {fb:.2f} | 1.00 |")
    print(f"| one file changed (`kb index`) | {ib:.2f} | {ib / fb:.3f} |")
    print(f"| nothing changed (`kb index`) | {nb:.2f} | {nb / fb:.3f} |")


if __name__ == "__main__":
    main()
