"""PDF -> :class:`~kb.models.Document`: text lines from PDFium, then layout repair.

Extraction (:func:`read_pdf`) uses ``pypdfium2`` (PDFium; Apache-2.0 /
BSD-3-Clause), chosen by measurement (``bench/pdf_extractors.py``): about 20
times faster than pypdf or pdfminer.six on the sample UN documents, reading
order intact, and it marks a hyphen at a line end (U+FFFE) instead of
guessing.  For every line of text it gives the position, the font size and
the weight, which is all the layout repair below needs.

Layout repair (:func:`layout`, pure: it works on :class:`Line` records, so
it is tested without PDFs):

* **Running header and footer**: lines among the top and bottom three of a
  page that repeat on other pages (digits ignored: "2/20", "3/20"), or that
  are only page furniture (the document symbol, "7/8", job numbers such as
  "25-10679 (E) 250425", barcodes such as "*2505777*"), are dropped.
* **UN masthead**: on the first page, "United Nations <symbol>" and the block
  beside it ("Distr.: General", date, "Original: English") are metadata: the
  symbol becomes ``Document.symbol``, the date ``Document.date``.  Without the
  masthead, a symbol standing alone on one of the top lines of the first page
  is the symbol (:func:`kb.meta.symbol_of_line`).
* **Title**: the PDF's Title metadata when it is meaningful (not empty, not a
  file name, not "Microsoft Word - ...", not a symbol: :func:`kb.meta.meaningful_title`);
  else the largest text on the first page; else the first heading; else the
  file name.  An approval stamp ("APPROVED / Executive Director / ... /
  Approved by Order No. 2-D ...": a stamp line and the lines set close under
  it in the same type) is never the title, whatever its size.  Lines above a
  UN document's title (session, agenda item) are front matter, not passages.
* **Paragraphs**: a new block starts at a heading, after a vertical gap
  larger than 1.4 line spacings, at an indented first line, at a paragraph
  number, letter or bullet after a line that closed a sentence, and after a
  short line ending a sentence.  Hard-wrapped lines are joined.
* **Hyphens at line ends** are decided with the document's own vocabulary:
  "Secretary-" + "General" stays "Secretary-General" (the document writes
  "Secretary-General" elsewhere), "organi-" + "zation" becomes
  "organization" when the document writes "organization" and never
  "organi-zation"; when the document offers no evidence the hyphen is kept
  ("trust-building"): in UN typesetting a hyphen at a line end is nearly
  always a real one.
* **Page breaks**: a paragraph that runs over the end of a page continues
  on the next page (and is cited on the page where it starts) unless the
  next page opens with a heading, a paragraph number, an indented first line,
  or follows a paragraph that closed its sentence and opens with a capital.
* **Footnotes** (small type below the body text of a page) never interrupt a
  paragraph: they become passages of a "Footnotes" section at the end of the
  document, cited on their own page; footnote marks (superscript digits) are
  removed from the body text.
* **UN numbering**: a paragraph opening with "7." is cited ``¶ 7``; "(a)" or
  "a)" after it ``¶ 7(a)``.  Bold lines at least as large as the body text
  are headings ("II. Background", "1. Key frameworks", "2025/11 Update on
  ..."), nested by their numbering (Roman, capital letter, Arabic) or size.
* Tables of contents (lines with dot leaders) are dropped.

``line_start``/``line_end`` of a PDF passage are **line numbers on the
page**: the n-th line of text counted from the top of the page, not counting
the running header and footer.  ``line_start`` is on ``page``; ``line_end``
is on the page where the passage ends (a later one when the paragraph runs
over a page break).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, replace

from .meta import is_stamp_line, is_stamp_start, meaningful_title, symbol_of_line
from .models import Block, Document, Section, Segment
from .paragraphs import is_numbered, paragraph_label

SOFT_HYPHEN = "\ufffe"  # PDFium: a hyphen at the end of a line
_BREAK = re.compile("\r\n|[\r\n\ufffe]")

#: fewer non-blank characters than this in the whole file: a scan without text layer
MIN_TEXT_CHARS = 20


class PdfError(ValueError):
    """A PDF that cannot be read; the message is the reason ``kb status`` shows."""


@dataclass(slots=True)
class Line:
    """One line of text on a page, as PDFium lays it out (points, origin bottom left)."""

    text: str
    page: int  #: 1-based
    x0: float
    x1: float
    y: float  #: baseline
    size: float  #: font size
    bold: bool = False
    hyphen: bool = False  #: ends in a hyphen at the line end (PDFium's U+FFFE)
    #: (start, end) spans of superscript digits (footnote marks) in ``text``
    marks: tuple[tuple[int, int], ...] = ()
    number: int = 0  #: line on the page, from the top, without header/footer


# --------------------------------------------------------------------------
# extraction


def read_pdf(data: bytes, doc_id: str, fmt: str = "pdf") -> Document:
    """Read a PDF file's bytes into a Document.

    :raises PdfError: encrypted, corrupt, or no text layer (scanned).
    """
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise PdfError(_open_reason(e)) from None
    try:
        n = len(pdf)
        if n == 0:
            raise PdfError("corrupt PDF: it has no pages")
        try:
            meta_title = pdf.get_metadata_value("Title") or ""
        except Exception:  # noqa: BLE001 - metadata is optional
            meta_title = ""
        pages: list[list[Line]] = []
        for i in range(n):
            try:
                pages.append(_page_lines(pdf, i))
            except pdfium.PdfiumError as e:
                raise PdfError(f"corrupt PDF: page {i + 1} cannot be read ({_short(e)})") from None
    finally:
        pdf.close()
    chars = sum(len(ln.text.strip()) for p in pages for ln in p)
    if chars < MIN_TEXT_CHARS:
        raise PdfError("no text layer: needs OCR (a scanned PDF?)")
    return layout(pages, doc_id, meta_title, fmt)


def _short(e: BaseException) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    m = re.search(r"PDFium: ([^)]*)", msg)
    return (m.group(1) if m else msg).rstrip(".").lower()


def _open_reason(e: BaseException) -> str:
    code = getattr(e, "err_code", None)
    reason = _short(e)
    if code == 4 or "password" in reason:
        return "encrypted PDF: needs a password"
    if code == 5 or "security" in reason:
        return "encrypted PDF: unsupported security handler"
    return f"corrupt PDF: {reason or 'cannot be parsed'}"


def _page_lines(pdf, index: int) -> list[Line]:  # type: ignore[no-untyped-def]
    import ctypes

    import pypdfium2.raw as raw

    page = pdf[index]
    try:
        tp = page.get_textpage()
        try:
            n = tp.count_chars()
            text = tp.get_text_range() if n > 0 else ""
            if len(text) != n:  # characters outside the BMP: rebuild 1:1 with char indices
                text = "".join(chr(raw.FPDFText_GetUnicode(tp, i) or 32) for i in range(n))
            ox, oy = ctypes.c_double(), ctypes.c_double()

            def origin_y(i: int) -> float:
                raw.FPDFText_GetCharOrigin(tp, i, ctypes.byref(ox), ctypes.byref(oy))
                return oy.value

            lines: list[Line] = []
            start = 0
            for m in _BREAK.finditer(text + "\n"):
                seg = text[start:m.start()]
                if seg.strip():
                    lines.append(_make_line(tp, raw, seg, start, index + 1,
                                            m.group() == SOFT_HYPHEN, origin_y))
                start = m.end()
            return lines
        finally:
            tp.close()
    finally:
        page.close()


def _make_line(tp, raw, seg: str, start: int, page: int,  # type: ignore[no-untyped-def]
               hyphen: bool, origin_y) -> Line:
    lead = len(seg) - len(seg.lstrip())
    body = seg.strip()
    first = start + lead
    last = first + len(body) - 1
    x0 = tp.get_charbox(first)[0]
    x1 = tp.get_charbox(last)[2]
    # the line's font and baseline: from a letter near the middle (a superscript
    # mark or a bullet at the start would mislead)
    half = len(body) // 2
    mid = first + half
    for d in range(half + 1):  # the letter nearest the middle
        if half + d < len(body) and body[half + d].isalpha():
            mid = first + half + d
            break
        if body[half - d].isalpha():
            mid = first + half - d
            break
    size = raw.FPDFText_GetFontSize(tp, mid)
    y = origin_y(mid)
    bold = _is_bold(tp, raw, mid) and _is_bold(tp, raw, first)
    marks = []
    for m in re.finditer(r"\d+", body):
        k = first + m.start()
        if raw.FPDFText_GetFontSize(tp, k) < 0.8 * size and origin_y(k) > y + 1.0:
            marks.append((m.start(), m.end()))
    return Line(body, page, x0, x1, y, round(size * 2) / 2, bold, hyphen, tuple(marks))


_BOLD_NAME = re.compile(rb"bold|black|heavy|semibold|demi", re.I)


def _is_bold(tp, raw, i: int) -> bool:  # type: ignore[no-untyped-def]
    """Weight 600 or more, else a bold font name ("Times-Bold", "ABCDEF+Arial-BoldMT")."""
    import ctypes

    if raw.FPDFText_GetFontWeight(tp, i) >= 600:
        return True
    buf = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    n = raw.FPDFText_GetFontInfo(tp, i, buf, 128, ctypes.byref(flags))
    return bool(n) and bool(_BOLD_NAME.search(buf.raw[: max(n - 1, 0)]))


# --------------------------------------------------------------------------
# layout repair

_SYMBOL = re.compile(
    r"\b([A-Z][A-Z0-9]{0,9}(?:/[A-Z0-9][A-Za-z0-9.\-]*)+(?: \(\d{4}\))?)"
)
_FURNITURE_TOKEN = re.compile(
    r"^(?:\d{1,4}|\d{2}-\d{5}(?:\(E\))?|\([A-Z]\)|\d{6}|\*\d{5,}\*|"
    r"[Pp]age|of|-)$"
)
_TOC = re.compile(r"(?:\.\s?){5,}\s*\d*\s*$")
_BULLET = re.compile(r"^[•\u2022\u25aa\u25cf\u25e6\uf0b7\uf0a7\u2013\u2014\-–o]\s+\S")
_CLOSED = re.compile(r"[.;:!?][\"”’)\]]*$")
_ROMAN_HEAD = re.compile(r"^[IVXLC]+\.\s")
_LETTER_HEAD = re.compile(r"^[A-Z]\.\s")
_ARABIC_HEAD = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*\.|\d{1,2}(?:\.\d{1,2})+)\s")
_DECISION_HEAD = re.compile(r"^\d{4}/\d+\b")
_ANNEX_HEAD = re.compile(r"^(?:Annex|Appendix|Chapter|Part)\b", re.I)
_WORD = re.compile(r"\w+(?:[-‐]\w+)*")


def _norm_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.split())).casefold()


def _is_furniture(text: str, symbol: str | None) -> bool:
    """Page furniture: symbol, page numbers, job numbers and barcodes only."""
    t = text
    if symbol:
        t = t.replace(symbol, " ")
        t = t.replace(symbol.split(" (")[0], " ")
    t = t.replace("(E)", " ")
    return all(_FURNITURE_TOKEN.match(tok) or _page_of(tok) for tok in t.split())


def _page_of(tok: str) -> bool:
    """"7/8": page 7 of 8 (and not a decision number such as "2025/8")."""
    m = re.fullmatch(r"(\d{1,4})/(\d{1,4})", tok)
    return bool(m) and 0 < int(m.group(1)) <= int(m.group(2)) < 2000


def _find_symbol(first_page: list[Line]) -> tuple[str | None, bool]:
    """The UN document symbol printed at the top of the first page, and whether it
    stands in a UN masthead ("United Nations <symbol>"): ``(symbol, masthead)``."""
    top = sorted(first_page, key=lambda ln: -ln.y)[:5]
    for ln in top:
        if ln.text.startswith("United Nations"):
            m = _SYMBOL.search(ln.text[len("United Nations"):])
            if m:
                return m.group(1), True
    for ln in top:
        sym = symbol_of_line(ln.text)
        if sym is not None:
            return sym.rstrip("*"), False
    return None, False


def _stamp_lines(lines: list[Line]) -> set[int]:
    """Indices of the first page's approval stamp lines: each stamp line, and the
    lines set close under one that opens a stamp ("APPROVED") in the same type
    ("Executive Director", "Jane Doe", "Approved by Order No. 2-D ...")."""
    out = {k for k, ln in enumerate(lines) if is_stamp_line(ln.text)}
    order = sorted(range(len(lines)), key=lambda k: -lines[k].y)
    for pos, k in enumerate(order):
        if not is_stamp_start(lines[k].text):
            continue
        prev = lines[k]
        for j in order[pos + 1:]:
            ln = lines[j]
            if prev.y - ln.y > 2.2 * max(prev.size, ln.size) or ln.size > prev.size + 1.0 \
                    or abs(ln.x0 - lines[k].x0) > 60:
                break
            out.add(j)
            prev = ln
    return out


@dataclass(slots=True)
class _Block:
    lines: list[Line]
    heading: bool = False

    @property
    def first(self) -> Line:
        return self.lines[0]

    @property
    def last(self) -> Line:
        return self.lines[-1]

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines)


def _strip_marks(ln: Line) -> Line:
    if not ln.marks:
        return ln
    t = ln.text
    for s, e in reversed(ln.marks):
        t = t[:s] + t[e:]
    t = " ".join(t.split())
    return replace(ln, text=t, marks=())


def _body_size(pages: list[list[Line]]) -> float:
    c: Counter[float] = Counter()
    for p in pages:
        for ln in p:
            c[ln.size] += len(ln.text)
    return c.most_common(1)[0][0] if c else 10.0


def _leading(pages: list[list[Line]], size: float) -> float:
    diffs = []
    for p in pages:
        prev = None
        for ln in p:
            if abs(ln.size - size) < 0.6 and not ln.bold:
                if prev is not None and ln.page == prev.page:
                    d = prev.y - ln.y
                    if 0.5 * size < d < 3 * size:
                        diffs.append(d)
                prev = ln
    return statistics.median(diffs) if diffs else size * 1.2


def _remove_furniture(pages: list[list[Line]], symbol: str | None) -> list[list[Line]]:
    """Drop running headers and footers (see the module docstring)."""
    n = len(pages)
    cands: list[set[int]] = []
    seen: Counter[tuple[str, int]] = Counter()

    def key(ln: Line) -> tuple[str, int]:  # running heads repeat at the same height
        return _norm_key(ln.text), round(ln.y / 3)

    for p in pages:
        order = sorted(range(len(p)), key=lambda k: -p[k].y)
        idx = set(order[:3]) | set(order[-3:])
        cands.append(idx)
        for kk in {key(p[k]) for k in idx}:
            seen[kk] += 1
    need = max(2, (n + 2) // 3)
    out = []
    for p, idx in zip(pages, cands):
        keep = []
        for k, ln in enumerate(p):
            repeated = n >= 2 and seen[key(ln)] >= need and re.search(r"[^\W\d_]", ln.text)
            if k in idx and (repeated or _is_furniture(ln.text, symbol)):
                continue
            keep.append(ln)
        out.append(keep)
    return out


def _number_lines(pages: list[list[Line]]) -> None:
    for p in pages:
        for k, ln in enumerate(sorted(p, key=lambda ln: (-round(ln.y), ln.x0)), start=1):
            ln.number = k


def _masthead(page: list[Line], body: float) -> set[int]:
    """Indices of the UN masthead lines on the first page (top block down to a big gap)."""
    order = sorted(range(len(page)), key=lambda k: -page[k].y)
    out: set[int] = set()
    prev_y = None
    seen_distr = False
    for k in order:
        ln = page[k]
        if prev_y is not None and prev_y - ln.y > 3 * body and (seen_distr or len(out) >= 3):
            break
        out.add(k)
        if ln.text.startswith("Distr") or "Original:" in ln.text:
            seen_distr = True
        prev_y = ln.y
    return out


def _title_lines(lines: list[Line], body: float, skip: set[int] | None = None) -> list[int]:
    """Indices (into ``lines``, reading order) of the first page's title: the first run
    of lines in the largest type that is clearly larger than the body text (lines in
    ``skip``, an approval stamp, are never the title)."""
    skip = skip or set()
    big = [ln.size for k, ln in enumerate(lines)
           if ln.size >= body + 1.5 and len(ln.text) > 2 and k not in skip]
    if not big:
        return []
    top = max(big)
    out: list[int] = []
    for k, ln in enumerate(lines):
        if k in skip:
            if out:
                break
            continue
        if abs(ln.size - top) < 0.6 and len(ln.text) > 2:
            if out and (k != out[-1] + 1 or lines[out[-1]].y - ln.y > 2 * top):
                break
            out.append(k)
        elif out:
            break
    return out


class _Vocabulary:
    """The document's own words, to decide hyphens at line ends."""

    def __init__(self, lines: list[Line]) -> None:
        self.words: set[str] = set()
        self.pairs: set[str] = set()
        prev_hyphen = False
        for ln in lines:
            text = ln.text
            words = _WORD.findall(text)
            if prev_hyphen and words:
                words = words[1:]  # the second half of a broken word
            if (ln.hyphen or text.endswith("-")) and words:
                words = words[:-1]  # the first half
            for w in words:
                w = w.casefold()
                if "-" in w or "‐" in w:
                    parts = re.split(r"[-‐]", w)
                    for a, b in zip(parts, parts[1:]):
                        self.pairs.add(f"{a}-{b}")
                else:
                    self.words.add(w)
            prev_hyphen = ln.hyphen or bool(re.search(r"\w ?-$", text))

    def keep_hyphen(self, left: str, right: str) -> bool:
        a, b = left.casefold(), right.casefold()
        if f"{a}-{b}" in self.pairs:
            return True
        joined = a + b
        for cand in (joined, joined[:-1] if joined.endswith("s") else "",
                     joined[:-2] if joined.endswith("es") else ""):
            if cand and cand in self.words:
                return False
        return True


