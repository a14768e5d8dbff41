#!/usr/bin/env python3
"""Hand-made queries over the bundled corpus: do passages holding every query word
come first?  kb's ranking beside orders of the same matches by BM25F score.

    PYTHONPATH=. python bench/handmade.py [CORPUS]

Every query is searched once (``KnowledgeBase.search(q, limit=None)``: full
matches, then partial ones).  The same hits are then put in three orders:

* **kb**: as kb ranks them: the passages whose own text or section holds every
  word (``Hit.match == "full"``) first, then the partial matches, those holding
  more of the words first, each tier by BM25F score;
* **full first, then score**: full matches first, every partial match by score
  alone (how many words it holds does not count);
* **score only**: every match by BM25F score alone (one OR query).

Per order: "inversions", pairs where a partial match is ranked above a full one;
"fewer-words inversions", pairs of partial matches where the one holding fewer
of the words is ranked above one holding more; and whether the top hit holds
every word.  The index is built in a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.api import KnowledgeBase  # noqa: E402
from kb.models import Hit  # noqa: E402

QUERIES = [
    "sexual harassment field", "bystander intervention", "UN system approach",
    "victim survivor", "peer learning dialogue", "reporting mechanisms",
    "leadership environment", "women workforce Bangladesh", "zero tolerance culture",
    "task force prevention", "remote locations survivors", "screening perpetrators database",
    "accountability tools workplaces", "men boys allies", "power differentials",
    "senior management tone", "online harassment COVID", "Member States good practices",
]


def _score(h: Hit) -> float:
    return h.score if h.score is not None else float("inf")


ORDERS = {
    "kb": None,  # as returned
    "full first, then score": lambda h: (h.match != "full", -_score(h), h.rank),
    "score only": lambda h: (-_score(h), h.rank),
}


def inversions(hits: list[Hit]) -> tuple[int, int]:
    """(partial above full, fewer words above more) pairs in this order."""
    full = [h.match == "full" for h in hits]
    inv = sum(1 for i, f in enumerate(full) for g in full[i + 1:] if not f and g)
    lacking = [len(h.missing_terms) for h, f in zip(hits, full) if not f]
    fewer = sum(1 for i, a in enumerate(lacking) for b in lacking[i + 1:] if a > b)
    return inv, fewer


def main() -> int:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "corpus"
    with tempfile.TemporaryDirectory() as tmp:
        with KnowledgeBase(corpus, Path(tmp) / "index") as kb:
            kb.update()
            results = {q: list(kb.search(q, limit=None).hits) for q in QUERIES}
    n = len(QUERIES)
    full = sum(sum(h.match == "full" for h in hs) for hs in results.values())
    total = sum(len(hs) for hs in results.values())
    print(f"{n} queries, {total:,} matches ({full:,} full, {total - full:,} partial); "
          f"corpus {corpus}")
    print(f"{'order':24} {'inversions':>10} {'queries with any':>17} "
          f"{'fewer-words inv.':>17} {'top hit has all':>16}")
    for name, key in ORDERS.items():
        inv = bad_q = fewer = top_ok = 0
        for q in QUERIES:
            hits = results[q] if key is None else sorted(results[q], key=key)
            i, f = inversions(hits)
            inv += i
            bad_q += i > 0
            fewer += f
            top_ok += bool(hits and hits[0].match == "full")
        print(f"{name:24} {inv:10d} {bad_q:>10d} of {n:<3d} {fewer:>17,d} "
              f"{top_ok:>9d} of {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
