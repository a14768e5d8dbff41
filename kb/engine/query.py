"""What the Whoosh engine still asks of Whoosh at search time.

kb parses its queries itself (:mod:`kb.query`) and ranks them over the ranking
arrays (:mod:`kb.engine.ranker`); Whoosh is the index of record.  Left here:

* :func:`lexicon_cache` — "is this term in the index?" answers per reader (the
  compound spellings of a query's words are looked up there).
* :func:`weighting` — Whoosh's BM25F with the Robertson idf, with kb's K1 and B:
  what a Whoosh searcher is opened with, and the reference the array ranker's
  scores are tested against (``tests/test_ranker.py``).
"""

from __future__ import annotations

from typing import Any

_LEXICON_CACHES: dict[int, tuple[Any, dict[tuple[str, str], bool]]] = {}


def lexicon_cache(reader: Any) -> dict[tuple[str, str], bool]:
    """``(field, term) -> in the index?`` answers for one reader, kept while it is the
    reader searched: a query's words are looked up for their compound spellings, and
    each look-up costs a visit to every segment.  The reader is held weakly: a
    closed, replaced reader (and its files) is not kept."""
    import weakref

    hit = _LEXICON_CACHES.get(id(reader))
    if hit is not None and hit[0]() is reader:
        return hit[1]
    if len(_LEXICON_CACHES) > 4:
        _LEXICON_CACHES.clear()
    cache: dict[tuple[str, str], bool] = {}
    _LEXICON_CACHES[id(reader)] = (weakref.ref(reader), cache)
    return cache


def weighting(k1: float | None = None, b: float | None = None) -> Any:
    """Whoosh's BM25F scorer with the Robertson-Sparck Jones idf (never negative) and
    kb's K1 and B (:class:`kb.models.Scoring`)."""
    from ..models import Scoring

    d = Scoring()
    return _robertson_bm25f()(B=d.b if b is None else b, K1=d.k1 if k1 is None else k1)


_BM25F_CLASS: Any = None


def _robertson_bm25f() -> Any:
    global _BM25F_CLASS
    if _BM25F_CLASS is None:
        import math

        from whoosh import scoring

        class RobertsonBM25F(scoring.BM25F):  # type: ignore[misc]
            """BM25F with the Robertson-Sparck Jones idf (never negative)."""

            def idf(self, searcher: Any, fieldname: str, text: str) -> float:
                parent = searcher.get_parent()
                n = parent.doc_frequency(fieldname, text)
                dc = parent.doc_count_all()
                return math.log(1.0 + (dc - n + 0.5) / (n + 0.5))

        _BM25F_CLASS = RobertsonBM25F
    return _BM25F_CLASS