_SUSPENDED = frozenset({"and", "or", "nor", "to", "as", "und", "et", "ou", "y"})


def _join_lines(lines: list[Line], vocab: _Vocabulary) -> list[Segment]:
    """Lines of one block -> segments (line number, text), broken words made whole.

    A word broken at a line end is kept whole on the line where it starts, so
    segments joined with spaces read as the paragraph.
    """
    segs: list[list] = []  # [line number, text]
    carry = False  # the previous line ended in a hyphen
    for ln in lines:
        text = ln.text
        if segs and text:
            prev = segs[-1]
            ptext: str = prev[1]
            head, _, rest = text.partition(" ")
            word = re.match(r"\w+", head)
            if carry:
                left = re.search(r"(\w+)$", ptext)
                if word and left and word.group(0).casefold() in _SUSPENDED:
                    prev[1] = ptext + "-"  # "troop-" / "and police-contributing"
                elif word and left and not vocab.keep_hyphen(left.group(1), word.group(0)):
                    prev[1], text = ptext + head, rest.lstrip()
                elif word:
                    prev[1], text = ptext + "-" + head, rest.lstrip()
                else:
                    prev[1] = ptext + "-"
            elif ptext.endswith(("/", "–", "—")) and not ptext.endswith((" –", " —")):
                prev[1], text = ptext + head, rest.lstrip()  # "Pyla/" + "Pile", "2023–" + "2030"
        text = text.rstrip()
        carry = ln.hyphen
        if not carry and re.search(r"\w ?-$", text):
            text = re.sub(r" ?-$", "", text)
            carry = True
        if text:  # else the whole line was the end of a broken word
            segs.append([ln.number, text])
    if carry and segs:
        segs[-1][1] += "-"
    return [(n, t) for n, t in segs if t]


