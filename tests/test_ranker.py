"""The array ranker matches exactly what Whoosh's posting lists say, scores true BM25F,
and its arrays follow every update."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb import store as _store
from kb.engine import rankarrays
from kb.models import Scoring
from kb.query import Concept, Group

_S = Scoring()
B, K1, FIELD_BOOSTS = _S.b, _S.k1, _S.weights

from .conftest import SAMPLE

QUERIES = [
    "harassment", "bystander intervention", '"zero tolerance"', "interven*", "wom?n",
    "harrasment~", "harassment -online", "harassment NOT online", "title:tolerance",
    'section:"closing remarks"', "harassment OR abuse", "(bystander OR peer) AND training",
    "date:2022 harassment", "doc:guides* reporting", "prevention AND NOT training",
    "sexual harassment in the workplace and how bystanders can intervene safely",
    '"sexual harassment" policy', "peer-to-peer", "victim/survivor", "Task Force's",
    "ST/SGB/2003/13", "date:[2021 to 2022]", "a*", "harassment ANDMAYBE online",
]


def _ids(kb: KnowledgeBase, q: str, **kw) -> tuple[int, set[str]]:
    r = kb.search(q, limit=None, **kw)
    return r.total, {h.id for h in r.hits}


@pytest.fixture()
def built(tiny_corpus: Path, tmp_path: Path):
    kb = KnowledgeBase(tiny_corpus, tmp_path / "index")
    kb.update()
    yield kb
    kb.close()


def _whoosh_query(node, rk):
    """The matching rule as a Whoosh query over the fields a passage holds a concept
    in (text and section; a field named in the query: that one)."""
    from whoosh import query as Q

    if isinstance(node, Concept):
        fields = (node.field,) if node.field else ("text", "section")
        if node.kind in ("wildcard", "fuzzy"):
            terms = rk.wildcard_terms(node.terms[0]) if node.kind == "wildcard" else \
                rk.fuzzy_terms(node.terms[0], node.maxdist, node.nearest)
            return Q.Or([Q.Term(f, t) for f in fields for t in terms]) if terms else Q.NullQuery
        alts = []
        for form in node.all_forms:
            for f in fields:
                if len(form) == 1:
                    alts.append(Q.Term(f, form[0]))
                else:
                    alts.append(Q.Phrase(f, list(form), slop=node.slop))
        return Q.Or(alts)
    kids = [_whoosh_query(c, rk) for c in node.children]
    if node.op == "not":
        return Q.Not(kids[0])
    if node.op == "maybe":
        return kids[0]
    if node.op == "or":
        pos = [k for k, c in zip(kids, node.children) if not (isinstance(c, Group) and c.op == "not")]
        neg = [k.query for k, c in zip(kids, node.children) if isinstance(c, Group) and c.op == "not"]
        if neg:
            return Q.Or(pos + [Q.Not(Q.Or(neg))])
        return Q.Or(pos)
    req = [k for k, c in zip(kids, node.children)
           if not (isinstance(c, Concept) and c.optional)]
    return Q.And(req)


def test_full_matches_are_what_whoosh_finds_for_the_matching_rule(built):
    """Every query kind: the passages the ranker counts as full matches are those a
    Whoosh query of the matching rule finds over the index's own postings."""
    from kb.search import _symbol, resolve
    from kb.query import parse

    gen = built._open(ranker=True)
    engine = gen.engine
    rk = engine.ranker
    for q in QUERIES:
        if q.startswith(("date:", "doc:")):
            continue
        pq = resolve(engine, _symbol(engine, parse(q)))
        if pq.root is None or pq.symbol:
            continue
        want = {engine.searcher.stored_fields(d)["id"]
                for d in engine.searcher.docs_for_query(_whoosh_query(pq.root, rk))}
        r = built.search(q, limit=None, dedup=False, partial=False, correct=False)
        assert {h.id for h in r.hits} == want, q
        assert r.total == len(want), q
        assert all(h.match == "full" for h in r.hits)


def test_every_query_kind_runs_with_every_option(built):
    for q in QUERIES + ["climate change", "whistle-blower", "whistleblower",
                        '"zero tolerance" -online', '"sexual harassment"~3 training']:
        for kw in ({}, {"section": "remarks"}, {"doc": "peer"}, {"group": True},
                   {"partial": False}, {"facets": 3}):
            built.search(q, **kw)


