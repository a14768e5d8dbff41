"""Identical passages once: the same text in several files is one hit listing the others.

A report copied three times and a Markdown note sharing passages with a text
file: search, paging, grouping, both rankers, export, ``kb docs`` and ``kb status``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.cli import cli
from kb.dedup import normalise, text_key

from .conftest import SAMPLE

_WORDS = SAMPLE.read_text(encoding="utf-8").split()


def _para(k: int, n: int = 55) -> str:
    """A paragraph of its own (a slice of the sample report), holding "retaliation"."""
    body = " ".join(w for w in _WORDS[k * 61: k * 61 + n] if w.isalpha())
    return f"Protection against retaliation matters here. {body.capitalize()}."


REPORT = "Staff safety report\n\n" + "\n\n".join(_para(k) for k in range(6)) + "\n"
SHARED = [_para(10), _para(11)]
OTHER = "Other report\n\n" + "\n\n".join(SHARED + [_para(12)]) + "\n"
# the same two passages as OTHER, written as Markdown: wrapped differently, curly quotes,
# another case; plus one of its own
NOTES = ("# Notes on safety\n\n"
         + SHARED[0].replace("Protection against", "PROTECTION\nagainst") + "\n\n"
         + SHARED[1].replace("matters here.", "“matters” here!") + "\n\n" + _para(13) + "\n")
COPIES = ["a/report-copy.txt", "b/report-copy.txt", "z/report-copy.txt"]


def _corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text(REPORT, encoding="utf-8")
    for c in COPIES:
        (corpus / c).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / "report.txt", corpus / c)
    (corpus / "other.txt").write_text(OTHER, encoding="utf-8")
    (corpus / "notes.md").write_text(NOTES, encoding="utf-8")
    return corpus


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return _corpus(tmp_path)


@pytest.fixture()
def kb(corpus: Path):
    k = KnowledgeBase(corpus, corpus.parent / "index", corpus_prefix="corpus/")
    k.update()
    yield k
    k.close()


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_what_counts_as_identical():
    a = "Protection against “retaliation” – for staff.\n  See  para 3."
    assert normalise(a) == "protection against retaliation for staff see para 3"
    assert text_key(a) == text_key('PROTECTION against "retaliation" - for staff. See para 3')
    assert text_key("ﬁeld") == text_key("field")  # PDF ligatures
    assert text_key(a) != text_key(a.replace("3", "4"))  # a number counts
    assert text_key(a) != text_key(a.replace("staff", "staff members"))


def test_search_shows_each_text_once_listing_the_other_files(kb):
    full = kb.search("retaliation", limit=None, dedup=False)
    assert full.total == 6 * 4 + 3 + 2 + 1  # every passage on its own
    r = kb.search("retaliation", limit=None)
    assert r.total == 6 + 3 + 1 == len(r.hits)  # distinct texts
    assert len({normalise(h.text) for h in r.hits}) == len(r.hits)
    for h in r.hits:
        if h.doc.endswith("report-copy.txt") or h.doc == "report.txt":
            # four files hold it: the hit is the first by document id, the others listed
            assert h.doc == "a/report-copy.txt"
            line = f":{h.line_start}" if h.line_end == h.line_start else \
                f":{h.line_start}-{h.line_end}"
            assert list(h.also_in) == [f"corpus/{d}{line}" for d in
                                       ("b/report-copy.txt", "report.txt", "z/report-copy.txt")]
        elif normalise(h.text) in {normalise(t) for t in SHARED}:
            other = {"notes.md", "other.txt"} - {h.doc}
            assert len(h.also_in) == 1 and h.also_in[0].startswith(f"corpus/{other.pop()}:")
        else:
            assert h.also_in == ()
    # every passage of the full ranking is a hit or listed by one
    cited = {c for h in r.hits for c in (h.citation, *h.also_in)}
    assert cited == {h.citation for h in full.hits}


def test_a_hit_is_the_best_ranked_copy(kb, corpus):
    """The Markdown note's title holds the query word: its copy of a shared passage
    ranks above the text file's and is the one shown."""
    r = kb.search("notes retaliation", limit=None)
    shared = [h for h in r.hits if normalise(h.text) in {normalise(t) for t in SHARED}]
    assert [h.doc for h in shared] == ["notes.md", "notes.md"]
    assert all(h.also_in[0].startswith("corpus/other.txt:") for h in shared)


