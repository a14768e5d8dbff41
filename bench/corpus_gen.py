"""Generate Markdown corpora of a given number of passages from SciFact abstracts.

Each file is a report: an H1 title, a date line, and sections (``## ...``) each
holding one paragraph of 80-120 words built from SciFact sentences.  One
paragraph is one passage for kb (40-250 words, never split or joined across
headings), so the passage count is exact.  Files go into folders of 100,
as a library of reports would.  Fixed seed: the same arguments give the same
corpus.

    python bench/corpus_gen.py OUT_DIR PASSAGES [--per-file 25] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


def sentences(path: Path = SCIFACT) -> tuple[list[str], list[str]]:
    sents, titles = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            titles.append(d["title"].rstrip("."))
            sents += [s for s in re.split(r"(?<=[.!?])\s+", d["text"]) if 5 <= len(s.split()) <= 60]
    return sents, titles


def paragraph(rng: random.Random, sents: list[str]) -> str:
    words: list[str] = []
    target = rng.randint(80, 120)
    out = []
    while len(words) < target:
        s = rng.choice(sents)
        out.append(s)
        words += s.split()
    text = " ".join(out)
    if not text.endswith((".", "!", "?")):
        text += "."
    return text


def generate(out: Path, passages: int, per_file: int = 25, seed: int = 7) -> int:
    """Write the corpus; returns the number of files."""
    rng = random.Random(seed)
    sents, titles = sentences()
    out.mkdir(parents=True, exist_ok=True)
    n_files = (passages + per_file - 1) // per_file
    left = passages
    for i in range(n_files):
        k = min(per_file, left)
        left -= k
        folder = out / f"part{i // 100:04d}"
        folder.mkdir(exist_ok=True)
        year = 2015 + i % 10
        lines = [f"# {rng.choice(titles)}", "", f"{1 + i % 28} March {year}", ""]
        for j in range(k):
            lines += [f"## {rng.choice(titles)[:60]}", "", paragraph(rng, sents), ""]
        (folder / f"report-{i:06d}.md").write_text("\n".join(lines), encoding="utf-8")
    return n_files


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("passages", type=int)
    ap.add_argument("--per-file", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(generate(a.out, a.passages, a.per_file, a.seed), "files")
