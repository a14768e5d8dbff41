"""The briefing annex: one model (:func:`build`), three writers (Markdown, HTML, Word).

An annex is what a policy officer hands on: a title (the query, or "Chosen
passages" / "All passages"), the query, when it ran, how many passages from
how many documents; then each document once, by its best hit (title, UN
symbol, date, source file relative to the corpus), its passages in reading
order (``order="rank"``: by rank), a section heading only where it changes,
each passage's full text with the matched words marked and its citations.

The writers only lay the model out, so the Markdown, HTML and DOCX annexes
cannot drift apart: same documents, sections, passages and citations, in the
same order.  No absolute path of the user's machine is written: files are
named relative to the corpus folder (``Hit.doc``), never by ``Hit.path``.

python-docx (and lxml under it) is imported only when a Word annex is written.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .models import Hit, SearchResult, citation

#: ``--order``: passages of a document in reading order (document order) or by rank
ORDERS = ("reading", "rank")
#: joins the headings of a section's path (``Annex I › 2025/11 Update on …``)
HEADING_SEP = " › "
#: a title when there is no query
CHOSEN_TITLE = "Chosen passages"
ALL_TITLE = "All passages"
#: the longest title an annex takes (``kb export --title``, the web annex's title box)
MAX_TITLE = 300

#: one run of a passage paragraph: its text and whether it is a matched word
Run = tuple[str, bool]


@dataclass(frozen=True, slots=True)
class AnnexPassage:
    id: str
    ref: str  #: the short reference (``kb show REF``)
    rank: int
    #: the section heading to print before this passage (it differs from the previous
    #: passage's in the document), else None
    heading: str | None
    section: str  #: the passage's section heading path, always set
    text: str  #: the passage's full text
    matches: tuple[tuple[int, int], ...]  #: (start, end) of the matched words in ``text``
    symbol_citation: str | None  #: ``UNW/2025/1, ¶ 9, p. 18`` when the document has a symbol
    file_citation: str  #: ``report.pdf p. 18 ¶ 9``, relative to the corpus folder
    also_in: tuple[str, ...]  #: the same text in other files (citations relative to the corpus)
    #: the query words this passage does not hold (it matched some of them, not all)
    missing: tuple[str, ...] = ()
    fingerprint: str = ""  #: what the passage says (:func:`kb.models.fingerprint`)
    #: chosen with ``--allow-changed`` although its text changed: what had been picked
    changed: str = ""

    @property
    def citation(self) -> str:
        """``UNW/2025/1, ¶ 9, p. 18 — UNW_2025_1.en.pdf p. 18 ¶ 9`` (or the file's alone)."""
        return " — ".join(c for c in (self.symbol_citation, self.file_citation) if c)

    @property
    def also_in_line(self) -> str | None:
        return "Also in: " + "; ".join(self.also_in) if self.also_in else None

    @property
    def missing_line(self) -> str | None:
        """``Partial match, without: retaliation``: a reader sees at once a passage that holds only
        some of the query's words (as ``kb search`` prints "missing: ...")."""
        return "Partial match, without: " + ", ".join(self.missing) if self.missing else None

    @property
    def changed_line(self) -> str | None:
        """``Changed since picked: …``: the text below is not what was chosen."""
        if not self.changed:
            return None
        was = " ".join(self.changed.split())
        was = was if len(was) <= 120 else was[:119].rstrip() + "…"
        return f"Changed since picked (the reference named “{was}”); the text is as it stands now"

    @property
    def notes(self) -> list[str]:
        """The lines printed under the citation."""
        return [x for x in (self.changed_line, self.missing_line, self.also_in_line) if x]

    @property
    def provenance(self) -> dict[str, Any]:
        """What ``kb verify`` reads back: the passage, what it said, how it was cited."""
        return {"id": self.id, "fingerprint": self.fingerprint, "citation": self.citation,
                "file_citation": self.file_citation}

    def paragraphs(self) -> list[list[Run]]:
        """The text in paragraphs (split at blank lines; single newlines stay as line
        breaks), each as runs of (text, matched word)."""
        out: list[list[Run]] = []
        pos = 0
        bounds = [(m.start(), m.end()) for m in _BLANK_LINE.finditer(self.text)]
        for s, e in [*bounds, (len(self.text), len(self.text))]:
            if s > pos:
                out.append(self._runs(pos, s))
            pos = e
        return out

    def _runs(self, start: int, end: int) -> list[Run]:
        runs: list[Run] = []
        pos = start
        for s, e in self.matches:
            if s < start or e > end:
                continue
            if s > pos:
                runs.append((self.text[pos:s], False))
            runs.append((self.text[s:e], True))
            pos = e
        if pos < end:
            runs.append((self.text[pos:end], False))
        return runs

    @property
    def matched_words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.matches]


