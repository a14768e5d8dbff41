"""HTML -> :class:`~kb.models.Document` with ``selectolax`` (the Lexbor HTML5 parser).

* Dropped: ``script``, ``style``, ``noscript``, ``template``, ``svg``,
  ``nav``, ``header``, ``footer``, ``aside``, ``form``, ``iframe``, anything
  ``hidden``, ``aria-hidden`` or with ``role="navigation"`` (site chrome,
  not the document).  When the page has a ``<main>`` (or a single
  ``<article>``), only that is read.
* Headings from ``h1``-``h6``.  The title is the first ``h1`` (the page's own
  heading; ``<title>`` usually carries the site name too), unless it is only
  the site's name (a part of ``<title>`` after " | ", " – " ...) or not
  meaningful (:func:`kb.meta.meaningful_title`); then ``<title>`` without the
  site's name (``Policy on X | UN Women`` -> ``Policy on X``,
  :func:`kb.meta.page_title`); then the first heading; else the file name.
* The UN symbol: a ``<meta>`` (``symbol``, ``dc.identifier``,
  ``dcterms.identifier``, ``citation_technical_report_number``) whose content
  is a symbol, else a symbol standing alone on one of the first lines of the
  text, or as the whole ``<title>`` or ``h1``.  The date: a ``<meta>`` publication date, else
  ``<time datetime>``, else the first date written near the top.
* Paragraphs from ``p``, ``li``, ``dt``/``dd``, ``blockquote``, ``pre``,
  ``figcaption`` and the loose text of ``div``-like containers; tables as one
  line per row.  Ordered lists of long items are UN numbered paragraphs
  (``¶ 7``), honouring ``start`` and ``value``.
* Positions (``line_start``): the paragraph number in the document, see
  :mod:`kb.outline`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from .meta import find_symbol, meaningful_title, symbol_of_line
from .meta import page_title as split_page_title
from .models import Document
from .outline import Builder, clean, ordered_items_are_paragraphs, to_alpha, to_roman

DROP = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside",
        "form", "iframe", "button", "select", "dialog", "object", "canvas", "map")
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_PARA = {"p", "dt", "dd", "figcaption", "caption", "summary", "address", "legend"}
_CONTAINER = {"div", "section", "article", "main", "body", "blockquote", "figure", "details",
              "fieldset", "center", "dl", "hgroup", "search", "html"}
_BLOCK = set(_HEADINGS) | _PARA | _CONTAINER | {"ul", "ol", "li", "table", "pre", "hr", "menu",
                                                 "tr", "td", "th", "thead", "tbody", "tfoot"}
_META_DATES = ("date", "dcterms.date", "dc.date", "article:published_time",
               "citation_publication_date", "dcterms.created", "dcterms.issued")
_META_SYMBOLS = ("symbol", "dc.identifier", "dcterms.identifier",
                 "citation_technical_report_number")


def _inline_text(node: Any) -> str:
    """The text of a node, stopping at nested blocks (they are read on their own)."""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(child.text(deep=False) or "")
        elif tag in _BLOCK or tag.startswith("-") or tag.startswith("_"):
            continue
        else:
            parts.append(child.text(deep=True) or "")
    return "".join(parts)


class _Walker:
    def __init__(self, b: Builder) -> None:
        self.b = b
        self.title_h1: str | None = None
        self.skip_first_h1 = True

    def walk(self, node: Any) -> None:
        buf: list[str] = []

        def flush() -> None:
            text = clean("".join(buf))
            buf.clear()
            if text:
                self.b.paragraph(text)

        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                buf.append(child.text(deep=False) or "")
                continue
            if tag.startswith("-") or tag.startswith("_"):
                continue  # comments, doctype
            if tag not in _BLOCK:
                buf.append(child.text(deep=True) or "")
                continue
            flush()
            self.block(child, tag)
        flush()

    def block(self, node: Any, tag: str) -> None:
        b = self.b
        if tag in _HEADINGS:
            text = clean(node.text(deep=True) or "")
            if not text:
                return
            if tag == "h1" and self.skip_first_h1 and self.title_h1 is None:
                self.title_h1 = text
                b.next_position()
                return
            b.heading(text, _HEADINGS[tag])
        elif tag in _PARA:
            b.paragraph(_inline_text(node))
            self.walk_nested_blocks(node)
        elif tag == "pre":
            lines = [ln.rstrip() for ln in (node.text(deep=True) or "").splitlines()]
            b.items([("", ln, 0) for ln in lines if ln.strip()])
        elif tag in ("ul", "ol", "menu"):
            self.list(node, tag == "ol", 0)
        elif tag == "table":
            rows = []
            for tr in node.css("tr"):
                rows.append([clean(c.text(deep=True) or "") for c in tr.iter()
                             if c.tag in ("td", "th")])
            b.table(rows)
        elif tag == "li":
            self.b.items([("-", _li_text(node), 0)])
        elif tag == "hr":
            return
        else:
            self.walk(node)

    def walk_nested_blocks(self, node: Any) -> None:
        for child in node.iter():
            if child.tag in _BLOCK:
                self.block(child, child.tag)

    def list(self, node: Any, ordered: bool, depth: int) -> None:
        items = _collect(node, ordered, depth)
        top = [clean(t) for _, t, d in items if d == depth]
        if ordered and depth == 0 and ordered_items_are_paragraphs(top):
            for label, text, _d in items:  # "7." and the "(a)" items under it
                self.b.paragraph(text, number=label)
        else:
            self.b.items(items)


def _li_text(li: Any) -> str:
    """The text of a list item without its nested lists."""
    parts: list[str] = []
    for child in li.iter(include_text=True):
        if child.tag in ("ul", "ol", "menu"):
            continue
        if child.tag == "-text":
            parts.append(child.text(deep=False) or "")
        elif not (child.tag.startswith("-") or child.tag.startswith("_")):
            sep = " " if child.tag in _BLOCK else ""
            parts.append(sep + (child.text(deep=True) or "") + sep)
    return "".join(parts)


def _collect(node: Any, ordered: bool, depth: int,
             sub: bool = False) -> list[tuple[str, str, int]]:
    """(label, text, depth) of a list's items, nested lists included, in order."""
    out: list[tuple[str, str, int]] = []
    start = node.attributes.get("start") if ordered else None
    kind = node.attributes.get("type") or ("a" if ordered and sub else None)
    n = int(start) - 1 if start and start.lstrip("-").isdigit() else 0
    for li in node.iter():
        if li.tag != "li":
            continue
        value = li.attributes.get("value")
        n = int(value) if value and value.isdigit() else n + 1
        out.append((_label(n, kind) if ordered else "-", _li_text(li), depth))
        for child in li.iter():
            if child.tag in ("ul", "ol", "menu"):
                out.extend(_collect(child, child.tag == "ol", depth + 1, sub=ordered))
    return out