def test_the_array_ranker_is_the_one_used(built):
    gen = built._open(ranker=True)
    assert gen.engine.ranker is not None
    assert gen.engine.ranker.n == sum(d.passages for d in built.documents())  # every passage


def test_true_bm25f_score_of_one_term_by_hand(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Alpha report\n\n" + "alpha beta gamma delta. " * 12)
    (corpus / "b.md").write_text("# Other\n\n" + "beta gamma delta epsilon zeta. " * 10)
    kb = KnowledgeBase(corpus, tmp_path / "ix")
    kb.update()
    r = kb.search("alpha", limit=5)
    assert [h.doc for h in r.hits] == ["a.md"]
    rk = kb._gen.engine.ranker
    # alpha: 12 times in a's text, once in its title (2 words; b's has 1)
    from kb.analysis import index_terms

    la, lb = (len(index_terms(p.text)) for p in kb.passages())
    n, df = 2, 1
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    avg_text, avg_title = (la + lb) / 2, (2 + 1) / 2
    w_title = FIELD_BOOSTS["title"]
    tf = 12 / ((1 - B) + B * la / avg_text) + w_title * 1 / ((1 - B) + B * 2 / avg_title)
    expect = idf * tf * (K1 + 1) / (K1 + tf)
    assert r.hits[0].score == pytest.approx(expect, rel=1e-4)
    assert rk.n_live == 2
    kb.close()


def _postings(index_dir: Path) -> dict[tuple[str, str, str], tuple[int, tuple[int, ...]]]:
    """Every posting of the index's ranking arrays, keyed by (field, term, passage id)."""
    gen = _store.open_generation(index_dir, ranker=True)
    rk = gen.engine.ranker
    ids = {}
    for d in range(rk.n):
        if rk.live[d]:
            ids[d] = gen.engine.reader.stored_fields(d)["id"]
    out = {}
    for p, base in rk.parts:
        for i in range(p.nterms):
            t = p.term_at(i)
            for f in rankarrays.FIELDS:
                docs, tf, pos = p.positions(f, i)
                off = 0
                for d, n in zip(docs.tolist(), tf.tolist()):
                    g = d + base
                    if g in ids:
                        out[(f, t, ids[g])] = (n, tuple(pos[off:off + n].tolist()))
                    off += n
    lengths = {}
    for f in rankarrays.FIELDS:
        inv = rk.inv_norm(f)
        for d, pid in ids.items():
            lengths[(f, pid)] = float(inv[d])
    gen.close()
    return out, lengths


def test_arrays_follow_updates_deletions_and_merges(tmp_path):
    """Many small updates (Whoosh merges small segments on commit): the arrays
    equal those of a clean build of the same files, posting for posting."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    ix = tmp_path / "ix"
    kb = KnowledgeBase(corpus, ix)  # update() only: nothing left open
    rng = np.random.default_rng(3)
    words = SAMPLE.read_text(encoding="utf-8").split()
    for step in range(14):
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(0, 9))
            start = int(rng.integers(0, len(words) - 300))
            body = " ".join(words[start:start + int(rng.integers(60, 300))])
            (corpus / f"f{k}.md").write_text(f"# Doc {k} step {step}\n\n{body}\n")
        if step % 4 == 3:
            victims = sorted(corpus.iterdir())[:1]
            for v in victims:
                v.unlink()
        kb.update()
    gen = _store.open_generation(ix)
    assert len(gen.engine.reader.leaf_readers()) >= 1
    gen.close()
    got = _postings(ix)
    clean = tmp_path / "clean"
    KnowledgeBase(corpus, clean).update()
    want = _postings(clean)
    assert got[0] == want[0]
    assert got[1].keys() == want[1].keys()
    for k in got[1]:
        assert got[1][k] == pytest.approx(want[1][k], rel=1e-6), k


def test_missing_arrays_are_derived_from_whoosh(built, tiny_corpus, tmp_path):
    """In an index without checksums (an earlier kb's: with them, a missing part is
    damage, tests/test_damage.py), missing ranking arrays are derived from Whoosh."""
    before = _ids(built, "harassment")
    built.close()
    gen_dir = next(p for p in (tmp_path / "index").iterdir() if p.name.startswith("g"))
    for part in [*gen_dir.glob("*.kr*"), *gen_dir.glob("sums-*.json")]:
        part.unlink()
    kb = KnowledgeBase(tiny_corpus, tmp_path / "index")
    assert _ids(kb, "harassment") == before
    assert kb._gen.engine.ranker is not None
    kb.close()


def test_part_files_split_a_big_segment(tmp_path, monkeypatch):
    monkeypatch.setattr(rankarrays, "PART_TOKENS", 200)
    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    kb = KnowledgeBase(corpus, tmp_path / "ix")
    kb.update()
    gen_dir = next(p for p in (tmp_path / "ix").iterdir() if p.name.startswith("g"))
    assert len(list(gen_dir.glob("*.kr*"))) > 3
    split = [kb.search(q, limit=None) for q in QUERIES[:12]]
    kb.close()
    monkeypatch.setattr(rankarrays, "PART_TOKENS", 12_000_000)
    whole = KnowledgeBase(corpus, tmp_path / "ix2")
    whole.update()
    for a, b in zip(split, (whole.search(q, limit=None) for q in QUERIES[:12])):
        assert [(h.id, h.score) for h in a.hits] == [(h.id, h.score) for h in b.hits]
        assert (a.total, a.partial) == (b.total, b.partial)
    whole.close()


def test_a_page_is_the_start_of_the_full_ranking(tmp_path, monkeypatch):
    """The phrase tier verifies only as many passages as a page needs: pages still
    equal the full ranking's slices."""
    monkeypatch.setattr("kb.engine.ranker.PHRASE_CHUNK", 2)
    corpus = tmp_path / "c"
    corpus.mkdir()
    words = SAMPLE.read_text(encoding="utf-8").split()
    for k in range(12):
        body = " ".join(words[k * 97: k * 97 + 260])
        (corpus / f"d{k}.md").write_text(f"# Report {k}\n\n{body}\n\nsexual harassment and "
                                         f"{'harassment sexual ' * (k % 3)}\n")
    kb = KnowledgeBase(corpus, tmp_path / "ix")
    kb.update()
    for q in ("sexual harassment", "zero tolerance", "harassment in the field", "sexual"):
        full = [h.id for h in kb.search(q, limit=None).hits]
        for limit, offset in ((1, 0), (3, 0), (5, 2), (4, 7)):
            page = [h.id for h in kb.search(q, limit=limit, offset=offset).hits]
            assert page == full[offset:offset + limit], (q, limit, offset)
    kb.close()


def test_segments_stay_few_over_many_updates(tmp_path):
    """Size-tiered merging (kb.engine.whoosh_engine.tiered_merge): 40 updates of 1-12 files leave a handful
    of segments, and the ranking arrays still equal a clean build's."""
    import random

    corpus = tmp_path / "c"
    corpus.mkdir()
    kb = KnowledgeBase(corpus, tmp_path / "ix")
    rnd = random.Random(7)
    most = 0
    for i in range(40):
        for _ in range(rnd.choice([1, 1, 2, 5, 12])):
            k = rnd.randrange(300)
            (corpus / f"f{k}.md").write_text(f"# T{i}\n\n" + f"word{i} alpha beta. " * 20)
        kb.update()
        gen = _store.open_generation(tmp_path / "ix")
        most = max(most, len(gen.engine.reader.leaf_readers()))
        gen.close()
    from kb.engine.whoosh_engine import MERGE_FACTOR as f

    tiers = math.floor(math.log(len(list(corpus.iterdir())), f)) + 1
    assert most <= (f - 1) * tiers + 1, most  # at most f-1 per tier, and the new one
    clean = tmp_path / "clean"
    KnowledgeBase(corpus, clean).update()
    assert _postings(tmp_path / "ix")[0] == _postings(clean)[0]


# -- fuzzy words: edit distance over the words as written -------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _sample_kb(root: Path) -> KnowledgeBase:
    """The sample report, indexed under ``root``."""
    corpus = root / "c"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    kb = KnowledgeBase(corpus, root / "ix")
    kb.update()
    return kb


@pytest.fixture(scope="module")
def split_sample(tmp_path_factory: pytest.TempPathFactory):
    """The sample report, its ranking arrays split into many parts, plus a file of
    accented, Cyrillic and symbol-like words; and a second segment from an update."""
    mp = pytest.MonkeyPatch()
    mp.setattr(rankarrays, "PART_TOKENS", 300)
    kb = _sample_kb(tmp_path_factory.mktemp("fuzzy"))
    (kb.corpus / "more.md").write_text(
        "# Égalité\n\nÉgalité des genres, harcèlement, домогательство, ﬁnance, "
        "naïve café, S/RES/2771, zürich, œuvre, ÿes, ÿ\n", encoding="utf-8")
    kb.update()
    mp.undo()
    gen = kb._open(ranker=True)
    yield gen.engine
    kb.close()


_SAMPLE_WORDS = sorted(set(SAMPLE.read_text(encoding="utf-8").lower().split()))[:400]


def _fuzzy_spec(reader, w: str, maxdist: int) -> list[str]:
    """What a fuzzy word means: the terms of every word as written (the ``words``
    field) within ``maxdist`` edits, a swap of neighbours being one edit (Whoosh's
    damerau_levenshtein, an optimal-string-alignment distance)."""
    from whoosh.support.levenshtein import damerau_levenshtein

    from kb.analysis import split_entry

    out = set()
    for b in reader.lexicon("words"):
        surface, t = split_entry(b.decode("utf-8"))
        if damerau_levenshtein(surface, w) <= maxdist:
            out.add(t)
    return sorted(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=st.one_of(
    st.sampled_from(_SAMPLE_WORDS + ["égalité", "harcèlement", "домогательство", "cafe",
                                     "zurich", "ÿ"]),
    st.text("aehinorstuélÿд", min_size=1, max_size=9)),
    edits=st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["a", "e", "x", "", "swap"])),
                   max_size=2),
    maxdist=st.integers(1, 2))
