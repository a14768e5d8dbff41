"""Text -> :class:`~kb.models.Document`: sections, blocks, title and date.

Markdown (and plain text, read as Markdown-ish text) is parsed with
markdown-it-py: one walk over the token stream, branching on token type and
nesting.  Emphasis markers, link targets, HTML comments and backslash
escapes never reach the clean text; link text and image alt text do.  Each
block keeps its source lines (from the tokens' ``map``) so citations are
honest.

Rules decided here (see also the README):

* **Front matter** (Markdown): a YAML block between ``---`` lines at the top
  is metadata, not text: its ``title:``, ``symbol:`` and ``date:`` keys are
  the document's (scalar values only; the lines keep their numbers).
* **Title**: the front matter's ``title:``; else the first H1; else the first
  heading-like or bold-only line that is not a generic label ("EVENT REPORT
  SUMMARY"), a date, UN front matter (a session, agenda, adoption or
  distribution line), a document symbol or an approval stamp line; else the
  file name.  In a text without Markdown headings, a UN resolution's own title
  line ("79/103. Question of the Cayman Islands", over the lines it wraps to;
  the one whose number is the file name's symbol's wherever it stands, else
  one at the very top) is preferred, then a "# Title" near the top, then the
  title of a UN masthead (:func:`kb.meta.front_title`).
* **Symbol**: the front matter's ``symbol:`` (in capitals when it is not
  written so); else a UN symbol standing alone
  on one of the first lines ("A/51/950", "United Nations UNW/2025/1"; see
  :mod:`kb.meta`); else (:mod:`kb.load`) the file name's.
* **Date**: the UN forms (:func:`kb.meta.document_date`: the adoption line,
  the masthead's date line, the closing meeting line, a session's dates); else
  the first date written in the first lines of the document ("26 May 2022",
  "May 26, 2022", "2022-05-26") that is not one end of a period, as
  ``YYYY-MM-DD``.  Without one, ``Document.date_note`` says why.
* **Plain-text headings** (``.txt`` files, and Markdown files that have no
  ``#`` headings): a one-line paragraph of at most 16 words and 120
  characters that does not end in punctuation (``. , : ; ! ?``), is not a
  date, a generic label or UN front matter, and is followed by prose (a
  paragraph that is not itself heading-like, a list or a table).  A part
  heading (a Roman numeral alone or before its title, "Annex", "Appendix 1")
  is a heading whatever follows it, and the other headings of such a text
  nest under the parts (level 2).
* Lines above the first heading that are the label, the title or the date
  are the document's metadata, not passages; any other text there is a
  section headed by the document title.
* **UN paragraph numbers**: an ordered list whose items are paragraphs of 25
  or more words on average is a run of numbered paragraphs ("23. The
  Committee ..."): each item becomes its own block cited ``¶ 23``.  A
  paragraph opening with "(a)" is cited ``¶ 23(a)`` after paragraph 23.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .meta import (TOP_LINES, date_note, document_date, find_date, find_symbol, first_date,
                   front_title, is_date_line, is_front_matter, is_generic_label, is_stamp_line,
                   meaningful_title, symbol_of_filename, symbol_of_line, wraps)
from .models import Block, Document, Section, Segment
from .paragraphs import subparagraph_label

MAX_HEADING_WORDS = 16
MAX_HEADING_CHARS = 120
NUMBERED_PARAGRAPH_MIN_WORDS = 25

_CLOSING = ".,:;!?"


def is_heading_like(text: str) -> bool:
    """A line that could be a plain-text heading, ignoring what follows it."""
    text = text.strip()
    if not text or len(text) > MAX_HEADING_CHARS or "\n" in text:
        return False
    if text[-1] in _CLOSING:
        return False
    if len(text.split()) > MAX_HEADING_WORDS:
        return False
    if not (text[0].isupper() or text[0].isdigit()):
        return False
    return not is_date_line(text)


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


# --------------------------------------------------------------------------
# token walk -> raw blocks


@dataclass(slots=True)
class _Raw:
    kind: str  # heading | paragraph | list | quote | table | code
    segments: list[Segment]
    level: int = 0  # heading level
    bold_only: bool = False
    items: list[tuple[str, list[Segment]]] = field(default_factory=list)  # ordered list items
    ordered: bool = False

    @property
    def text(self) -> str:
        sep = " " if self.kind in ("paragraph", "heading") else "\n"
        return sep.join(t for _, t in self.segments)

    @property
    def single_line(self) -> bool:
        return len(self.segments) == 1


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


def _inline_segments(tok: Any, prefix: str = "") -> tuple[list[Segment], bool]:
    """Clean text of an inline token, one segment per source line.

    Returns the segments and whether the whole text is bold (a "bold line").
    """
    line = tok.map[0] + 1 if tok.map else 1
    segs: list[Segment] = []
    buf: list[str] = [prefix] if prefix else []
    depth_strong = 0
    all_bold = True
    for child in tok.children or ():
        t = child.type
        if t == "text" or t == "code_inline":
            buf.append(child.content)
            if depth_strong == 0 and child.content.strip():
                all_bold = False
        elif t == "softbreak" or t == "hardbreak":
            text = "".join(buf).strip()
            if text:
                segs.append((line, text))
            buf = []
            line += 1
        elif t == "image":
            buf.append(child.content)
        elif t == "strong_open":
            depth_strong += 1
        elif t == "strong_close":
            depth_strong -= 1
        # html_inline, em/link/s open/close: markup only, dropped
    text = "".join(buf).strip()
    if text:
        segs.append((line, text))
    return segs, all_bold and bool(segs)


def _raw_blocks(text: str) -> list[_Raw]:
    tokens = _markdown().parse(text)
    out: list[_Raw] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        t = tok.type
        if tok.level != 0:
            i += 1
            continue
        if t == "heading_open":
            segs, _ = _inline_segments(tokens[i + 1])
            if segs:
                merged = " ".join(s for _, s in segs)
                out.append(_Raw("heading", [(segs[0][0], merged)], level=int(tok.tag[1])))
            i += 3
        elif t == "paragraph_open":
            segs, bold = _inline_segments(tokens[i + 1])
            if segs:
                out.append(_Raw("paragraph", segs, bold_only=bold))
            i += 3
        elif t in ("bullet_list_open", "ordered_list_open"):
            j, raw = _list_block(tokens, i)
            if raw.segments:
                out.append(raw)
            i = j + 1
        elif t == "blockquote_open":
            j = _close_index(tokens, i)
            segs = []
            for k in range(i + 1, j):
                if tokens[k].type == "inline":
                    segs.extend(_inline_segments(tokens[k])[0])
            if segs:
                out.append(_Raw("quote", segs))
            i = j + 1
        elif t == "table_open":
            j = _close_index(tokens, i)
            segs = []
            row: list[str] = []
            row_line = 0
            for k in range(i + 1, j):
                tk = tokens[k]
                if tk.type == "tr_open":
                    row, row_line = [], (tk.map[0] + 1 if tk.map else 0)
                elif tk.type == "inline":
                    row.append(" ".join(s for _, s in _inline_segments(tk)[0]))
                elif tk.type == "tr_close" and any(c for c in row):
                    segs.append((row_line, " | ".join(row)))
            if segs:
                out.append(_Raw("table", segs))
            i = j + 1
        elif t in ("fence", "code_block"):
            first = (tok.map[0] + 1 + (1 if t == "fence" else 0)) if tok.map else 1
            segs = [
                (first + k, ln.rstrip())
                for k, ln in enumerate(tok.content.split("\n"))
                if ln.strip()
            ]
            if segs:
                out.append(_Raw("code", segs))
            i += 1
        elif t == "html_block":
            content = _HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), tok.content)
            first = tok.map[0] + 1 if tok.map else 1
            segs = []
            for k, ln in enumerate(content.split("\n")):
                clean = _HTML_TAG.sub("", ln).strip()
                if clean:
                    segs.append((first + k, clean))
            if segs:
                out.append(_Raw("paragraph", segs))
            i += 1
        else:
            i += 1
    return out


def _close_index(tokens: list[Any], i: int) -> int:
    """Index of the token closing the block opened at ``i``."""
    level = tokens[i].level
    j = i + 1
    while j < len(tokens):
        if tokens[j].nesting == -1 and tokens[j].level == level:
            return j
        j += 1
    return len(tokens) - 1


def _list_block(tokens: list[Any], i: int) -> tuple[int, _Raw]:
    j = _close_index(tokens, i)
    ordered = tokens[i].type == "ordered_list_open"
    segs: list[Segment] = []
    items: list[tuple[str, list[Segment]]] = []
    list_depth = 0
    markers: list[tuple[bool, str]] = []  # per list level: (ordered, pending marker)
    pending_marker: str | None = None
    for k in range(i, j + 1):
        tk = tokens[k]
        if tk.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
            markers.append((tk.type == "ordered_list_open", ""))
        elif tk.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            markers.pop()
        elif tk.type == "list_item_open":
            is_ord = markers[-1][0] if markers else False
            pending_marker = f"{tk.info}{tk.markup or '.'} " if is_ord else "- "
            if list_depth == 1:
                items.append((tk.info if is_ord else "", []))
        elif tk.type == "inline":
            indent = "  " * (list_depth - 1)
            prefix = indent + (pending_marker or "  ")
            pending_marker = None
            item_segs, _ = _inline_segments(tk)
            if item_segs:
                line0, text0 = item_segs[0]
                segs.append((line0, prefix + text0))
                segs.extend(item_segs[1:])
                if items:
                    items[-1][1].extend(item_segs)
        elif tk.type in ("fence", "code_block") and tk.map:
            for off, ln in enumerate(tk.content.split("\n")):
                if ln.strip():
                    segs.append((tk.map[0] + 1 + off, "  " * list_depth + ln.strip()))
    return j, _Raw("list", segs, items=items, ordered=ordered)


# --------------------------------------------------------------------------
# raw blocks -> document


def _words(segs: list[Segment]) -> int:
    return sum(len(t.split()) for _, t in segs)


def _is_prose(raw: _Raw) -> bool:
    if raw.kind in ("list", "table", "quote", "code"):
        return True
    if raw.kind != "paragraph":
        return False
    if not raw.single_line:
        return True
    t = raw.text
    return not (is_heading_like(t) or is_date_line(t) or is_generic_label(t))


_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_FRONT_END = re.compile(r"^(?:---|\.\.\.)\s*$")


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """A Markdown file's YAML front matter: ``({key: scalar value}, text)``, the
    text with the front matter's lines blanked (line numbers stay); ``({}, text)``
    when the file does not open with one."""
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return {}, text
    meta: dict[str, str] = {}
    for k in range(1, min(len(lines), 200)):
        line = lines[k].rstrip("\r")
        if _FRONT_END.match(line):
            if k == 1:
                return {}, text  # "---" twice: a rule, not front matter
            return meta, "\n" * (k + 1) + "\n".join(lines[k + 1:])
        m = _FRONT_KEY.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if value and value not in ("|", ">"):
                meta.setdefault(m.group(1).lower(), " ".join(value.split()))
        elif k == 1 or not (not line.strip() or line.lstrip().startswith(("#", "-"))
                            or line.startswith((" ", "\t"))):
            return {}, text  # not YAML
    return {}, text


#: a UN resolution's own title line: "79/103. Question of ...", "24 (I). Transfer ...",
#: "S-30/1. ...", "PRST 20/1. ...", "Resolution 1325 (2000)"; the number may stand alone
_RESOLUTION_TITLE = re.compile(
    r"^((?:PRST\s+)?(?:[A-Z]{1,3}-)?\d{1,4}/\d{1,4}|\d{1,4}\s?\((?:[IVXL]+|S-[IVX]+|ES-[IVX]+)\))"
    r"(?:\.(?:\s+(.*))?|\s*$)")
#: the opening of a resolution, below its title: "The General Assembly,", "The Human
#: Rights Council,"
_PART_LABEL = re.compile(r"^(?:[A-H]|[IVX]{1,4})\*?(?:\s+(?-i:[A-Z])|$)|^\(")
_OPENING = re.compile(r"^[“\"]?The\s+(?:[A-Z][\w’'-]*\s*){1,8},?$")
#: the number a resolution's title line starts with, from its symbol: A/RES/34/180 ->
#: 34/180, A/RES/3234 (XXIX) -> 3234 (XXIX), UNEP/EA.4/Res.1 -> 4/1
_SYMBOL_NUMBER = re.compile(
    r"^(?:A/(?:HRC/)?RES|E/RES)/(.+)$|^UNEP/EA\.(\d+)/Res\.(\d+)$|^HSP/HA\.(\d+)/Res\.(\d+)$")


def _resolution_number(symbol: str | None) -> str | None:
    sc = re.match(r"^S/RES/(\d+) \((\d{4})\)$", symbol or "")
    if sc:
        return f"Resolution {sc.group(1)} ({sc.group(2)})"
    m = _SYMBOL_NUMBER.match(symbol or "")
    if not m:
        return None
    if m.group(1):
        return m.group(1).split(" ")[0] if re.search(r"/\d+ [A-E]", m.group(1)) else m.group(1)
    a, b = (m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5))
    return f"{a}/{b}"


def _resolution_title(raws: list[_Raw], symbol: str | None = None) -> tuple[str, list[int]] | None:
    """"79/103. Question of the Cayman Islands" (the number alone on its line, the title
    on the next, is joined), and the blocks it is made of: the one whose number is the
    document's symbol's (``A/RES/79/103``) wherever it stands, else the first among
    the first blocks."""
    number = _resolution_number(symbol)
    first: tuple[str, list[int]] | None = None
    for k, r in enumerate(raws):
        if k >= TOP_LINES and (number is None or first is not None):
            break
        if r.kind not in ("paragraph", "heading") or not r.segments:
            continue
        head = r.segments[0][1]
        if number is not None and number.startswith("Resolution ") and \
                " ".join(head.split()).casefold() == number.casefold():
            return " ".join(head.split()), ([k] if r.kind == "paragraph" else [])
        if not re.match(r"(?:PRST\s|(?:[A-Z]{1,3}-)?\d)", head) or len(head) > 400:
            continue
        segs = [" ".join(t.split()) for _, t in r.segments]
        m = _RESOLUTION_TITLE.match(segs[0])
        if not m and number is not None:  # "17/22 Migrants and ..." (no full stop)
            m = re.match(rf"^({re.escape(number)})\s+(\S.*)$", segs[0])
        if not m:
            continue
        rest, idx = " ".join((m.group(2) or "").split()), [k]
        # what may continue the title: the paragraph's next lines, then the next blocks
        cont: list[tuple[str, int | None]] = [(t, None) for t in segs[1:]]
        for j in range(k + 1, min(k + 6, len(raws))):
            if raws[j].kind not in ("paragraph", "heading"):
                break
            cont.append((" ".join(raws[j].text.split()), j))
        if not rest and cont:  # "12/10" alone on its line, the title on the next
            rest, j0 = cont.pop(0)
            idx += [j0] if j0 is not None else []
            if len(rest.split()) > 60 or re.match(r"at\s+(?:the|its)\s", rest, re.I):
                continue  # "PRST 15/2" / "At the 34th meeting, held on ...": no title
        # the title runs to the resolution's opening ("The General Assembly,") when that
        # follows within a few short lines; else over the lines that wrap
        # (lines set in the narrow title column; a part label "A", "II" ends the title)
        stop = next((n for n, (t, _) in enumerate(cont) if _PART_LABEL.match(t)), len(cont))
        cont = cont[:stop]
        opening = next((n for n, (t, _) in enumerate(cont[:4]) if _OPENING.match(t)), None)
        if opening is not None and all(len(t) <= 90 for t in [rest] + [t for t, _ in
                                                              cont[:max(opening - 1, 0)]]) \
                and all(t[-1] not in ".:" for t, _ in cont[:opening]):
            take = cont[:opening]
        else:
            take = []
            prev = rest
            for t, j in cont:
                if not wraps(prev, t, caps=False):
                    break
                take.append((t, j))
                prev = t
        for t, j in take:
            rest = f"{rest} {t}"
            if j is not None:
                idx.append(j)
        if rest and len(rest) <= 400 and (rest[0].isupper() or rest[0].isdigit()) \
                and rest[-1] not in ",;:" \
                and not (rest[-1] == "." and len(rest.split()) > 12):
            found = (f"{m.group(1)}. {rest}", idx)
            key = " ".join(m.group(1).split()).replace(" (", "(")
            if number is not None and key == number.replace(" (", "("):
                return found
            # another resolution's title (a page of a volume that holds several) only
            # when the text opens with it
            if first is None and k < (TOP_LINES if number is None else 5):
                first = found
    return first


def _not_title(text: str) -> bool:
    """A line kept from the title: UN front matter, a symbol alone, a stamp line."""
    t = " ".join(text.split())
    return is_front_matter(t) or symbol_of_line(t) is not None or is_stamp_line(t)


#: a part heading: a Roman numeral alone or before its title ("II", "III. Title"),
#: "Annex", "Annex II", "Appendix 1: Title"
_PART_HEADING = re.compile(
    r"^(?:(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3})\.?(?:\s+\S.*)?"
    r"|(?:annex|appendix)(?:es)?(?:\s+(?:[IVX]{1,6}|\d{1,2}|[A-Z]))?\.?\*?"
    r"(?:\s*[:.—–-]?\s+\S.*)?)$",
    re.I)


def is_part_heading(text: str) -> bool:
    """"II", "II.", "III. Title", "Annex", "Annex II", "Appendix 1: Title": a heading
    whatever follows it (not a sentence: at most 16 words, no closing punctuation but
    the numeral's full stop)."""
    t = " ".join(text.split()).rstrip("*")
    if not t or len(t) > MAX_HEADING_CHARS or len(t.split()) > MAX_HEADING_WORDS:
        return False
    if not _PART_HEADING.match(t):
        return False
    label = re.match(r"^(?:[IVX]+|annex(?:es)?|appendix)\.?$", t, re.I)
    return bool(label) or t[-1] not in _CLOSING


def parse(text: str, doc_id: str, fmt: str = "markdown") -> Document:
    """Parse Markdown or Markdown-ish plain text into a :class:`Document`."""
    front: dict[str, str] = {}
    if fmt == "markdown":
        front, text = front_matter(text)
    raws = _raw_blocks(text)
    has_md_headings = any(r.kind == "heading" for r in raws)
    # a "# Title" near the top of a text is its title
    md_h1 = next((k for k, r in enumerate(raws[:30]) if r.kind == "heading" and r.level == 1
                  and meaningful_title(r.text, doc_id)), None)
    plain_headings = fmt == "text" or not has_md_headings

    # Plain-text headings become heading blocks: part headings ("II", "III. Title",
    # "Annex") at level 1, whatever follows them, and the others below them (level 2;
    # level 1 in a text without part headings); UN front matter is never a heading.
    if plain_headings:
        parts = [k for k, r in enumerate(raws)
                 if r.kind == "paragraph" and r.single_line and is_part_heading(r.text)]
        level = 2 if parts else 1
        for k in parts:
            raws[k] = _Raw("heading", raws[k].segments, level=1)
        for k, r in enumerate(raws):
            if (
                r.kind == "paragraph"
                and r.single_line
                and is_heading_like(r.text)
                and not is_generic_label(r.text)
                and k + 1 < len(raws)
                and _is_prose(raws[k + 1])
                and not is_front_matter(r.text)
            ):
                raws[k] = _Raw("heading", r.segments, level=level)

    # Title, date and the metadata lines above the first heading.
    # the first heading that could be a title (not "Agenda item 168", a symbol, a stamp)
    first_heading = next((k for k, r in enumerate(raws)
                          if r.kind == "heading" and not _not_title(r.text)), len(raws))
    title: str | None = None
    title_index: int | None = None
    title_raws: list[int] = []  # the blocks a UN title is made of (not passages)
    h1 = next((k for k, r in enumerate(raws) if r.kind == "heading" and r.level == 1), None)
    if h1 is not None and not plain_headings:
        title, title_index = raws[h1].text, h1
    else:
        for k, r in enumerate(raws[: max(first_heading, 1) + 1]):
            if r.kind not in ("paragraph", "heading") or not r.single_line:
                continue
            if is_generic_label(r.text) or is_date_line(r.text) or _not_title(r.text):
                continue
            if is_heading_like(r.text) or r.bold_only or r.kind == "heading":
                title, title_index = r.text, k
                break
        if plain_headings:
            # a resolution's own title line ("78/134. International trade and development"),
            # else the title of a UN masthead (:func:`kb.meta.front_title`)
            found = _resolution_title(raws, symbol_of_filename(doc_id))
            if found is None and md_h1 is not None:
                found = raws[md_h1].text, []
            if found is None:
                found = front_title([r.text if r.kind in ("paragraph", "heading") or (
                    r.kind == "list" and r.single_line) else None for r in raws[:30]])
            if found is not None:
                title, title_raws = found
                title_index = None
    if meaningful_title(front.get("title"), doc_id):
        title = front["title"]
    if title is None:
        title = doc_id.rsplit("/", 1)[-1]
    given = front.get("symbol", "")  # as written, else in capitals ("unw/2025/1")
    symbol = symbol_of_line(given) or symbol_of_line(given.upper()) or find_symbol(
        [t for r in raws[:TOP_LINES] for _, t in r.segments])
    if symbol:
        symbol = symbol.rstrip("*")
    # metadata lines (label, date) may stand above the first section heading: before
    # the first heading, or between a Markdown H1 title and the next heading
    body_start = next((k for k, r in enumerate(raws) if r.kind == "heading" and k != title_index),
                      len(raws))
    # a UN title's lines above the first heading are metadata (a heading stays a heading)
    skip = {k for k in title_raws if k < body_start and raws[k].kind == "paragraph"}
    if title_index is not None:
        skip.add(title_index)
    # the UN forms first (adoption line, masthead date line, closing meeting line), then
    # the first date written above the first heading
    lines = [seg for r in raws for seg in r.segments]
    date, _form = document_date([t for _, t in lines])
    if date is None:
        head_text = "\n".join(r.text for r in raws[: max(body_start, 3)][:12])
        date = first_date(head_text[:20_000])  # near the top; bounded for one-paragraph giants
    if front.get("date"):
        date = find_date(front["date"]) or date

    sections: list[Section] = []
    cur_heading, cur_path = title, ()  # type: tuple[str, tuple[str, ...]]
    heading_stack: list[tuple[int, str]] = []
    blocks: list[Block] = []
    last_number: str | None = None

    def flush() -> None:
        if blocks:
            sections.append(Section(cur_heading, cur_path, tuple(blocks)))

    for k, r in enumerate(raws):
        if k in skip:
            continue
        if k < body_start and r.kind == "paragraph" and r.single_line and (
            is_generic_label(r.text) or is_date_line(r.text)
        ):
            continue  # metadata above the first heading
        if r.kind == "heading":
            flush()
            blocks = []
            last_number = None
            while heading_stack and heading_stack[-1][0] >= r.level:
                heading_stack.pop()
            heading_stack.append((r.level, r.text))
            cur_heading = r.text
            cur_path = tuple(h for _, h in heading_stack)
            continue
        if r.kind == "list" and r.ordered and r.items:
            avg = sum(_words(s) for _, s in r.items) / len(r.items)
            if avg >= NUMBERED_PARAGRAPH_MIN_WORDS:
                for number, segs in r.items:
                    if segs:
                        blocks.append(Block("paragraph", tuple(segs), paragraph=number))
                        last_number = number
                continue
        paragraph = None
        if r.kind == "paragraph":
            sub = subparagraph_label(r.segments[0][1])
            if sub and last_number:
                paragraph = f"{last_number}({sub})"
        blocks.append(Block(r.kind, tuple(r.segments), paragraph=paragraph))
    flush()
    note = None if date else date_note([(f"line {n}", t) for n, t in lines])
    return Document(id=doc_id, title=title, date=date, format=fmt, sections=tuple(sections),
                    symbol=symbol, date_note=note)
