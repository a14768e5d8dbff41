"""A 50 MB single-paragraph file through `kb index`: time and peak memory.

    python bench/big_file.py            # 50 MB, on one line and wrapped in lines
    python bench/big_file.py --mb 10

Prints one line per shape: wall time, passages, peak RSS of the `kb index`
process (from wait4), and checks every 97th citation is honest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("policy staff report training mission field office harassment prevention victim "
         "survivor support network focal point investigation complaint bystander").split()


def paragraph(n_bytes: int, wrap: bool) -> str:
    import random

    rng = random.Random(1)
    out, size = [], 0
    while size < n_bytes:
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
        out.append(s)
        size += len(s) + 1
    if not wrap:
        return " ".join(out) + "\n"
    import textwrap

    return "\n".join(textwrap.wrap(" ".join(out), 80, break_long_words=False)) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50)
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    for shape in ("one line", "wrapped"):
        with tempfile.TemporaryDirectory(prefix="kb-big-") as tmp:
            corpus = Path(tmp) / "corpus"
            corpus.mkdir()
            text = paragraph(int(a.mb * 1_000_000), wrap=shape == "wrapped")
            (corpus / "big.txt").write_text(text)
            t0 = time.perf_counter()
            p = subprocess.Popen([sys.executable, "-m", "kb", "index", "--corpus", str(corpus),
                                  "--index", str(Path(tmp) / "index")], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(p.pid, 0)
            elapsed = time.perf_counter() - t0
            assert os.waitstatus_to_exitcode(status) == 0, p.stderr.read() if p.stderr else ""
            from kb.api import KnowledgeBase

            with KnowledgeBase(corpus, Path(tmp) / "index") as kb:
                passages = kb.passages()
            lines = text.split("\n")
            for q in passages[::97]:
                assert q.text.split()[0] in lines[q.line_start - 1]
                assert q.text.split()[-1] in lines[q.line_end - 1]
            print(f"{a.mb:g} MB single paragraph, {shape} ({len(lines) - 1:,} lines): "
                  f"{elapsed:.1f} s, {len(passages):,} passages, "
                  f"peak RSS {usage.ru_maxrss / 1024:.0f} MB, citations honest")


if __name__ == "__main__":
    main()
