"""Document -> passages: the units that are indexed, ranked, shown and exported.

A passage lies inside one section and is about one paragraph.  The rules,
applied in this order inside each section:

1. **Page-break repair**: a paragraph that ends without closing punctuation
   followed by one that starts with a lower-case letter or a digit is one
   paragraph ("... looking" / "at how ...", "more than" / "180,000 ...").
2. **Lead-ins**: a paragraph ending in ":" joins the list that follows it.
3. **Long paragraphs** of more than :data:`MAX_WORDS` words are split at
   sentence boundaries into near-equal chunks (a sentence longer than the
   limit is cut between words).
4. **Short blocks** (fewer than :data:`MIN_WORDS` words) join their
   neighbour in the same section while the result stays within
   :data:`MAX_WORDS`; two different UN paragraph numbers are never joined,
   except sub-paragraphs of the same number ("23(a)" and "23(b)").

Bounds: 40-250 words.  A section that holds less than 40 words in all gives
one short passage; nothing is dropped.

Each passage's ``line_start`` is the source line holding its first words and
``line_end`` the line holding its last words.  Ids are ``<doc id>#<n>``,
numbered from 1 in document order, so they are stable while the file is.
All functions here are pure.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from .models import Block, Document, Passage

MIN_WORDS = 40
MAX_WORDS = 250

_CLOSING_END = re.compile(r"[.!?:;)\]\"”»]\s*$")
_OPEN_START = re.compile(r"^[a-z0-9]")
_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_ABBREV = frozenset(
    """mr ms mrs dr h.e e.g i.e no nos para paras art arts st u.n prof amb rev gen jr sr inc
    ltd co corp cf al approx vol p pp fig figs sect sec ch cap op res doc
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_WORD = re.compile(r"\S+")


@dataclass(slots=True)
class _Unit:
    kind: str
    text: str
    marks: list[tuple[int, int]]  # (char offset in text, source line), ascending
    paragraph: str | None
    page: int | None
    words: int

    def line_at(self, offset: int) -> int:
        i = bisect_right(self.marks, (offset, math.inf)) - 1  # no list copy: O(log n)
        return self.marks[max(i, 0)][1]


def _unit(block: Block) -> _Unit:
    sep = " " if block.kind == "paragraph" else "\n"
    parts: list[str] = []
    marks: list[tuple[int, int]] = []
    pos = 0
    for line, text in block.segments:
        if parts:
            pos += len(sep)
        marks.append((pos, line))
        parts.append(text)
        pos += len(text)
    text = sep.join(parts)
    return _Unit(block.kind, text, marks, block.paragraph, block.page, len(text.split()))


def _join(a: _Unit, b: _Unit, sep: str) -> _Unit:
    shift = len(a.text) + len(sep)
    marks = a.marks + [(o + shift, line) for o, line in b.marks]
    kind = a.kind if a.kind == b.kind else "mixed"
    return _Unit(kind, a.text + sep + b.text, marks, _join_paragraph(a.paragraph, b.paragraph),
                 a.page if a.page is not None else b.page, a.words + b.words)


def _base(p: str) -> str:
    return p.split("(", 1)[0]


def _join_paragraph(a: str | None, b: str | None) -> str | None:
    if not a or not b or a == b:
        return a or b
    if _base(b) == a:
        return a  # "8" and its sub-paragraph "8(a)": cited as paragraph 8
    first = a.split("-", 1)[0]
    last = b.split("-")[-1]
    if _base(first) == _base(last) and last.startswith(_base(first) + "("):
        return f"{first}-{last[len(_base(first)):]}"
    return f"{first}-{last}"


def _slice(u: _Unit, start: int, end: int) -> _Unit:
    """The part of ``u.text`` in ``[start, end)``, trimmed, with its line marks."""
    seg = u.text[start:end]
    lead = len(seg) - len(seg.lstrip())
    start += lead
    text = seg.strip()
    end = start + len(text)
    marks = [(0, u.line_at(start))]
    # the marks with start < offset < end, found by bisection (a paragraph of many
    # lines is split into many slices: scanning every mark per slice was quadratic)
    lo = bisect_right(u.marks, (start, math.inf))
    hi = bisect_left(u.marks, (end, -math.inf))
    marks += [(o - start, line) for o, line in u.marks[lo:hi]]
    return _Unit(u.kind, text, marks, u.paragraph, u.page, len(text.split()))


