"""Counts by document and by year (``KnowledgeBase.search(..., facets=N)``): every
full match counted once, in the document of the passage that stands for it, and
what the web page's facets show."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from kb import KnowledgeBase

from .test_dedup import QUERIES, _corpus


def _naive(kb: KnowledgeBase, q: str, n: int, **kw):
    """The facets counted by hand from every full match of the ungrouped search:
    documents by count, ties by their best hit; years latest first."""
    full = [h for h in kb.search(q, limit=None, **kw).hits if h.match == "full"]
    by_doc = Counter(h.doc for h in full)
    first = {}
    for h in full:
        first.setdefault(h.doc, h.rank)
    docs = sorted(by_doc, key=lambda d: (-by_doc[d], first[d]))[:n]
    years = Counter((h.date or "")[:4] for h in full)
    undated = years.pop("", 0)
    return ([(d, by_doc[d]) for d in docs], len(by_doc),
            sorted(years.items(), reverse=True), undated)


def _got(r):
    f = r.facets
    return ([(d.doc, d.count) for d in f.docs], f.documents, list(f.years), f.undated)


@pytest.fixture()
def dated(tmp_path: Path):
    """The identical-passage corpus of test_dedup, with dates of three years and none."""
    corpus = _corpus(tmp_path)
    for name, date in (("a/report-copy.txt", "2023-01-01"), ("z/report-copy.txt", "2023-02-01"),
                       ("other.txt", "2021-06-30")):
        p = corpus / name
        text = p.read_text(encoding="utf-8")
        p.write_text(f"Date: {date}\n\n{text}", encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "index", corpus_prefix="corpus/")
    k.update()
    yield k
    k.close()


@pytest.mark.parametrize("kw", [{}, {"group": True}, {"doc": "*report*"},
                                {"since": dt.date(2022, 1, 1)}, {"limit": 2, "offset": 1}])
def test_facets_are_the_counts_of_every_full_match(dated, kw):
    filters = {k: v for k, v in kw.items() if k in ("doc", "since")}
    seen_years = set()
    for q in QUERIES:
        for n in (1, 3, 12):
            r = dated.search(q, facets=n, **kw)
            want = _naive(dated, q, n, **filters)
            assert _got(r) == want, (q, n)
            assert sum(c for _, c in want[2]) + want[3] == \
                dated.search(q, limit=None, **filters).total
            seen_years |= {y for y, _ in want[2]}
    if not kw:
        assert seen_years == {"2021", "2023"}  # the fixture's dates are read


def test_no_facets_unless_asked(dated):
    r = dated.search("retaliation")
    assert r.facets is None and "facets" not in r.to_dict()
    d = dated.search("retaliation", facets=2).to_dict()["facets"]
    assert set(d) == {"documents", "docs", "years", "undated"}
    assert len(d["docs"]) == 2 and all(set(x) == {"doc", "title", "count"} for x in d["docs"])


def test_a_corrected_query_counts_its_own_matches(dated):
    r = dated.search("retalation", facets=5)
    assert r.corrected_query == "retaliation"
    assert _got(r) == _naive(dated, "retaliation", 5)


def test_nothing_matches_no_documents(dated):
    r = dated.search("zzzqqq", facets=5, correct=False)
    assert r.total == 0 and _got(r) == ([], 0, [], 0)


def test_documents_tied_on_count_and_score_go_in_the_order_of_their_hits(tmp_path):
    """Three one-passage documents that score alike; the first is edited (its passage
    gets a new, higher number, its document keeps its place in the index's tables):
    the facets still list them as the hits come."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    body = "The ombudsman offers mediation to staff in field missions across regions. " * 3
    for name in ("a", "b", "c"):
        (corpus / f"{name}.md").write_text(f"# Note\n\n{body}\n", encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "ix")
    k.update()
    (corpus / "a.md").write_text(f"# Note\n\n{body}\n\n", encoding="utf-8")  # same words
    k.update()
    try:
        r = k.search("mediation", facets=3, dedup=False)
        assert len({h.score for h in r.hits}) == 1  # a real tie
        assert [d.doc for d in r.facets.docs] == [h.doc for h in r.hits]
    finally:
        k.close()
