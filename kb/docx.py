"""DOCX -> :class:`~kb.models.Document` with ``python-docx``.

* Headings from paragraph styles ("Heading 1" ... "Heading 9", or an outline
  level set on the style); the "Title" style gives the document title, else
  the core property *title* when meaningful (not empty, "untitled", a file
  name, "Microsoft Word - ..." or a symbol), else the first heading that is
  not an approval stamp line ("APPROVED"; :func:`kb.meta.meaningful_title`);
  without any heading style, the title of the first paragraphs as in a text
  (:func:`kb.meta.front_title`: "Word Document", python-docx's default core
  title for a file without one, is never a title).
* The UN symbol: one standing alone on one of the first lines of the body (a
  paragraph, or a cell of a table at the top: "United Nations | A/78/123"),
  else in the page header, else the core properties *identifier*, *title*,
  *subject* or *keywords* when that is a symbol and nothing else.
* Automatic numbering is rendered as Word shows it ("7.", "(a)", "ii."):
  python-docx does not compute it, so the labels are counted here from the
  numbering definitions.  Long numbered paragraphs are UN paragraphs
  (``¶ 7``, ``¶ 7(a)``); bulleted and short numbered items are list blocks.
* Tables: one line per row, cells separated by " | ".
* Positions (``line_start``): the paragraph number in the document, see
  :mod:`kb.outline`.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from typing import Any

from .meta import TOP_LINES, find_symbol, front_title, meaningful_title, symbol_of_line
from .models import Document
from .outline import Builder, clean, ordered_items_are_paragraphs, to_alpha, to_roman

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class DocxError(ValueError):
    """A DOCX file that cannot be read; the message is the reason ``kb status`` shows."""


def _val(el: Any, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(f"{_W}{tag}")
    return None if child is None else child.get(f"{_W}val")


class _Numbering:
    """Counts automatic list numbers the way Word displays them."""

    def __init__(self, doc: Any) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}  # numId -> ilvl -> fmt
        self.counters: dict[str, dict[int, int]] = {}
        try:
            root = doc.part.numbering_part.element
        except (NotImplementedError, KeyError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for an in root.findall(f"{_W}abstractNum"):
            lv: dict[int, tuple[str, str, int]] = {}
            for lvl in an.findall(f"{_W}lvl"):
                ilvl = int(lvl.get(f"{_W}ilvl", "0"))
                fmt = _val(lvl, "numFmt") or "decimal"
                text = _val(lvl, "lvlText") or ""
                start = int(_val(lvl, "start") or "1")
                lv[ilvl] = (fmt, text, start)
            abstract[an.get(f"{_W}abstractNumId", "")] = lv
        for num in root.findall(f"{_W}num"):
            aid = _val(num, "abstractNumId")
            if aid is not None and aid in abstract:
                self.levels[num.get(f"{_W}numId", "")] = abstract[aid]

    def label(self, num_id: str, ilvl: int) -> tuple[str, str] | None:
        """(label, format) of the next item of list ``num_id`` at level ``ilvl``."""
        lv = self.levels.get(num_id)
        if not lv or ilvl not in lv:
            return None
        count = self.counters.setdefault(num_id, {})
        fmt, text, start = lv[ilvl]
        count[ilvl] = count.get(ilvl, start - 1) + 1
        for deeper in [k for k in count if k > ilvl]:
            del count[deeper]
        if fmt == "bullet":
            return "-", fmt
        if fmt == "none":
            return "", fmt

        def render(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            f = lv.get(k, ("decimal", "", 1))[0]
            n = count.get(k, lv.get(k, ("", "", 1))[2])
            return _format(n, f)

        return re.sub(r"%(\d)", render, text).strip(), fmt


def _format(n: int, fmt: str) -> str:
    if fmt == "lowerLetter":
        return to_alpha(n)
    if fmt == "upperLetter":
        return to_alpha(n, upper=True)
    if fmt == "lowerRoman":
        return to_roman(n)
    if fmt == "upperRoman":
        return to_roman(n, upper=True)
    return str(n)


def _num_pr(paragraph: Any) -> tuple[str, int] | None:
    """(numId, ilvl) of a paragraph's automatic numbering, from it or its style."""
    for el in (paragraph._p.pPr, getattr(paragraph.style, "element", None)):
        if el is None:
            continue
        ppr = el if el.tag == f"{_W}pPr" else el.find(f"{_W}pPr")
        if ppr is None:
            continue
        num = ppr.find(f"{_W}numPr")
        if num is None:
            continue
        num_id = _val(num, "numId")
        ilvl = _val(num, "ilvl")
        if num_id and num_id != "0":
            return num_id, int(ilvl or 0)
    return None