def _sentence_starts(text: str) -> list[int]:
    starts = [0]
    for m in _SENTENCE_END.finditer(text):
        # the word before the full stop (a bounded window: copying the whole prefix
        # for every sentence made a long paragraph quadratic)
        before = text[max(0, m.start() - 64): m.start() + 1]
        word = before.rsplit(None, 1)[-1].rstrip(".!?").lower() if before.strip() else ""
        word = word.lstrip("(\"“")
        if word in _ABBREV or (len(word) == 1 and word.isalpha()):
            continue
        starts.append(m.end())
    return starts


def _split_long(u: _Unit) -> list[_Unit]:
    """Split a unit of more than MAX_WORDS words at sentence boundaries."""
    if u.words <= MAX_WORDS:
        return [u]
    chunks = math.ceil(u.words / MAX_WORDS)
    target = u.words / chunks
    starts = _sentence_starts(u.text) + [len(u.text)]
    out: list[_Unit] = []
    chunk_start = 0
    chunk_words = 0
    for a, b in zip(starts, starts[1:]):
        w = len(u.text[a:b].split())
        if chunk_words and (chunk_words + w > MAX_WORDS or chunk_words >= target):
            out.append(_slice(u, chunk_start, a))
            chunk_start, chunk_words = a, 0
        chunk_words += w
    out.append(_slice(u, chunk_start, len(u.text)))
    # A single sentence longer than the limit: cut between words.
    final: list[_Unit] = []
    for c in out:
        if c.words <= MAX_WORDS:
            final.append(c)
            continue
        pieces = math.ceil(c.words / MAX_WORDS)
        per = math.ceil(c.words / pieces)
        spans = [m.start() for m in _WORD.finditer(c.text)]
        cuts = spans[::per] + [len(c.text)]
        final.extend(_slice(c, x, y) for x, y in zip(cuts, cuts[1:]))
    return [c for c in final if c.text]


def _compatible(a: _Unit, b: _Unit) -> bool:
    """May ``b`` join ``a``?  Not across two different paragraph numbers."""
    if b.paragraph is None:
        return True
    if a.paragraph is None:
        return False
    return b.paragraph.startswith(_base(a.paragraph) + "(")


def _section_units(blocks: tuple[Block, ...]) -> list[_Unit]:
    units = [_unit(b) for b in blocks if b.segments]
    # 1-2: page-break repair and lead-ins
    merged: list[_Unit] = []
    for u in units:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.kind == "paragraph"
            and u.kind == "paragraph"
            and u.paragraph is None
            and not _CLOSING_END.search(prev.text)
            and _OPEN_START.match(u.text)
        ):
            merged[-1] = _join(prev, u, " ")
            merged[-1].kind = "paragraph"
        elif prev is not None and prev.text.endswith(":") and u.kind == "list":
            merged[-1] = _join(prev, u, "\n")
        else:
            merged.append(u)
    # 3: long paragraphs
    split: list[_Unit] = [c for u in merged for c in _split_long(u)]
    # 4: short neighbours
    out: list[_Unit] = []
    for u in split:
        prev = out[-1] if out else None
        if (
            prev is not None
            and (prev.words < MIN_WORDS or u.words < MIN_WORDS)
            and prev.words + u.words <= MAX_WORDS
            and _compatible(prev, u)
        ):
            out[-1] = _join(prev, u, "\n")
        else:
            out.append(u)
    return out


def split_document(doc: Document) -> list[Passage]:
    """All passages of ``doc`` in document order."""
    passages: list[Passage] = []
    for section in doc.sections:
        for u in _section_units(section.blocks):
            n = len(passages) + 1
            passages.append(
                Passage(
                    id=f"{doc.id}#{n}",
                    doc=doc.id,
                    ordinal=n,
                    title=doc.title,
                    date=doc.date,
                    section=section.heading,
                    heading_path=section.heading_path,
                    line_start=u.marks[0][1],
                    line_end=u.marks[-1][1],
                    page=u.page,
                    paragraph=u.paragraph,
                    text=u.text,
                    format=doc.format,
                    symbol=doc.symbol,
                )
            )
    return passages
