"""The DOCX reader, on a document built with python-docx."""

from __future__ import annotations

import pytest

from kb.docx import DocxError, read_docx
from kb.passages import split_document

from .fixtures import make_docx


@pytest.fixture(scope="module")
def doc():
    return read_docx(make_docx(), "notes/peer.docx")


def test_title_from_title_style_not_the_generic_core_property(doc):
    assert doc.title == "Peer support in the field"
    assert doc.date == "2025-03-03"
    assert doc.format == "docx"


def test_headings_from_styles_make_sections(doc):
    assert [s.heading_path for s in doc.sections] == [
        ("I. Background",), ("I. Background", "Numbered paragraphs")]


def test_un_paragraph_numbers_typed_and_automatic(doc):
    bs = [b for s in doc.sections for b in s.blocks]
    nums = [b.paragraph for b in bs if b.paragraph]
    assert nums == ["7", "7(a)", "1", "2"]
    auto = [b for b in bs if b.paragraph == "1"][0]
    assert auto.text.startswith("1. It welcomes that peer support networks")


def test_bullets_and_tables(doc):
    bs = [b for s in doc.sections for b in s.blocks]
    lists = [b for b in bs if b.kind == "list"]
    assert lists[0].text == "- bystander training\n- confidential helplines"
    table = [b for b in bs if b.kind == "table"][0]
    assert table.text == "Year | Cases\n2023 | 31"


def test_positions_are_paragraph_numbers_in_the_document(doc):
    ps = split_document(doc)
    # 1 title, 2 date line (metadata, not a passage), 3 heading, 4 first paragraph ...
    assert ps[0].line_start == 4 and ps[0].page is None
    seven = [p for p in ps if p.paragraph and p.paragraph.startswith("7")][0]
    assert seven.line_start == 5


def test_corrupt_docx_has_a_clear_reason():
    with pytest.raises(DocxError, match="^corrupt DOCX: not a zip archive$"):
        read_docx(b"not a zip", "x.docx")