@dataclass(frozen=True, slots=True)
class AnnexDocument:
    doc: str  #: the file, relative to the corpus folder
    title: str
    symbol: str | None
    date: str | None
    passages: tuple[AnnexPassage, ...]

    @property
    def meta(self) -> str:
        """``Symbol: UNW/2025/1 · Date: 2025-01-10 · Source: UNW_2025_1.en.pdf``."""
        parts = [f"Symbol: {self.symbol}"] if self.symbol else []
        if self.date:
            parts.append(f"Date: {self.date}")
        parts.append(f"Source: {self.doc}")
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class Annex:
    title: str
    query: str | None  #: the query whose hits these are (after a spelling correction)
    typed_query: str | None  #: the query as typed, when it was corrected
    filters: tuple[str, ...]
    when: dt.datetime
    order: str
    passages: int
    total: int
    offset: int
    documents: tuple[AnnexDocument, ...]
    #: chosen passages picked from several searches: their queries, in the order of the
    #: passages (``query`` is None then)
    queries: tuple[str, ...] = ()

    @property
    def provenance(self) -> dict[str, Any]:
        """The annex as ``kb verify`` reads it back (besides each passage's)."""
        return {"kb_annex": PROVENANCE_VERSION, "title": self.title, "query": self.query,
                "created": self.when.isoformat(timespec="seconds"),
                "passages": self.passages}

    @property
    def lines(self) -> list[str]:
        """The lines under the title: query, filters, when, counts."""
        out = []
        if self.query:
            q = f"Query: {self.query}"
            if self.typed_query:
                q += f" (spelling correction: no passage matches “{self.typed_query}”)"
            out.append(q)
        elif self.queries:
            out.append("Queries: " + "; ".join(f"“{q}”" for q in self.queries))
        if self.filters:
            out.append("Filters: " + " · ".join(self.filters))
        out.append(f"{'Searched' if self.query else 'Exported'}: "
                   f"{self.when.strftime('%Y-%m-%d %H:%M')}")
        out.append(self.count_line)
        return out

    @property
    def count_line(self) -> str:
        """``26 passages from 3 documents`` (``Passages 11-20 of 26 from 3 documents``)."""
        n, docs = self.passages, len(self.documents)
        from_docs = f"from {docs} document{'s' * (docs != 1)}"
        if not n:
            return (f"None of the {self.total} passages from {self.offset + 1} on"
                    if self.offset else "No passages")
        if n == self.total and not self.offset:
            line = f"{n} passage{'s' * (n != 1)} {from_docs}"
        else:
            line = f"Passages {self.offset + 1}-{self.offset + n} of {self.total} {from_docs}"
        return line + (", passages by rank" if self.order == "rank" else "")


_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
#: the version of the machine-readable provenance annexes carry (:mod:`kb.verify`)
PROVENANCE_VERSION = 1


def provenance_json(data: dict[str, Any]) -> str:
    """Provenance as one line of JSON that an HTML or Markdown comment can hold: no
    ``--`` and no ``>`` (escaped as ``\\u002d\\u002d`` and ``\\u003e``)."""
    import json

    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("--", "\\u002d\\u002d").replace(">", "\\u003e").replace("<", "\\u003c")


def _ordinal(h: Hit) -> int:
    """The passage's place in its document: the number after ``#`` in its id."""
    try:
        return int(h.id.rpartition("#")[2])
    except ValueError:
        return h.line_start or 0