def _numbered_heading(text: str) -> bool:
    return bool(_ROMAN_HEAD.match(text) or _LETTER_HEAD.match(text) or _ARABIC_HEAD.match(text)
                or _DECISION_HEAD.match(text) or _ANNEX_HEAD.match(text))


def _heading_level(text: str, size: float, sizes: list[float]) -> int:
    if _ROMAN_HEAD.match(text) or _ANNEX_HEAD.match(text):
        return 1
    if _LETTER_HEAD.match(text):
        return 2
    if _DECISION_HEAD.match(text):
        return 3
    m = _ARABIC_HEAD.match(text)
    if m:
        return 3 + m.group(1).rstrip(".").count(".")
    rank = next((k for k, s in enumerate(sizes) if abs(s - size) < 0.6), len(sizes))
    return min(rank + 1, 4)


def layout(pages: list[list[Line]], doc_id: str, meta_title: str = "",
           fmt: str = "pdf") -> Document:
    """Lines of each page -> Document (see the module docstring for the rules)."""
    from .parse import find_date

    body = _body_size(pages)
    symbol, masthead = _find_symbol(pages[0]) if pages and pages[0] else (None, False)
    pages = _remove_furniture(pages, symbol)
    _number_lines(pages)
    leading = _leading(pages, body)

    # first page: masthead (UN documents), front matter and title
    title = " ".join(meta_title.split()) if meaningful_title(meta_title, doc_id) else ""
    date = None
    first = pages[0] if pages else []
    if masthead and first:
        mast = _masthead(first, body)
        date = find_date("\n".join(first[k].text for k in sorted(mast)))
        first = [ln for k, ln in enumerate(first) if k not in mast]
    if date is None and first:
        date = find_date("\n".join(ln.text for ln in first[:15]))
    stamp = _stamp_lines(first)
    tl = _title_lines(first, body, stamp)
    if stamp:  # stamp lines are text, never headings
        first = [replace(ln, bold=False) if k in stamp else ln for k, ln in enumerate(first)]
    if tl:
        found = " ".join(_strip_marks(first[k]).text for k in tl)
        if not title:
            title = found
        top = first[tl[0]].size
        end = tl[-1] + 1  # a bold subtitle in smaller type stays text, not a heading
        while (end < len(first) and first[end].bold
               and body - 0.6 < first[end].size < top - 0.6
               and not _numbered_heading(first[end].text)):
            end += 1
        subtitle = set(range(tl[-1] + 1, end))
        start = tl[0] if masthead else 0  # UN front matter above the title: not passages
        first = [replace(ln, bold=False) if k in subtitle else ln
                 for k, ln in enumerate(first) if k >= start and k not in tl]
    pages = [first] + pages[1:]

    # footnotes: small type below the lowest body-size line of the page
    body_pages: list[list[Line]] = []
    notes: list[list[Line]] = []
    for p in pages:
        body_ys = [ln.y for ln in p if ln.size >= body - 0.6]
        floor = min(body_ys) if body_ys else float("inf")
        q = []
        for ln in p:
            if ln.size < 0.87 * body and ln.y < floor:
                continue
            # footnote marks: superscript digits go, and so do lines that are only a mark
            ln = _strip_marks(ln)
            if ln.text and not (re.fullmatch(r"\d{1,3}", ln.text) and ln.size < body - 0.4):
                q.append(ln)
        body_pages.append(q)
        notes.append([ln for ln in p if ln.size < 0.87 * body and ln.y < floor])

    all_lines = [ln for p in body_pages for ln in p] + [ln for p in notes for ln in p]
    vocab = _Vocabulary(all_lines)

    blocks = _blocks(body_pages, body, leading)
    blocks = _drop_toc(blocks)
    heading_sizes = sorted({b.first.size for b in blocks if b.heading}, reverse=True)
    if not title:
        head = next((b for b in blocks if b.heading and meaningful_title(b.text, doc_id)), None)
        title = head.text if head is not None else doc_id.rsplit("/", 1)[-1]

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    cur_heading, cur_path = title, ()  # type: tuple[str, tuple[str, ...]]
    out_blocks: list[Block] = []
    last_number: str | None = None
    pending_lead: list[Line] = []

    def flush() -> None:
        nonlocal out_blocks, pending_lead
        if pending_lead:
            out_blocks.append(Block("paragraph", tuple(_join_lines(pending_lead, vocab)),
                                    page=pending_lead[0].page))
            pending_lead = []
        if out_blocks:
            sections.append(Section(cur_heading, cur_path, tuple(out_blocks)))
        out_blocks = []

    for b in blocks:
        if b.heading:
            flush()
            text = " ".join(t for _, t in _join_lines(b.lines, vocab))
            level = _heading_level(text, b.first.size, heading_sizes)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            cur_heading, cur_path = text, tuple(h for _, h in stack)
            last_number = None
            continue
        first_text = b.first.text
        paragraph, last_number = paragraph_label(first_text, last_number)
        words = len(b.text.split())
        if paragraph is None and words <= 8 and not _CLOSED.search(b.text) \
                and not pending_lead:
            pending_lead = list(b.lines)  # "The Executive Board," before "1. Takes note"
            continue
        lines = b.lines
        if pending_lead:
            if paragraph is not None and "(" not in paragraph:
                lines = pending_lead + lines
            else:
                out_blocks.append(Block("paragraph", tuple(_join_lines(pending_lead, vocab)),
                                        page=pending_lead[0].page))
            pending_lead = []
        segs = _join_lines(lines, vocab)
        if segs:
            out_blocks.append(Block("paragraph", tuple(segs), paragraph=paragraph,
                                    page=lines[0].page))
    flush()

    # footnotes: one section per page, after the body
    for p in notes:
        if not p:
            continue
        groups: list[list[Line]] = []
        for ln in p:
            if not groups or re.match(r"^\d{1,3}\s", ln.text) or ln.x0 < groups[-1][0].x0 - 2:
                groups.append([ln])
            else:
                groups[-1].append(ln)
        fblocks = tuple(Block("paragraph", tuple(_join_lines(g, vocab)), page=g[0].page)
                        for g in groups)
        fblocks = tuple(b for b in fblocks if b.segments)
        if fblocks:
            sections.append(Section("Footnotes", ("Footnotes",), fblocks))
    return Document(id=doc_id, title=title, date=date, format=fmt, sections=tuple(sections),
                    symbol=symbol)