def test_paging_over_duplicates_has_no_repeats_and_no_gaps(kb):
    for q in ("retaliation", "protection against retaliation", "staff safety"):
        full = kb.search(q, limit=None)
        ids = [h.id for h in full.hits]
        for limit in (1, 2, 3, 4):
            got: list[str] = []
            for offset in range(0, len(ids) + limit, limit):
                page = kb.search(q, limit=limit, offset=offset)
                assert page.total == full.total
                got += [h.id for h in page.hits]
            assert got == ids, (q, limit)


def test_group_collapses_before_grouping_by_document(kb):
    r = kb.search("retaliation", group=True, limit=None)
    docs = [h.doc for h in r.hits]
    assert docs == ["a/report-copy.txt", "notes.md", "other.txt"]
    by_doc = {h.doc: h for h in r.hits}
    assert by_doc["a/report-copy.txt"].more_in_doc == 5  # its six texts, once
    assert len(by_doc["a/report-copy.txt"].also_in) == 3
    assert by_doc["notes.md"].more_in_doc == 2 and by_doc["other.txt"].more_in_doc == 0
    assert r.total == len(docs)


QUERIES = ["retaliation", "protection against retaliation", '"protection against"',
           "staff safety", "notes retaliation", '"against retaliation"~2', "retal*",
           "retaliation -notes", "doc:*.md retaliation", "title:report retaliation"]


@pytest.mark.parametrize("kw", [{}, {"doc": "report"}, {"partial": False}])
def test_collapsed_hits_are_the_distinct_texts_of_every_hit(kb, kw):
    """Every query kind: with identical passages collapsed, the hits hold each text of
    the uncollapsed ranking once, at the place of its best passage, and ``total``
    counts the distinct texts of the full matches."""
    for q in QUERIES:
        every = kb.search(q, limit=None, dedup=False, **kw)
        one = kb.search(q, limit=None, **kw)
        firsts: list[str] = []
        for h in every.hits:
            if normalise(h.text) not in firsts:
                firsts.append(normalise(h.text))
        assert [normalise(h.text) for h in one.hits] == firsts, q
        assert one.total == len({normalise(h.text) for h in every.hits if h.match == "full"})


def test_slop_phrases_are_ranked_by_the_arrays_and_collapse(kb):
    r = kb.search('"against retaliation"~2', limit=None)
    assert r.total == len(r.hits) == 10
    assert len({normalise(h.text) for h in r.hits}) == 10
    assert all(h.score for h in r.hits)