def _prefix(h: Hit) -> str:
    """How the hit's citations name the corpus folder (``Hit.path`` is prefix + doc)."""
    return h.path[: -len(h.doc)] if h.doc and h.path.endswith(h.doc) else ""


def _relative(cite: str, prefix: str) -> str:
    return cite[len(prefix):] if prefix and cite.startswith(prefix) else cite


def _one_line(text: str) -> str:
    return " ".join(text.split())


#: what a title cannot hold: control characters but the white space that only
#: separates words (tab, line breaks), lone surrogates (bytes that were not UTF-8),
#: U+FFFE/U+FFFF
_NOT_TITLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_title(text: str, what: str = "--title") -> str:
    """A title as given (``kb export --title``, the web annex's title box), on one line:
    each run of white space (tabs and line breaks too) one space, none at either end.

    :raises ValueError: the title is empty, longer than :data:`MAX_TITLE` characters
        or holds a control character (a one-line message naming ``what``).
    """
    bad = _NOT_TITLE.search(text)
    if bad:
        c = bad.group()
        kind = "a byte that is not UTF-8" if "\ud800" <= c <= "\udfff" else \
            f"a control character (U+{ord(c):04X})"
        raise ValueError(f"{what} holds {kind} at character {bad.start() + 1}; "
                         "give the title as plain text")
    title = _one_line(text)
    if not title:
        raise ValueError(f"{what} is empty: give the annex a title, or leave {what} out "
                         "for the default (the query)")
    if len(title) > MAX_TITLE:
        raise ValueError(f"{what} is {len(title):,} characters long; an annex title is at "
                         f"most {MAX_TITLE}")
    return title


def default_title(result: SearchResult, chosen: bool = False) -> str:
    """The query whose hits these are (the spelling correction's, when the typed query
    found nothing), else "Chosen passages" or "All passages"."""
    query = result.corrected_query or result.query
    if query:
        return _one_line(query)
    return CHOSEN_TITLE if chosen else ALL_TITLE


