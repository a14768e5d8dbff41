"""Headings, paragraphs, lists and tables in reading order -> :class:`~kb.models.Document`.

Shared by the DOCX and HTML readers.  Each piece of text carries its
*position*: the 1-based number of the paragraph in the document (every
non-empty paragraph, heading, list item and table row counts one), which is
what the passage's ``line_start``/``line_end`` hold for these formats and
what the citation shows (``report.docx:12`` is the 12th paragraph).

UN paragraph numbers: a paragraph opening with "7." (typed, or produced by
automatic numbering) is cited ``¶ 7``; one opening with "(a)" or "a)" after
it ``¶ 7(a)``.  The number resets at each heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Block, Document, Section, Segment
from .paragraphs import paragraph_label



def clean(text: str) -> str:
    """Whitespace collapsed, soft hyphens and zero-width characters removed."""
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    return " ".join(text.split())


@dataclass(slots=True)
class Builder:
    """Collects the pieces of a document in reading order."""

    doc_id: str
    fmt: str
    position: int = 0
    sections: list[Section] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)  # (level, text) stack
    blocks: list[Block] = field(default_factory=list)
    last_number: str | None = None
    first_heading: str | None = None
    texts: list[str] = field(default_factory=list)  # the first texts, to find a date
    #: every paragraph and heading text in order, with its position (UN dates: the
    #: adoption line, the masthead, the closing meeting line; :func:`kb.meta.document_date`)
    lines: list[tuple[int, str]] = field(default_factory=list)
    #: the first blocks' texts (None for a list or a table), for :func:`kb.meta.front_title`
    front: list[str | None] = field(default_factory=list)

    def next_position(self) -> int:
        self.position += 1
        return self.position

    def _flush(self) -> None:
        if self.blocks:
            heading = self.headings[-1][1] if self.headings else ""
            path = tuple(h for _, h in self.headings)
            self.sections.append(Section(heading, path, tuple(self.blocks)))
        self.blocks = []

    def heading(self, text: str, level: int) -> None:
        text = clean(text)
        if not text:
            return
        self.next_position()
        if self.first_heading is None:
            self.first_heading = text
        self._flush()
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, text))
        self.last_number = None
        self._note(text)
        self._line(text)

    def _note(self, text: str) -> None:
        if len(self.texts) < 12:
            self.texts.append(text)

    def _line(self, text: str | None) -> None:
        if text is not None:
            self.lines.append((self.position, text))
        if len(self.front) < 30:
            self.front.append(text)

    def paragraph(self, text: str, number: str | None = None) -> None:
        """A paragraph; ``number`` is an automatic list label such as "7." or "(a)"."""
        text = clean(text)
        if not text:
            return
        pos = self.next_position()
        if number:
            text = f"{number} {text}"
        self._line(text)
        if not number and not self.headings and not self.blocks:
            from .meta import is_date_line, is_generic_label

            if is_date_line(text) or is_generic_label(text):
                self._note(text)  # metadata above the first heading, not a passage
                return
        paragraph, self.last_number = paragraph_label(text, self.last_number)
        self.blocks.append(Block("paragraph", ((pos, text),), paragraph=paragraph))
        self._note(text)

    def items(self, items: list[tuple[str, str, int]]) -> None:
        """A bulleted (or short numbered) list: (marker, text, depth) per item, one block."""
        segs: list[Segment] = []
        for marker, text, depth in items:
            text = clean(text)
            if text:
                segs.append((self.next_position(), "  " * depth + f"{marker} {text}"))
        if segs:
            self.blocks.append(Block("list", tuple(segs)))
            self._line(None)

    def table(self, rows: list[list[str]]) -> None:
        segs: list[Segment] = []
        for row in rows:
            cells = [clean(c) for c in row]
            # merged cells repeat their text: keep one copy
            dedup = [c for k, c in enumerate(cells) if c and (k == 0 or c != cells[k - 1])]
            if dedup:
                segs.append((self.next_position(), " | ".join(dedup)))
        if segs:
            self.blocks.append(Block("table", tuple(segs)))
            self._line(None)

    def finish(self, title: str | None, date: str | None = None) -> Document:
        """The Document; without ``title`` the first heading is used, else the title of
        the first lines (:func:`kb.meta.front_title`: a document without heading styles),
        else the file name.  Without ``date``, the UN forms of a date
        (:func:`kb.meta.document_date`), else the first date of the first texts."""
        from .meta import date_note, document_date, first_date, front_title

        self._flush()
        if not title:
            found = None if self.first_heading else front_title(self.front)
            title = self.first_heading or (found[0] if found else self.doc_id.rsplit("/", 1)[-1])
        sections = [
            s if s.heading else Section(title, (), s.blocks) for s in self.sections
        ]
        if date is None:
            date = document_date([t for _, t in self.lines])[0] or first_date(
                "\n".join(self.texts))
        note = None if date else date_note([(f"paragraph {n}", t) for n, t in self.lines])
        return Document(id=self.doc_id, title=title, date=date, format=self.fmt,
                        sections=tuple(sections), date_note=note)


def ordered_items_are_paragraphs(texts: list[str], min_words: int = 25) -> bool:
    """A numbered list whose items are long is a run of numbered paragraphs (UN style)."""
    if not texts:
        return False
    return sum(len(t.split()) for t in texts) / len(texts) >= min_words


def to_alpha(n: int, upper: bool = False) -> str:
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(97 + r) + s
    return s.upper() if upper else s


def to_roman(n: int, upper: bool = False) -> str:
    vals = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
            (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
    out = ""
    for v, s in vals:
        while n >= v:
            out += s
            n -= v
    return out.upper() if upper else out