def _label(n: int, kind: str | None) -> str:
    if kind == "a":
        return f"({to_alpha(n)})"
    if kind == "A":
        return f"{to_alpha(n, upper=True)}."
    if kind == "i":
        return f"({to_roman(n)})"
    if kind == "I":
        return f"{to_roman(n, upper=True)}."
    return f"{n}."


def read_html(data: bytes, doc_id: str, fmt: str = "html") -> Document:
    """Read an HTML file's bytes into a Document."""
    from selectolax.lexbor import LexborHTMLParser

    from .corpus import decode
    from .parse import find_date

    text = _decode(data, decode)
    tree = LexborHTMLParser(text)
    page_title = tree.css_first("title")
    page_title_text = clean(page_title.text()) if page_title is not None else ""
    date = None
    for name in _META_DATES:
        meta = tree.css_first(f'meta[name="{name}" i], meta[property="{name}" i]')
        if meta is not None and meta.attributes.get("content"):
            date = find_date(meta.attributes["content"] or "")
            if date:
                break
    symbol = None
    for name in _META_SYMBOLS:
        meta = tree.css_first(f'meta[name="{name}" i], meta[property="{name}" i]')
        if meta is not None:
            symbol = symbol_of_line(clean(meta.attributes.get("content") or ""))
            if symbol:
                break
    tree.strip_tags(list(DROP))
    for sel in ("[hidden]", '[aria-hidden="true"]', '[role="navigation"]', '[role="banner"]',
                '[role="contentinfo"]'):
        for node in tree.css(sel):
            node.decompose()
    for br in tree.css("br"):
        br.replace_with(" ")
    if date is None:
        t = tree.css_first("time[datetime]")
        if t is not None:
            date = find_date(t.attributes.get("datetime") or "")
    root = tree.css_first("main")
    if root is None:
        articles = tree.css("article")
        root = articles[0] if len(articles) == 1 else (tree.body or tree.root)
    b = Builder(doc_id, fmt)
    w = _Walker(b)
    if root is not None:
        if root.tag in _BLOCK and root.tag not in _CONTAINER:
            w.block(root, root.tag)
        else:
            w.walk(root)
    page, site = split_page_title(page_title_text)
    title = None
    h1 = w.title_h1
    if h1 and meaningful_title(h1, doc_id) and h1 not in site:
        title = h1
    elif meaningful_title(page, doc_id):
        title = page
    elif b.first_heading and meaningful_title(b.first_heading, doc_id):
        title = b.first_heading
    elif h1:
        title = h1
    if symbol is None:
        symbol = find_symbol([t for t in (page_title_text, h1) if t] + b.texts)
    d = b.finish(title, date)
    return replace(d, symbol=symbol.rstrip("*")) if symbol else d


def _decode(data: bytes, decode: Any) -> str:
    """UTF-8 / BOM / the charset the page declares / detected."""
    m = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", data[:4096], re.I)
    if m and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        enc = m.group(1).decode("ascii", "replace")
        try:
            return data.decode(enc).replace("\r\n", "\n")
        except (LookupError, UnicodeDecodeError):
            pass
    text, _enc = decode(data)
    return text
