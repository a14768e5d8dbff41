from hypothesis import given, settings
from hypothesis import strategies as st

from kb.parse import parse
from kb.passages import MAX_WORDS, split_document

from .conftest import PLAIN_TXT, SAMPLE


def sample_passages():
    return split_document(parse(SAMPLE.read_text(encoding="utf-8"), SAMPLE.name, "text"))


def by_start(ps):
    return {p.line_start: p for p in ps}


def test_page_break_repair_joins_lines_43_and_45():
    p = by_start(sample_passages())[43]
    assert (p.line_start, p.line_end) == (43, 45)
    assert "looking at how the UN's many approaches" in p.text


def test_page_break_repair_before_a_number():
    p = by_start(sample_passages())[74]
    assert (p.line_start, p.line_end) == (74, 76)
    assert "more than 180,000 screening requests" in p.text


def test_lead_in_joins_its_list():
    p = by_start(sample_passages())[55]
    assert (p.line_start, p.line_end) == (55, 62)
    assert p.text.startswith("DED Bhatia moderated the following panel:")
    assert "Ravi Verma" in p.text


def test_ids_are_ordinal_and_stable():
    a, b = sample_passages(), sample_passages()
    assert [p.id for p in a] == [p.id for p in b]
    assert [p.ordinal for p in a] == list(range(1, len(a) + 1))
    assert a[0].id == f"{SAMPLE.name}#1"


def test_line_numbers_are_honest():
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    for p in sample_passages():
        first_words = " ".join(p.text.split()[:3]).lstrip("- ")
        src = lines[p.line_start - 1].replace("**", "")
        assert first_words.split()[0] in src, (p.id, first_words, src[:60])


def test_plain_text_page_break_with_lower_case_continuation():
    ps = split_document(parse(PLAIN_TXT, "peer.txt", "text"))
    joined = [p for p in ps if "looking at how the organisation" in p.text]
    assert joined and joined[0].line_start < joined[0].line_end


def test_long_paragraph_is_split_at_sentences_with_honest_lines():
    sentences = [f"Sentence number {i} talks about prevention of harassment in offices." for i in range(120)]
    text = "# T\n\n## S\n\n" + "\n".join(sentences) + "\n"
    ps = split_document(parse(text, "long.md", "markdown"))
    assert len(ps) > 1
    lines = text.split("\n")
    for p in ps:
        assert len(p.text.split()) <= MAX_WORDS
        assert p.text.startswith("Sentence number")
        assert lines[p.line_start - 1].startswith(p.text.split(" talks")[0])


# -- property tests ----------------------------------------------------------

words = st.sampled_from(["harassment", "policy", "staff", "UN", "the", "report", "field",
                         "prevention", "is", "safe", "work"])
sentence = st.lists(words, min_size=1, max_size=30).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph = st.lists(sentence, min_size=1, max_size=25).map(" ".join)
heading = st.lists(words, min_size=1, max_size=4).map(lambda ws: "#" * 2 + " " + " ".join(ws))
block = st.one_of(paragraph, paragraph, heading,
                  st.lists(sentence, min_size=1, max_size=4).map(
                      lambda items: "\n".join(f"- {i}" for i in items)))


@settings(max_examples=60, deadline=None)
@given(st.lists(block, min_size=1, max_size=12))
def test_passage_invariants(blocks):
    text = "# Title\n\n" + "\n\n".join(blocks) + "\n"
    lines = text.split("\n")
    doc = parse(text, "doc.md", "markdown")
    ps = split_document(doc)
    heading_lines = {i + 1 for i, ln in enumerate(lines) if ln.startswith("#")}
    for p in ps:
        assert 1 <= p.line_start <= p.line_end <= len(lines)
        # never spans a heading
        assert not any(p.line_start <= h <= p.line_end for h in heading_lines)
        assert len(p.text.split()) <= MAX_WORDS
        assert p.text.strip()
        # the first words are on line_start
        first = p.text.split()[0]
        assert first in lines[p.line_start - 1]
    assert [p.id for p in ps] == [f"doc.md#{i}" for i in range(1, len(ps) + 1)]
    # nothing is lost: every word of the body is in some passage
    body_words = sum(len(b.text.split()) for s in doc.sections for b in s.blocks)
    assert sum(len(p.text.split()) for p in ps) == body_words