def test_cli_search_json_and_text(corpus):
    r = run("search", "retaliation", "--format", "json", "--limit", "50", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["total"] == 10 == len(data["results"])
    first = [h for h in data["results"] if h["doc"] == "a/report-copy.txt"]
    assert len(first) == 6
    assert all(len(h["also_in"]) == 3 for h in first)
    assert all(h["doc"] not in ("report.txt", "b/report-copy.txt", "z/report-copy.txt")
               for h in data["results"])
    r = run("search", "retaliation", "--limit", "50", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    assert "10 passages match" in r.stdout
    assert r.stdout.count("also in: ") == 6 + 2
    assert "report.txt:" in r.stdout.split("also in: ", 1)[1].splitlines()[0]


def test_text_output_shortens_a_long_also_in(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(8):
        (corpus / f"copy{k}.txt").write_text(REPORT, encoding="utf-8")
    r = run("search", "retaliation", "--limit", "1", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if "also in: " in x)
    assert "copy1.txt:" in line and "copy3.txt:" in line and "copy4.txt" not in line
    assert line.endswith("(+4 more)")
    data = json.loads(run("search", "retaliation", "--limit", "1", "--format", "json",
                          *loc(corpus)).stdout)
    assert len(data["results"][0]["also_in"]) == 7


def test_docs_and_status_mark_exact_copies(kb, corpus):
    docs = {d.id: d for d in kb.documents()}
    assert {k: d.duplicate_of for k, d in docs.items() if d.duplicate_of} == {
        "b/report-copy.txt": "a/report-copy.txt", "report.txt": "a/report-copy.txt",
        "z/report-copy.txt": "a/report-copy.txt"}
    assert docs["other.txt"].duplicate_of is None  # shares passages, not its content
    assert kb.status().duplicates == 3
    kb.close()
    r = run("docs", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    block = r.stdout.split(str(corpus / "report.txt"))[1].splitlines()[1]
    assert block.strip() == f"same as {corpus / 'a/report-copy.txt'}"
    assert r.stdout.count("same as ") == 3
    data = json.loads(run("docs", "--format", "json", *loc(corpus)).stdout)
    assert [d["duplicate_of"] for d in data].count("a/report-copy.txt") == 3
    r = run("status", *loc(corpus))
    assert "3 files are exact copies of others" in r.stdout
    assert json.loads(run("status", "--format", "json", *loc(corpus)).stdout)["duplicates"] == 3


def test_export_without_query_collapses_too(kb, corpus):
    r = kb.export_passages()
    every = kb.passages()
    distinct = {normalise(p.text) for p in every}
    assert len(every) > len(distinct)
    assert r.total == len(r.hits) == len(distinct)
    assert len({normalise(h.text) for h in r.hits}) == len(distinct)
    copies = [h for h in r.hits if h.doc == "a/report-copy.txt"]
    assert len(copies) == 6 and all(len(h.also_in) == 3 for h in copies)
    assert not any(h.doc in ("report.txt", "b/report-copy.txt") for h in r.hits)
    kb.close()
    out = corpus.parent / "all.jsonl"
    res = run("export", "-o", str(out), *loc(corpus))
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(distinct)
    assert sum(len(x["also_in"]) for x in rows) == len(every) - len(distinct)
    # an export of a query lists them too (CSV: one cell)
    res = run("export", "retaliation", "--format", "csv", *loc(corpus))
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 10
    assert sum(bool(x["also_in"]) for x in rows) == 6 + 2


def test_an_index_without_copies_pays_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text(REPORT, encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "index")
    r = k.search("retaliation", limit=None) if k.update() else None
    assert r is not None and r.total == 6 and all(h.also_in == () for h in r.hits)
    assert k._gen.engine.ranker.identical().ngroups == 0
    k.close()


def test_copies_follow_updates(kb, corpus):
    """Deleting and editing copies: the groups follow the index's live passages."""
    (corpus / "a/report-copy.txt").unlink()
    (corpus / "b/report-copy.txt").write_text(REPORT.replace("Staff safety", "Staff"),
                                              encoding="utf-8")
    kb.update()
    r = kb.search("retaliation", limit=None)
    assert r.total == 10
    top = [h for h in r.hits if "report" in h.doc and "copy" in h.doc or h.doc == "report.txt"]
    assert {h.doc for h in top} == {"b/report-copy.txt"}
    assert all(len(h.also_in) == 2 for h in top)
    (corpus / "b/report-copy.txt").write_text(REPORT.replace("retaliation", "reprisal"),
                                              encoding="utf-8")
    kb.update()
    r = kb.search("retaliation", limit=None)
    assert {h.doc for h in r.hits if h.also_in and "other" not in h.doc
            and "notes" not in h.doc} == {"report.txt"}


# -- property: the deduplicated ranking is the naive dedup of the full one ----------

_POOL = [_para(20 + k, 45) for k in range(6)]


def _naive(full: list, prefix: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """(id, also_in) of the hits a naive dedup of the full ranking gives: per text, the
    best score, ties by document id then place; in the order of the full ranking."""
    groups: dict[str, list] = {}
    for pos, h in enumerate(full):
        groups.setdefault(normalise(h.text), []).append((pos, h))
    reps = []
    for members in groups.values():
        best = members[0][1].score
        pos, rep = min(((p, h) for p, h in members if h.score == best),
                       key=lambda ph: (ph[1].doc.encode(), ph[1].line_start))
        others = sorted((h for _, h in members if h is not rep),
                        key=lambda h: (h.doc, h.line_start))
        reps.append((pos, rep.id, tuple(h.citation for h in others)))
    reps.sort()
    return [(i, a) for _, i, a in reps]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(st.integers(0, len(_POOL) - 1), min_size=1, max_size=4),
                      min_size=1, max_size=6),
       word=st.sampled_from(["retaliation", "protection", "against retaliation"]))
def test_dedup_is_the_naive_dedup_of_the_full_ranking(tmp_path_factory, files, word):
    root = tmp_path_factory.mktemp("prop")
    corpus = root / "corpus"
    corpus.mkdir()
    for i, paras in enumerate(files):
        (corpus / f"f{i}.md").write_text(f"# Doc {i}\n\n" + "\n\n".join(_POOL[k] for k in paras)
                                         + "\n", encoding="utf-8")
    k = KnowledgeBase(corpus, root / "index")
    k.update()
    try:
        full = k.search(word, limit=None, dedup=False).hits
        got = k.search(word, limit=None)
        assert [(h.id, h.also_in) for h in got.hits] == _naive(list(full))
        assert got.total == len({normalise(h.text) for h in full})
        for limit, offset in ((1, 0), (2, 1), (3, 2)):
            page = k.search(word, limit=limit, offset=offset)
            assert [h.id for h in page.hits] == [h.id for h in got.hits][offset:offset + limit]
    finally:
        k.close()