def _heading_level(paragraph: Any) -> int | None:
    style = paragraph.style
    while style is not None:
        name = (style.name or "").lower()
        m = re.fullmatch(r"heading (\d)", name)
        if m:
            return int(m.group(1))
        ppr = style.element.find(f"{_W}pPr")
        lvl = _val(ppr, "outlineLvl")
        if lvl is not None and lvl.isdigit() and int(lvl) < 9:
            return int(lvl) + 1
        style = style.base_style
    ppr = paragraph._p.pPr
    lvl = _val(ppr, "outlineLvl")
    if lvl is not None and lvl.isdigit() and int(lvl) < 9:
        return int(lvl) + 1
    return None


def _is_title(paragraph: Any) -> bool:
    return (paragraph.style.name or "").lower() == "title" if paragraph.style else False


def read_docx(data: bytes, doc_id: str, fmt: str = "docx") -> Document:
    """Read a DOCX file's bytes into a Document.

    :raises DocxError: not a DOCX (zip) file, or a damaged one.
    """
    import zipfile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DocxError("corrupt DOCX: not a zip archive") from None
    except KeyError as e:
        raise DocxError(f"corrupt DOCX: missing part {e}") from None
    except Exception as e:  # noqa: BLE001 - lxml / python-docx errors
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DocxError(f"corrupt DOCX: {msg}") from None

    numbering = _Numbering(doc)
    b = Builder(doc_id, fmt)
    title: str | None = None
    first_heading: str | None = None  # the first meaningful one
    top: list[str] = []  # the first lines of the body, to find the symbol
    pending: list[tuple[str, str, int]] = []  # list items waiting to be one block
    run: list[tuple[str, str, int]] = []  # numbered items: (label, text, level)

    def flush_lists() -> None:
        nonlocal pending, run
        if run:
            if ordered_items_are_paragraphs([t for _, t, _ in run]):
                for label, text, _ in run:
                    b.paragraph(text, number=label)
            else:
                b.items(run)
            run = []
        if pending:
            b.items(pending)
            pending = []

    for item in doc.iter_inner_content():
        if isinstance(item, Table):
            flush_lists()
            rows = []
            for row in item.rows:
                try:
                    rows.append([c.text for c in row.cells])
                except (IndexError, ValueError):  # irregular grid
                    rows.append([clean(tc.xpath("string(.)")) for tc in row._tr.tc_lst])
            if len(top) < TOP_LINES:
                top.extend(clean(ln) for r in rows for c in r for ln in c.splitlines())
            b.table(rows)
            continue
        if not isinstance(item, Paragraph):
            continue
        text = clean(item.text)
        if not text:
            continue
        if len(top) < TOP_LINES:
            top.append(text)
        if _is_title(item):
            flush_lists()
            if title is None:
                title = text
                b.next_position()
                continue
        level = _heading_level(item)
        num = _num_pr(item)
        label = numbering.label(*num) if num else None
        if level is not None:
            flush_lists()
            heading = f"{label[0]} {text}" if label and label[0] and label[1] != "bullet" else text
            if first_heading is None and meaningful_title(heading, doc_id):
                first_heading = heading
            b.heading(heading, level)
            continue
        if label is not None:
            mark, nfmt = label
            ilvl = num[1] if num else 0
            if nfmt == "bullet" or (ilvl > 0 and not run):
                pending.append((mark or "-", text, ilvl))
                continue
            if pending:
                flush_lists()
            run.append((mark, text, ilvl))  # "7." and the "(a)" under it
            continue
        flush_lists()
        b.paragraph(text)
    flush_lists()

    core = doc.core_properties
    if title is None and meaningful_title(core.title, doc_id):
        title = " ".join((core.title or "").split())
    symbol = find_symbol(top) or _header_symbol(doc)
    if symbol is None:
        for value in (core.identifier, core.title, core.subject, core.keywords):
            symbol = symbol_of_line(value or "")
            if symbol:
                break
    if title is None and first_heading is None and b.first_heading is None:
        # no heading styles (a text saved as DOCX by LibreOffice): the title of its first
        # paragraphs, read as in a text (kb.meta.front_title)
        found = front_title(b.front)
        title = found[0] if found else None
    d = b.finish(title or first_heading or doc_id.rsplit("/", 1)[-1])
    return replace(d, symbol=symbol.rstrip("*")) if symbol else d


def _header_symbol(doc: Any) -> str | None:
    """A symbol standing alone on a line of the first section's page header."""
    try:
        section = doc.sections[0]
    except IndexError:
        return None
    lines: list[str] = []
    headers = [section.first_page_header] if section.different_first_page_header_footer else []
    headers.append(section.header)
    for h in headers:
        if h.is_linked_to_previous:  # no header of its own (the first section: none)
            continue
        for p in h.paragraphs:
            lines += [clean(ln) for ln in p.text.splitlines()]
        for t in h.tables:
            for row in t.rows:
                for c in row.cells:
                    lines += [clean(ln) for ln in c.text.splitlines()]
    return find_symbol(lines)
