"""The stored passage codec goes by field name: every Passage field comes back."""

from __future__ import annotations

import dataclasses
import shutil

from kb import KnowledgeBase
from kb import load as kbload
from kb.engine.schema import passage_from_stored, passage_to_stored
from kb.models import Loaded, Passage

from .fixtures import RESOLUTION, SAMPLE_PDF_DIR

FULL = Passage(
    id="un/report.pdf#2", doc="un/report.pdf", ordinal=2, title="Report of the Secretary-General",
    date="2025-04-23", section="Introduction", heading_path=("Part one", "Introduction"),
    line_start=3, line_end=9, page=4, paragraph="12 (a)", text="Harassment is prevented here.",
    format="pdf", symbol="A/HRC/59/12",
)


def test_every_passage_field_is_set_in_the_sample():
    assert all(getattr(FULL, f.name) not in (None, "", ()) for f in dataclasses.fields(Passage))


def test_codec_round_trips_every_field_by_name():
    stored = passage_to_stored(FULL)
    assert passage_from_stored(stored) == FULL
    assert set(stored["meta"]) | {"id", "doc", "text"} == \
        {f.name for f in dataclasses.fields(Passage)}


def test_a_record_without_a_newer_field_gets_its_default():
    stored = passage_to_stored(FULL)
    del stored["meta"]["symbol"]
    assert passage_from_stored(stored) == dataclasses.replace(FULL, symbol=None)


def test_every_field_round_trips_through_the_index(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    (corpus / "un").mkdir(parents=True)
    (corpus / "un" / "report.pdf").write_bytes(b"%PDF stand-in")
    first = dataclasses.replace(FULL, id="un/report.pdf#1", ordinal=1, page=3,
                                paragraph="11", heading_path=("Part one",),
                                text="Harassment is prevented here first.")  # not identical

    def load(f):
        return Loaded(f, "0" * 64, [first, FULL], FULL.title, FULL.date)

    monkeypatch.setattr(kbload, "load", load)
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        kb.update()
        assert kb.passage(FULL.id) == FULL
        assert kb.passages() == [first, FULL]
        assert kb.search("harassment").hits[0].paragraph in ("11", "12 (a)")
        assert kb.search("symbol:A/HRC/59/12").total == 2


def test_a_un_pdf_keeps_its_symbol(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE_PDF_DIR / RESOLUTION, corpus / RESOLUTION)
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        kb.update()
        ps = kb.passages()
        assert ps and {p.symbol for p in ps} == {"S/RES/2771 (2025)"}
        assert kb.passage(ps[0].id).symbol == "S/RES/2771 (2025)"