def _starts_item(text: str) -> bool:
    return bool(is_numbered(text) or _BULLET.match(text))


def _is_heading_line(ln: Line, body: float) -> bool:
    return ln.bold and ln.size >= body - 0.6 and len(ln.text.split()) <= 30


def _blocks(pages: list[list[Line]], body: float, leading: float) -> list[_Block]:
    """Group body lines into paragraph and heading blocks (rules in the module docstring)."""
    blocks: list[_Block] = []
    for p in pages:
        if not p:
            continue
        xs = Counter(round(ln.x0) for ln in p if abs(ln.size - body) < 0.6 and not ln.bold)
        # the left edge of most lines: where wrapped lines start
        margin = (max(xs.items(), key=lambda kv: (kv[1], -kv[0]))[0] if xs
                  else min(round(ln.x0) for ln in p))
        right = max((ln.x1 for ln in p if abs(ln.size - body) < 0.6), default=max(
            ln.x1 for ln in p))
        width = max(right - margin, 1.0)
        for i, ln in enumerate(p):
            head = _is_heading_line(ln, body)
            cur = blocks[-1] if blocks else None
            new = True
            if cur is not None:
                prev = cur.last
                if prev.page != ln.page:
                    # page break: does the paragraph continue?
                    new = (
                        head or cur.heading
                        or _starts_item(ln.text)
                        or ln.x0 > margin + 6
                        or (bool(_CLOSED.search(prev.text)) and not ln.text[:1].islower())
                        or abs(ln.size - prev.size) > 0.6
                    )
                else:
                    gap = prev.y - ln.y
                    lead = leading * max(ln.size, prev.size) / body
                    if head != cur.heading or abs(ln.size - prev.size) > 0.6:
                        new = True
                    elif gap > 1.4 * lead or gap < -2:
                        new = True
                    elif head:
                        new = False  # a heading on several lines
                    elif _starts_item(ln.text) and (_CLOSED.search(prev.text) or
                                                    len(cur.lines) == 1 and cur.first.bold):
                        new = True
                    elif (ln.x0 > margin + 6 and prev.x0 <= margin + 3
                          and len(cur.lines) >= 2):
                        new = True  # an indented first line
                    elif (_CLOSED.search(prev.text) and prev.x1 < right - 0.2 * width
                          and re.match(r"[A-Z0-9(“\"‘•]", ln.text)):
                        new = True  # the previous line was the short end of a paragraph
                    else:
                        new = False
            if new:
                blocks.append(_Block([ln], heading=head))
            else:
                cur.lines.append(ln)  # type: ignore[union-attr]
    return blocks


def _drop_toc(blocks: list[_Block]) -> list[_Block]:
    """Tables of contents (dot leaders), and their "Contents"/"... Page" header line."""
    toc = [any(_TOC.search(ln.text) for ln in b.lines) for b in blocks]
    if not any(toc):
        return blocks
    out: list[_Block] = []
    for b, is_toc in zip(blocks, toc):
        if is_toc or (not b.heading and len(b.text.split()) <= 4
                      and re.search(r"(?:\bPages?|^Contents)$", b.text)):
            continue
        out.append(b)
    return out
