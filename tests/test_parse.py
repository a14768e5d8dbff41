from kb.parse import find_date, is_generic_label, parse
from kb.passages import split_document

from .conftest import NESTED_MD, PLAIN_TXT, SAMPLE


def sample_doc():
    return parse(SAMPLE.read_text(encoding="utf-8"), SAMPLE.name, "text")


def test_sample_title_date_and_seven_sections():
    doc = sample_doc()
    assert doc.title == ("Making zero tolerance a reality: Tackling sexual harassment in the "
                         "field and beyond")
    assert doc.date == "2022-05-26"
    headings = [s.heading for s in doc.sections]
    assert headings == [
        "Background", "Welcome", "Opening remarks",
        "Overview of the work of the CEB Task Force on Addressing Sexual Harassment",
        "Peer-to-peer learning dialogue",
        "Closing remarks from the Group of Friends to Eliminate Sexual Harassment",
        "Additional resources",
    ]


def test_lead_in_with_colon_is_not_a_heading():
    doc = sample_doc()
    assert "UN Women publications on addressing sexual harassment:" not in [
        s.heading for s in doc.sections]


def test_metadata_lines_are_not_passages():
    texts = [p.text for p in split_document(sample_doc())]
    assert not any(t.startswith("EVENT REPORT SUMMARY") for t in texts)
    assert not any(t == "26 May 2022" for t in texts)


def test_markdown_markup_is_removed_and_link_text_kept():
    doc = parse(NESTED_MD, "guides/safe-workplaces.md", "markdown")
    text = " ".join(b.text for s in doc.sections for b in s.blocks)
    assert "$Y!Ri6wN" in text and "**" not in text and "\\" not in text
    assert "(SEAH)" in text
    assert "reporting hotline" in text and "example.org" not in text
    assert "internal note" not in text and "<!--" not in text


def test_nested_headings_give_heading_paths():
    doc = parse(NESTED_MD, "g.md", "markdown")
    assert doc.title == "Guidelines on safe workplaces"
    paths = [s.heading_path for s in doc.sections]
    assert ("Reporting", "Informal channels") in paths
    assert ("Prevention",) in paths
    # text before the first section belongs to a section headed by the title
    assert doc.sections[0].heading == "Guidelines on safe workplaces"


def test_plain_text_label_title_date_headings():
    doc = parse(PLAIN_TXT, "peer-support.txt", "text")
    assert doc.title == "Peer support networks in the field"
    assert doc.date == "2021-03-03"
    assert [s.heading for s in doc.sections] == ["Background", "Next steps"]


def test_title_falls_back_to_file_name():
    doc = parse("just one sentence of prose here.\n", "notes/plain.txt", "text")
    assert doc.title == "plain.txt"


def test_find_date_formats():
    assert find_date("Geneva, 26 May 2022") == "2022-05-26"
    assert find_date("May 26, 2022") == "2022-05-26"
    assert find_date("issued 2021-11-02") == "2021-11-02"
    assert find_date("31 February 2022") is None
    assert find_date("no date here") is None


def test_generic_labels():
    assert is_generic_label("EVENT REPORT SUMMARY")
    assert is_generic_label("Concept note")
    assert not is_generic_label("Background")
    assert not is_generic_label("Making zero tolerance a reality")


def test_numbered_un_paragraphs_are_cited():
    body = " ".join(["word"] * 30)
    md = f"# Report\n\n## Findings\n\n7. The Board {body}.\n\n8. The Committee {body}:\n\n(a) first {body};\n"
    doc = parse(md, "r.md", "markdown")
    ps = split_document(doc)
    assert [p.paragraph for p in ps] == ["7", "8"]
    assert "first word" in ps[1].text  # sub-paragraph (a) belongs to paragraph 8


# -- the UN paragraph-number rule (kb/paragraphs.py), shared by every reader ----------


def test_paragraph_numbers_and_subparagraph_labels():
    from kb.paragraphs import paragraph_label, paragraph_number, subparagraph_label

    assert paragraph_number("12. Decides to remain seized") == "12"
    assert paragraph_number("1234. Too long") is None and paragraph_number("12.5 x") is None
    for text, label in [("(a) Text", "a"), ("(aa) Text", "aa"), ("(iv) Text", "iv"),
                        ("(viii) Text", "viii"), ("a) Text", "a"), ("bb) Text", "bb"),
                        ("iv) Text", "iv")]:
        assert subparagraph_label(text) == label, text
    for text in ["viii) Text", "(A) Text", "(a)Text", "(a) ", "a. Text", "(abc) Text"]:
        assert subparagraph_label(text) is None, text
    assert paragraph_label("3. Requests", None) == ("3", "3")
    assert paragraph_label("(b) Ensure", "3") == ("3(b)", "3")
    assert paragraph_label("b) Ensure", "3") == ("3(b)", "3")
    assert paragraph_label("(b) Ensure", None) == (None, None)
    assert paragraph_label("Plain text", "3") == (None, "3")


def test_markdown_subparagraphs_take_both_forms():
    doc = parse("# Resolution\n\n1. " + "Decides that the council shall act. " * 8 + "\n\n"
                "(a) To report on harassment;\n\nb) To report on abuse;\n", "r.md", "markdown")
    labels = [b.paragraph for s in doc.sections for b in s.blocks]
    assert labels[-2:] == ["1(a)", "1(b)"]