def build(result: SearchResult, now: dt.datetime | None = None, order: str = "reading",
          title: str | None = None, chosen: bool = False,
          picked_from: Mapping[str, tuple[str, Collection[str]]] | None = None) -> Annex:
    """The annex of a search result: its documents ordered by their best hit (lowest
    rank; ties in the order the hits come), each once, its passages in reading order
    (``order="rank"``: by rank).  ``chosen``: the hits are passages a user picked
    (``kb export --ids``), titled "Chosen passages" when there is no query.  ``title``:
    the annex's title (else :func:`default_title`).

    ``picked_from``: chosen passages that were picked from a search (the web page's
    annex panel), by hit id: the query and the index terms it matches
    (:meth:`kb.KnowledgeBase.query_terms`).  Their matched words are in bold; the
    annex names the query (and takes it as its title) when they share one, or lists
    the queries."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    query = result.corrected_query or result.query
    terms = set(result.terms)
    picked = picked_from or {}
    queries: tuple[str, ...] = ()
    if picked and not query:
        queries = tuple(dict.fromkeys(_one_line(picked[h.id][0]) for h in result.hits
                                      if h.id in picked and picked[h.id][0].strip()))
        if len(queries) == 1:
            query, queries = queries[0], ()
    marks = {pid: set(t) for pid, (_, t) in picked.items()}
    groups: dict[str, list[tuple[int, Hit]]] = {}
    for pos, h in enumerate(result.hits):
        groups.setdefault(h.doc, []).append((pos, h))
    best = {doc: min((h.rank, pos) for pos, h in hs) for doc, hs in groups.items()}
    documents = []
    for doc in sorted(groups, key=best.__getitem__):
        hs = groups[doc]
        if order == "reading":
            hs = sorted(hs, key=lambda ph: (_ordinal(ph[1]), ph[0]))
        else:
            hs = sorted(hs, key=lambda ph: (ph[1].rank, ph[0]))
        passages = []
        last: tuple[str, ...] | None = None
        title_key = " ".join(hs[0][1].title.split()).casefold()
        for _, h in hs:
            path = tuple(_one_line(x) for x in h.heading_path)
            if path and " ".join(path[0].split()).casefold() == title_key:
                path = path[1:]  # a first heading that only repeats the title
            label = HEADING_SEP.join(path) or _one_line(h.section)
            heading = None
            if path != (last or ()):
                heading = label
            last = path
            prefix = _prefix(h)
            passages.append(AnnexPassage(
                id=h.id, ref=h.ref, rank=h.rank, heading=heading, section=label, text=h.text,
                matches=_matches(h.text, marks.get(h.id, terms)),
                symbol_citation=h.symbol_citation,
                file_citation=citation(h.doc, h.line_start, h.line_end, h.page, h.paragraph),
                also_in=tuple(_relative(c, prefix) for c in h.also_in),
                missing=tuple(_one_line(w) for w in h.missing_terms),
                fingerprint=h.fingerprint, changed=h.changed))
        first = hs[0][1]
        documents.append(AnnexDocument(doc=first.doc, title=_one_line(first.title),
                                       symbol=first.symbol, date=first.date,
                                       passages=tuple(passages)))
    if not title:
        title = _one_line(query) if query else default_title(result, chosen)
    return Annex(title=title, query=query or None,
                 typed_query=result.query if result.corrected_query else None,
                 filters=() if chosen else result.filters, when=now or dt.datetime.now(), order=order,
                 passages=len(result.hits), total=result.total, offset=result.offset,
                 documents=tuple(documents), queries=queries)


def _matches(text: str, terms: set[str]) -> tuple[tuple[int, int], ...]:
    from .search import term_spans

    return tuple(term_spans(text, terms)) if terms else ()


# --------------------------------------------------------------------------- Markdown


def _md_runs(runs: Sequence[Run]) -> str:
    return "".join(f"**{t}**" if bold else t for t, bold in runs)


def _md_quote(paragraphs: list[list[Run]]) -> str:
    lines: list[str] = []
    for i, runs in enumerate(paragraphs):
        if i:
            lines.append(">")
        for line in _md_runs(runs).split("\n"):
            lines.append("> " + line if line.strip() else ">")
    return "\n".join(lines)


def write_md(annex: Annex, out: IO[str]) -> None:
    """The annex in Markdown: ``#`` title, ``##`` per document, ``###`` per section,
    passages quoted as they are written (matched words in ``**bold**``)."""
    out.write(f"# {annex.title}\n\n")
    out.write("  \n".join(annex.lines) + "\n\n")
    for d in annex.documents:
        out.write(f"## {d.title}\n\n{d.meta}\n\n")
        for p in d.passages:
            if p.heading is not None:
                out.write(f"### {p.heading}\n\n")
            out.write(_md_quote(p.paragraphs()) + "\n\n")
            out.write(f"— {p.citation}\n\n")
            out.write(f"<!-- kb:passage {provenance_json(p.provenance)} -->\n\n")
            for note in p.notes:
                out.write(f"{note}\n\n")
    out.write(f"<!-- kb:annex {provenance_json(annex.provenance)} -->\n")


# --------------------------------------------------------------------------- HTML

_CSS = """body{font-family:Georgia,serif;max-width:50em;margin:2em auto;line-height:1.5;color:#222}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}
h3{font-size:1.05em;margin-bottom:.2em}.meta{color:#555;margin:.1em 0}.cite,.also{color:#555;font-size:.9em}
.cite{margin:0 0 1.2em}blockquote{margin:.3em 0 .3em;padding-left:1em;border-left:3px solid #ccc;
white-space:pre-wrap}blockquote p{margin:.2em 0}"""


def _html_runs(runs: Sequence[Run]) -> str:
    e = html.escape
    return "".join(f"<strong>{e(t)}</strong>" if bold else e(t) for t, bold in runs)


def write_html(annex: Annex, out: IO[str]) -> None:
    """The annex as one self-contained, escaped HTML page (same layout as the others)."""
    e = html.escape
    out.write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
    out.write(f"<title>{e(annex.title)}</title>\n<style>{_CSS}</style>\n")
    out.write(f"<meta name=\"kb-annex\" content=\"{e(provenance_json(annex.provenance))}\">\n"
              "</head><body>\n")
    out.write(f"<h1>{e(annex.title)}</h1>\n")
    for line in annex.lines:
        out.write(f"<p class=\"meta\">{e(line)}</p>\n")
    for d in annex.documents:
        out.write(f"<section class=\"doc\">\n<h2>{e(d.title)}</h2>\n"
                  f"<p class=\"meta\">{e(d.meta)}</p>\n")
        for p in d.passages:
            if p.heading is not None:
                out.write(f"<h3>{e(p.heading)}</h3>\n")
            paras = "".join(f"<p>{_html_runs(r)}</p>" for r in p.paragraphs())
            out.write(f"<blockquote id=\"{e(p.ref)}\" data-kb-passage=\""
                      f"{e(provenance_json(p.provenance))}\">{paras}</blockquote>\n")
            out.write(f"<p class=\"cite\">— {e(p.citation)}</p>\n")
            for note in p.notes:
                out.write(f"<p class=\"also\">{e(note)}</p>\n")
        out.write("</section>\n")
    out.write("</body></html>\n")


# --------------------------------------------------------------------------- Word

#: what XML 1.0 cannot hold (C0 controls but tab and newline, lone CR, surrogates,
#: U+FFFE/U+FFFF) and what Word shows as garbage (DEL, C1 controls)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]|\r(?!\n)")


def xml_safe(text: str) -> str:
    """Text a Word document can hold: CRLF as one line break; control characters
    shown as Unicode control pictures (``␛`` for ESC, as on the terminal,
    :func:`kb.render.safe`), other unusable characters as ``\\u....``."""
    from .render import _visible

    text = text.replace("\r\n", "\n")
    return _NOT_XML.sub(lambda m: _visible(m.group()), text)


#: grey for metadata lines and citations
_GREY = (0x59, 0x59, 0x59)


def write_docx(annex: Annex, out: IO[bytes]) -> None:
    """The annex as a Word document: Title, Heading 1 per document, Heading 2 per
    section (Word's own styles: the navigation pane lists them), passages as
    paragraphs with the matched words in bold, each citation under its passage."""
    import io

    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.shared import Pt, RGBColor
    from docx.text.paragraph import Paragraph

    x = xml_safe
    doc = Document()
    props = doc.core_properties
    props.title = x(annex.title)
    props.subject = x(annex.query or annex.title)
    props.author = "kb"
    props.last_modified_by = "kb"
    props.comments = ""
    props.created = props.modified = annex.when.astimezone(dt.timezone.utc).replace(tzinfo=None)

    styles = doc.styles
    normal = styles["Normal"]
    normal.font.size = Pt(11)
    normal.paragraph_format.space_after = Pt(6)

    def style(name: str, size: float, grey: bool, after: float) -> Any:
        st = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        st.base_style = normal
        st.font.size = Pt(size)
        if grey:
            st.font.color.rgb = RGBColor(*_GREY)
        st.paragraph_format.space_after = Pt(after)
        return st

    meta = style("Annex Meta", 10, True, 2)
    passage = style("Annex Passage", 11, False, 3)
    passage.paragraph_format.left_indent = Pt(12)
    cite = style("Annex Citation", 9, True, 12)
    cite.paragraph_format.left_indent = Pt(12)
    cite.paragraph_format.keep_together = True
    ids = {name: styles[name].style_id for name in ("Title", "Heading 1", "Heading 2")}
    ids.update((st.name, st.style_id) for st in (meta, passage, cite))

    # python-docx's add_paragraph() looks the style up by name and searches all of the
    # body for its closing w:sectPr each time: quadratic, minutes for a few thousand
    # passages.  Paragraphs are made here with the style's id, before the w:sectPr.
    body = doc.element.body
    end = body.sectPr

    def new_p(style_name: str) -> Any:
        """A new ``w:p`` element at the end of the body."""
        p = OxmlElement("w:p")
        if end is not None:
            end.addprevious(p)
        else:
            body.append(p)
        p.style = ids[style_name]
        return p

    def add(style_name: str, text: str, keep_with_next: bool = False) -> Any:
        """A new paragraph of one run, as a python-docx ``Paragraph``; ``keep_with_next``:
        on the same page as the paragraph after it (Word's "Keep with next")."""
        p = new_p(style_name)
        _docx_run(p, x(text), False)
        para = Paragraph(p, doc)
        if keep_with_next:
            para.paragraph_format.keep_with_next = True
        return para

    # Headings and the lines that introduce a passage keep with what follows, so that
    # none is left at the foot of a page with its passage on the next (set on each
    # paragraph, not only in the styles: Word's Heading styles have it, our own do not)
    add("Title", annex.title, keep_with_next=True)
    for line in annex.lines:
        add("Annex Meta", line, keep_with_next=True)
    for d in annex.documents:
        add("Heading 1", d.title, keep_with_next=True)
        add("Annex Meta", d.meta, keep_with_next=True).paragraph_format.space_after = Pt(8)
        for p in d.passages:
            if p.heading is not None:
                add("Heading 2", p.heading, keep_with_next=True)
            for runs in p.paragraphs():
                p_el = new_p("Annex Passage")
                Paragraph(p_el, doc).paragraph_format.keep_with_next = True
                for text, bold in runs:
                    _docx_run(p_el, x(text), bold)
            notes = p.notes
            # the citation keeps with its notes ("Also in: …") when it has some
            add("Annex Citation", f"— {p.citation}", keep_with_next=bool(notes))
            for note in notes[:-1]:
                add("Annex Citation", note, keep_with_next=True)
            if notes:
                add("Annex Citation", notes[-1])
    _docx_provenance(doc, annex)
    buf = io.BytesIO()
    doc.save(buf)
    out.write(buf.getvalue())


#: a custom property holds at most this many characters of the passages' provenance
_PROP_CHUNK = 30_000


def _docx_provenance(doc: Any, annex: Annex) -> None:
    """The provenance as the document's custom properties (File › Properties › Custom
    in Word): ``kb.annex`` (the annex), ``kb.passages.1``, ``kb.passages.2`` … (the
    passages' JSON list, in pieces)."""
    import json

    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from xml.sax.saxutils import escape

    passages = json.dumps([p.provenance for d in annex.documents for p in d.passages],
                          ensure_ascii=True, separators=(",", ":"))
    props = [("kb.annex", json.dumps(annex.provenance, ensure_ascii=True,
                                     separators=(",", ":")))]
    for k in range(0, max(len(passages), 1), _PROP_CHUNK):
        props.append((f"kb.passages.{k // _PROP_CHUNK + 1}", passages[k:k + _PROP_CHUNK]))
    fmtid = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
    items = "".join(
        f'<property fmtid="{fmtid}" pid="{i}" name="{escape(name)}">'
        f"<vt:lpwstr>{escape(value)}</vt:lpwstr></property>"
        for i, (name, value) in enumerate(props, start=2))
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
           'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/'
           f'2006/docPropsVTypes">{items}</Properties>')
    package = doc.part.package
    part = Part(PackURI("/docProps/custom.xml"),
                "application/vnd.openxmlformats-officedocument.custom-properties+xml",
                xml.encode("utf-8"), package)
    package.relate_to(part, RT.CUSTOM_PROPERTIES)


def _docx_run(p: Any, text: str, bold: bool) -> None:
    """Append a run to the ``w:p`` element ``p``: what python-docx's ``add_run(text)``
    and ``bold = True`` make (``w:br`` for a newline, ``w:tab`` for a tab), built
    with lxml directly, several times faster for the many runs of a large annex."""
    from docx.oxml.ns import qn
    from lxml import etree

    sub = etree.SubElement
    r = sub(p, qn("w:r"))
    if bold:
        sub(sub(r, qn("w:rPr")), qn("w:b"))
    for i, line in enumerate(text.split("\n")):
        if i:
            sub(r, qn("w:br"))
        for j, piece in enumerate(line.split("\t")):
            if j:
                sub(r, qn("w:tab"))
            if piece:
                t = sub(r, qn("w:t"))
                t.text = piece
                if piece != piece.strip():
                    t.set(qn("xml:space"), "preserve")


#: the annex writers, by export format name
WRITERS = {"md": write_md, "html": write_html, "docx": write_docx}
