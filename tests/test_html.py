"""The HTML reader, on an HTML string."""

from __future__ import annotations

import pytest

from kb.html import read_html

from .fixtures import HTML


@pytest.fixture(scope="module")
def doc():
    return read_html(HTML.encode("utf-8"), "web/peer.html")


def text_of(doc) -> str:
    return "\n".join(b.text for s in doc.sections for b in s.blocks)


def test_title_is_the_first_h1_and_date_from_meta(doc):
    assert doc.title == "Peer support in the field"
    assert doc.date == "2024-03-05"
    assert doc.format == "html"


def test_navigation_scripts_styles_header_footer_are_dropped(doc):
    text = text_of(doc)
    for word in ("scriptword", "navword", "headerword", "footerword", "color", "Home"):
        assert word not in text


def test_inline_markup_keeps_words_whole(doc):
    first = doc.sections[0].blocks[0].text
    assert first == "Intro paragraph with a link and emphasis. Second line of the intro."


def test_headings_and_paragraph_numbers(doc):
    assert [s.heading_path for s in doc.sections] == [
        (), ("II. Background",), ("II. Background", "Tools")]
    nums = [b.paragraph for s in doc.sections for b in s.blocks if b.paragraph]
    assert nums == ["7", "7(a)", "8", "9"]


def test_lists_and_tables(doc):
    blocks = doc.sections[2].blocks
    assert blocks[0].text == "- bystander training\n  - nested item\n- helplines"
    assert blocks[1].text == "Year | Cases\n2023 | 31"


def test_positions_count_paragraphs(doc):
    first = doc.sections[0].blocks[0]
    assert first.segments[0][0] == 2  # after the h1 title


def test_title_falls_back_to_title_element_then_file_name():
    assert read_html(b"<title>Only a title</title><p>Body text.</p>", "a.html").title == \
        "Only a title"
    assert read_html(b"<p>Body text.</p>", "dir/b.htm").title == "b.htm"


def test_legacy_encoding_declared_in_meta():
    data = '<meta charset="windows-1252"><h1>Café</h1><p>Zürich</p>'.encode("cp1252")
    doc = read_html(data, "c.html")
    assert doc.title == "Café" and "Zürich" in text_of(doc)
