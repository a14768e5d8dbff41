"""The fast build paths give the same index as the plain ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.engine.schema import document_fields, make_schema

WORDS = ("harassment bystander training workplace colleague report mediation network "
         "station secretariat programme behaviour organisation zebra quokka policy "
         "investigation complaint focal point hotline field office review").split()


def write_corpus(root: Path, files: int = 40, sections: int = 6, seed: int = 3,
                 binary: bool = True) -> Path:
    rng = random.Random(seed)
    for i in range(files):
        folder = root / f"part{i // 10}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"# Report {i} on {rng.choice(WORDS)}", "", f"{1 + i % 28} May 2021", ""]
        for j in range(sections):
            para = " ".join(rng.choice(WORDS) for _ in range(rng.randint(45, 90)))
            lines += [f"## Section {j} {rng.choice(WORDS)}", "", para.capitalize() + ".", ""]
        (folder / f"r{i:03d}.md").write_text("\n".join(lines), encoding="utf-8")
    if binary:
        (root / "part0" / "binary.md").write_bytes(b"\x00\x01 not text")
    return root


def test_parallel_build_matches_serial(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus")
    results = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("KB_INDEX_WORKERS", workers)
        with KnowledgeBase(corpus, tmp_path / f"index-{workers}") as kb:
            report = kb.update(rebuild=True)
            assert [s.id for s in report.skipped] == ["part0/binary.md"]
            results[workers] = (
                report.passages_added, sorted(report.added),
                [(p.id, p.text, p.line_start) for p in kb.passages()],
                {q: sorted((h.id, h.score) for h in kb.search(q, limit=None).hits)
                 for q in ("harassment", "zebra OR quokka", '"focal point"', "behavior",
                           "behavio?r", "organis*")},
                [(d.id, d.passages, d.title, d.date) for d in kb.documents()],
            )
    assert results["1"] == results["2"]
    assert results["2"][0] == 40 * 6
    assert results["2"][3]["behavio?r"] and results["2"][3]["organis*"]  # workers write words


def _dump(ix):
    with ix.reader() as r:
        return _dump_reader(r)


def _dump_reader(r):
    out = []
    for fn, t in r.all_terms():
        m = r.postings(fn, t)
        posts = []
        while m.is_active():
            posts.append((m.id(), m.weight(), m.value()))
            m.next()
        ti = r.term_info(fn, t)
        out.append((fn, t, posts, ti.min_length(), ti.max_length(), ti.max_weight()))
    lengths = [[r.doc_field_length(i, f) for i in range(r.doc_count_all())]
               for f in ("text", "title", "section")]
    return out, list(r.all_stored_fields()), lengths


@pytest.mark.parametrize("spill", [False, True])
def test_kb_segment_writer_writes_what_whoosh_writes(tmp_path, spill):
    from whoosh.index import create_in
    from whoosh.writing import SegmentWriter

    from kb.corpus import walk
    from kb.load import load
    from kb.engine.segwriter import KbSegmentWriter

    corpus = write_corpus(tmp_path / "corpus", files=12, binary=False)
    docs = [load(f).passages for f in walk(corpus).files if not f.id.endswith("binary.md")]
    dumps = []
    for cls in (SegmentWriter, KbSegmentWriter):
        d = tmp_path / cls.__name__
        d.mkdir()
        ix = create_in(str(d), make_schema())
        w = cls(ix, limitmb=64, compound=False)
        if spill and cls is KbSegmentWriter:
            w.pool.limit = 20_000  # spill runs to disk every few documents
        for passages in docs:
            for fields in document_fields(passages):
                w.add_document(**fields)
        if spill and cls is KbSegmentWriter:
            assert w.pool.runs
        w.commit()
        dumps.append(_dump(ix))
    assert dumps[0] == dumps[1]
    words = [t for fn, t, *_ in dumps[0][0] if fn == "words"]
    assert b"harassment harass" in words and b"zebra" in words  # the words field is written


def test_quick_staleness_checks_folders_in_large_corpora(tmp_path, monkeypatch):
    from kb import api

    corpus = write_corpus(tmp_path / "corpus", files=20, binary=False)
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        kb.update()
        st = kb.quick_staleness()
        assert st.count == 0 and not st.folders
        (corpus / "part1" / "new.md").write_text("# New\n\nA new report.\n", encoding="utf-8")
        assert kb.quick_staleness().new == ["part1/new.md"]  # small corpus: every file
        monkeypatch.setattr(api, "QUICK_CHECK_TABLE_BYTES", 10)  # as if it were large
        kb.close()
        st = kb.quick_staleness()
        assert st.folders == ["part1"] and st.count == 0
        kb.update()
        kb.close()
        assert not kb.quick_staleness().folders


def test_kb_segment_writer_takes_its_own_fast_path(tiny_corpus, tmp_path, monkeypatch):
    """The equivalence test above cannot tell kb's writer from Whoosh's own (they write
    the same files); this one fails if KbSegmentWriter's fast path is not the one used
    (a merge once left its methods nested in a module function, silently)."""
    from kb.engine import segwriter

    calls = {"postings": 0, "flush": 0}
    postings, write_terms = segwriter._positions_postings, segwriter._write_terms

    def counted_postings(*a, **kw):
        calls["postings"] += 1
        return postings(*a, **kw)

    def counted_terms(*a, **kw):
        calls["flush"] += 1
        return write_terms(*a, **kw)

    monkeypatch.setattr(segwriter, "_positions_postings", counted_postings)
    monkeypatch.setattr(segwriter, "_write_terms", counted_terms)
    KnowledgeBase(tiny_corpus, tmp_path / "ix").update()
    assert calls["postings"] > 0 and calls["flush"] == 1
