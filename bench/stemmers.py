#!/usr/bin/env python3
"""Stemmer speed on a BEIR collection's text: PyStemmer vs Whoosh's own stemmers.

    PYTHONPATH=. python bench/stemmers.py [COLLECTION]

Tokens are kb's (its tokenizer, folded, stop words dropped); each stemmer is
timed on every token (no cache: what a first build pays) and on the distinct
tokens (what kb pays, since it caches per token).  Also counts how often the
stemmers disagree.  Ranking quality per stemmer: ``bench/quality.py --stemmer``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.analysis import _TOKEN, STOP_WORDS, fold  # noqa: E402

DEFAULT_COLLECTION = ROOT.parent / "shared" / "eval" / "scifact"


def main() -> int:
    col = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_COLLECTION
    tokens: list[str] = []
    with open(col / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            for m in _TOKEN.finditer(f"{d.get('title', '')} {d.get('text', '')}"):
                w = fold(m.group())
                if w not in STOP_WORDS and w.isalpha():
                    tokens.append(w)
    distinct = sorted(set(tokens))

    import Stemmer
    from whoosh.lang import stemmer_for_language
    from whoosh.lang.porter import stem as porter

    py = Stemmer.Stemmer("english")
    py.maxCacheSize = 0  # time the algorithm, not PyStemmer's cache
    stemmers = {
        "PyStemmer (Snowball english, C)": py.stemWord,
        "Whoosh porter (StemFilter default)": porter,
        "Whoosh snowball english (pure Python)": stemmer_for_language("en"),
    }
    print(f"# {col.name}: {len(tokens):,} tokens, {len(distinct):,} distinct")
    print(f"{'stemmer':40} {'tokens/s':>12} {'distinct/s':>12} {'differs from PyStemmer':>24}")
    ref = {w: py.stemWord(w) for w in distinct}
    for name, fn in stemmers.items():
        t0 = time.perf_counter()
        for w in tokens:
            fn(w)
        t_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = [fn(w) for w in distinct]
        t_dist = time.perf_counter() - t0
        diff = sum(1 for w, s in zip(distinct, out) if s != ref[w])
        print(f"{name:40} {len(tokens) / t_all:12,.0f} {len(distinct) / t_dist:12,.0f} "
              f"{diff:>15,} ({diff / len(distinct):.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
