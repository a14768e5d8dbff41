#!/usr/bin/env python3
"""Hand-made queries over the bundled corpus: do passages holding every query word
come first?  Compares the ways multi-word queries can combine.

    PYTHONPATH=. python bench/handmade.py [CORPUS]

For each query and each mode, counts "inversions": pairs where a passage missing a
query word is ranked above one that holds them all, and whether the top hit holds
every word.  The index is built in a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import search as kb_search  # noqa: E402
from kb.api import KnowledgeBase  # noqa: E402

QUERIES = [
    "sexual harassment field", "bystander intervention", "UN system approach",
    "victim survivor", "peer learning dialogue", "reporting mechanisms",
    "leadership environment", "women workforce Bangladesh", "zero tolerance culture",
    "task force prevention", "remote locations survivors", "screening perpetrators database",
    "accountability tools workplaces", "men boys allies", "power differentials",
    "senior management tone", "online harassment COVID", "Member States good practices",
]
MODES = {
    "AND first, then OR": {"COMBINE": "and-or", "COORD": None},
    "OR": {"COMBINE": "or", "COORD": None},
    "OR + coordination 0.9": {"COMBINE": "or", "COORD": 0.9},
}


def main() -> int:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "corpus"
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(corpus, Path(tmp) / "index")
        kb.update()
        print(f"{'mode':24} {'inversions':>10} {'queries with any':>17} {'top hit has all':>16}")
        for name, settings in MODES.items():
            for k, v in settings.items():
                setattr(kb_search, k, v)
            inv = bad_q = top_ok = 0
            for q in QUERIES:
                hits = kb.search(q, limit=None).hits
                full = [not h.missing_terms for h in hits]
                n = sum(1 for i, f in enumerate(full) for g in full[i + 1:] if not f and g)
                inv += n
                bad_q += n > 0
                top_ok += bool(full and full[0])
            print(f"{name:24} {inv:10d} {bad_q:>10d} of {len(QUERIES):<3d} {top_ok:>9d} of "
                  f"{len(QUERIES)}")
        kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