def test_fuzzy_expansion_is_the_edit_distance_over_the_words_as_written(
        split_sample, word, edits, maxdist):
    from kb.analysis import fold

    w = fold(word)
    for at, ch in edits:  # a typo or two: a letter changed or dropped, two swapped
        w = w[:at] + w[at + 1:at + 2] + w[at:at + 1] + w[at + 2:] if ch == "swap" else \
            w[:at] + ch + w[at + 1:]
    w = w or word
    engine = split_sample
    assert len(engine.ranker.parts) > 3
    assert engine.ranker.fuzzy_terms(w, maxdist) == _fuzzy_spec(engine.reader, w, maxdist)


def test_fuzzy_counts_a_swap_of_neighbours_as_one_edit(split_sample):
    for typo, right in (("hraassment", "harass"), ("bsytander", "bystand")):
        assert right in split_sample.ranker.fuzzy_terms(typo, 1)


def test_a_bare_tilde_takes_the_nearest_spellings_only(split_sample):
    rk = split_sample.ranker
    # one edit from "harassment": the nearest; "harass"ing words two edits away are not
    assert rk.fuzzy_terms("harasment", 2, nearest=True) == ["harass"]
    assert set(rk.fuzzy_terms("harasment", 2)) >= {"harass"}


def test_prefix_range_and_terms_between(split_sample):
    for p, _ in split_sample.ranker.parts:
        terms = p.terms_between(0, p.nterms)
        assert terms == [p.term_at(i) for i in range(p.nterms)] and terms == sorted(
            terms, key=lambda t: t.encode())
        for pre in ("", "a", "ha", "é", "д", "ÿ", "zzz", terms[len(terms) // 2][:3]):
            lo, hi = p.prefix_range(pre.encode())
            assert [t for t in terms if t.startswith(pre)] == terms[lo:hi], pre


def test_equal_scores_go_by_passage_id_after_updates_as_in_a_fresh_build(tmp_path):
    """Ties break by passage id (document id, then place), not by the passage numbers
    an update reshuffles: the pages of an updated index equal a fresh build's."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    body = "The ombudsman offers mediation to staff in field missions across regions."
    for name in ("a", "b", "c", "d"):
        (corpus / f"{name}.md").write_text(f"# Note\n\n{body}\n\nOther words {name}.\n")
    kb = KnowledgeBase(corpus, tmp_path / "ix")
    kb.update()
    (corpus / "a.md").write_text(f"# Note\n\n{body}\n\nOther words e.\n")  # as long
    (corpus / "b.md").write_text(f"# Note\n\n{body}\n\nOther words f.\n")
    kb.update()
    updated = [h.doc for h in kb.search("mediation", dedup=False).hits]
    kb.close()
    fresh = KnowledgeBase(corpus, tmp_path / "ix2")
    fresh.update()
    built = [h.doc for h in fresh.search("mediation", dedup=False).hits]
    fresh.close()
    assert updated == built == ["a.md", "b.md", "c.md", "d.md"]
