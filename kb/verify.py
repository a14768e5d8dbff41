"""``kb verify ANNEX``: is what an annex quotes still what the folder says?

Parts:

* :func:`read_annex` — an annex kb wrote (docx, md, html, json, jsonl, csv) read back
  as :class:`Cited` passages: the text the annex quotes now, and the provenance kb
  wrote with it (passage id, content fingerprint, citation: docx custom properties,
  comments in md, ``data-kb-passage`` attributes in html, fields in json and csv).
  An annex edited by hand still reads: a passage without provenance is known by
  its printed citation, a quote without a citation is left out (and counted).
* :func:`verify` — each cited passage checked against the index as it is now:
  **unchanged**, **moved** (the same text elsewhere: its new citation), **changed**
  (the place cited holds other text: a word-level diff of the annex's quote against
  the source) or **gone**; and **edited** when the source is as exported but the
  annex's own text was changed by hand (what differs).

Pure but for :func:`verify`, which asks a :class:`kb.refs.Resolver`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import KbError, PassageNotFound
from .models import Passage, citation, fingerprint

from .refs import closest

if TYPE_CHECKING:
    from .refs import Resolver

__all__ = ["Cited", "Annexed", "Verdict", "read_annex", "verify", "word_diff"]

FORMATS = ("docx", "md", "html", "json", "jsonl", "csv")
_SUFFIX = {".docx": "docx", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass(frozen=True, slots=True)
class Cited:
    """A passage an annex quotes."""

    text: str  #: the annex's quote, as it reads now (bold marks removed)
    citation: str = ""  #: as printed under it (symbol citation — file citation)
    id: str | None = None  #: provenance: the passage id
    fingerprint: str | None = None  #: provenance: what it said when exported
    file_citation: str | None = None  #: provenance: the file citation


@dataclass(frozen=True, slots=True)
class Annexed:
    """An annex read back."""

    path: str
    format: str
    passages: tuple[Cited, ...]
    provenance: bool  #: kb's machine-readable provenance was found
    title: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One cited passage, checked."""

    status: str  #: unchanged, moved, changed, gone, edited
    cited: str  #: how the annex cites it
    detail: str = ""  #: moved: the new citation; changed/edited: the word diff; gone: why
    now: str | None = None  #: the citation of what stands there now
    id: str | None = None  #: the passage id it was exported from (or found by)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "cited": self.cited, "detail": self.detail,
                "now": self.now, "id": self.id}


@dataclass(slots=True)
class Report:
    path: str
    verdicts: list[Verdict] = field(default_factory=list)
    #: quotes found without a citation kb could read (hand edits): not checked
    unread: int = 0

    @property
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("unchanged", "moved", "changed", "edited", "gone")}
        for v in self.verdicts:
            out[v.status] += 1
        return out

    @property
    def ok(self) -> bool:
        return all(v.status == "unchanged" for v in self.verdicts) and not self.unread

    def summary(self) -> str:
        c = self.counts
        n = len(self.verdicts)
        parts = [f"{c[k]} {k}" for k in ("unchanged", "moved", "changed", "edited", "gone")
                 if c[k] or k == "unchanged"]
        tail = f"; {self.unread} quote{'s' * (self.unread != 1)} without a citation not " \
               "checked" if self.unread else ""
        return f"{n} passage{'s' * (n != 1)}: {', '.join(parts)}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {"annex": self.path, "ok": self.ok, "counts": self.counts,
                "unread": self.unread, "passages": [v.to_dict() for v in self.verdicts]}


# --------------------------------------------------------------------------
# reading annexes


def read_annex(path: Path, fmt: str | None = None) -> tuple[Annexed, int]:
    """The annex at ``path`` (its format from ``fmt`` or its extension) and how many of
    its quotes carry no citation kb could read.

    :raises KbError: not a file, not readable, not an annex kb wrote, or damaged.
    """
    fmt = fmt or _SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise KbError(f"{path}: cannot tell the annex's format from its name; give --format "
                      f"({', '.join(FORMATS)})")
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise KbError(f"{path} is a folder, not an annex") from None
    except OSError as e:
        raise KbError(f"cannot read {path}: {e.strerror or e}") from None
    if fmt == "docx":
        annexed, unread = _read_docx(path, data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise KbError(f"{path} is not a {fmt} annex kb wrote: it is not UTF-8 text") from None
        reader = {"md": _read_md, "html": _read_html, "json": _read_json,
                  "jsonl": _read_json, "csv": _read_csv}[fmt]
        annexed, unread = reader(path, text)
    if not annexed.passages:
        raise KbError(f"{path} holds no passage kb can check: is it an annex kb wrote "
                      f"(kb export … -o {path.name})?")
    return annexed, unread


def _strip_bold(text: str) -> str:
    return text.replace("**", "")


_MD_COMMENT = re.compile(r"<!--\s*kb:(annex|passage)\s+(\{.*?\})\s*-->")
_CITE_LINE = re.compile(r"^—\s+(.+)$")


def _provenance(raw: str) -> dict[str, Any] | None:
    try:
        d = json.loads(raw)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def _cited(text: str, cite: str, prov: dict[str, Any] | None) -> Cited:
    prov = prov or {}

    def s(key: str) -> str | None:
        v = prov.get(key)
        return v if isinstance(v, str) and v else None

    return Cited(text=text, citation=cite, id=s("id"), fingerprint=s("fingerprint"),
                 file_citation=s("file_citation"))


def _read_md(path: Path, text: str) -> tuple[Annexed, int]:
    """Quotes (``> `` lines), each followed by ``— citation`` and kb's
    ``<!-- kb:passage {...} -->`` comment."""
    lines = text.splitlines()
    out: list[Cited] = []
    unread = 0
    quote: list[str] | None = None
    found_prov = False
    title = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if not title and line.startswith("# "):
            title = line[2:].strip()
        if line.startswith(">"):
            block = []
            while i < len(lines) and lines[i].startswith(">"):
                block.append(lines[i][1:].removeprefix(" "))
                i += 1
            if quote is not None:
                unread += 1  # a quote with no citation after it
            quote = block
            continue
        m = _CITE_LINE.match(line.strip())
        if m and quote is not None:
            cite = m.group(1).strip()
            prov = None
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines):
                c = _MD_COMMENT.search(lines[j])
                if c and c.group(1) == "passage":
                    prov = _provenance(c.group(2))
                    found_prov = found_prov or prov is not None
            body = "\n".join(quote)
            paragraphs = re.split(r"\n\s*\n", body)
            out.append(_cited(_strip_bold("\n\n".join(p.strip() for p in paragraphs)), cite,
                              prov))
            quote = None
        i += 1
    if quote is not None:
        unread += 1
    return Annexed(str(path), "md", tuple(out), found_prov, title), unread


def _read_html(path: Path, text: str) -> tuple[Annexed, int]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    out: list[Cited] = []
    unread = 0
    found_prov = False
    title_el = tree.css_first("h1")
    for bq in tree.css("blockquote"):
        paras = [p.text(deep=True) for p in bq.css("p")] or [bq.text(deep=True)]
        body = "\n\n".join(paras)
        prov = _provenance(bq.attributes.get("data-kb-passage") or "")
        found_prov = found_prov or prov is not None
        cite = ""
        nxt = bq.next
        while nxt is not None and nxt.tag in ("-text",):
            nxt = nxt.next
        if nxt is not None and nxt.tag == "p" and "cite" in (nxt.attributes.get("class") or ""):
            cite = nxt.text(deep=True).strip().removeprefix("—").strip()
        if not cite and prov is None:
            unread += 1
            continue
        out.append(_cited(body, cite, prov))
    return Annexed(str(path), "html", tuple(out), found_prov,
                   title_el.text().strip() if title_el else ""), unread


def _read_json(path: Path, text: str) -> tuple[Annexed, int]:
    data: Any
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
        except ValueError:
            raise KbError(f"{path} is not an annex kb wrote: it is not JSON") from None
    results = data.get("results") if isinstance(data, dict) else data
    if not isinstance(results, list):
        raise KbError(f"{path} is not an annex kb wrote: no list of passages (\"results\")")
    out = []
    unread = 0
    for h in results:
        if not isinstance(h, dict) or not isinstance(h.get("text"), str):
            unread += 1
            continue
        cite = h.get("citation") if isinstance(h.get("citation"), str) else ""
        if not cite and not h.get("id"):
            unread += 1
            continue
        out.append(_cited(h["text"], cite, {"id": h.get("id"), "fingerprint": h.get("fingerprint"),
                                            "file_citation": h.get("citation")}))
    title = data.get("query", "") if isinstance(data, dict) else ""
    return Annexed(str(path), "json", tuple(out), any(c.fingerprint for c in out),
                   title if isinstance(title, str) else ""), unread


def _read_csv(path: Path, text: str) -> tuple[Annexed, int]:
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as e:
        raise KbError(f"{path} is not an annex kb wrote: {e}") from None
    if rows and "text" not in rows[0]:
        raise KbError(f"{path} is not an annex kb wrote: it has no \"text\" column")
    out = []
    unread = 0
    for r in rows:
        if not r.get("citation") and not r.get("id"):
            unread += 1
            continue
        out.append(_cited(_uncsv(r.get("text") or ""), _uncsv(r.get("citation") or ""),
                          {"id": _uncsv(r.get("id") or ""), "fingerprint": r.get("fingerprint"),
                           "file_citation": _uncsv(r.get("citation") or "")}))
    return Annexed(str(path), "csv", tuple(out), any(c.fingerprint for c in out)), unread


def _uncsv(value: str) -> str:
    """A cell as kb wrote it, without the quote that neutralises a formula."""
    return value[1:] if value.startswith("'") and value[1:2] in ("=", "+", "-", "@", "\t",
                                                                   "\r", ";") else value


def _read_docx(path: Path, data: bytes) -> tuple[Annexed, int]:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
        if "word/document.xml" not in names:
            raise KbError(f"{path} is not a Word document (no word/document.xml)")
        custom = z.read("docProps/custom.xml").decode("utf-8") \
            if "docProps/custom.xml" in names else ""
    except zipfile.BadZipFile:
        raise KbError(f"{path} is not a Word document kb wrote: it is damaged or not a "
                      ".docx") from None
    except KbError:
        raise
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        raise KbError(f"{path} is a damaged Word document ({e})") from None
    try:
        import docx

        d = docx.Document(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - python-docx fails in many ways on bad files
        raise KbError(f"{path} is a damaged Word document ({type(e).__name__})") from None
    provs = _docx_props(custom)
    by_cite: dict[str, list[dict[str, Any]]] = {}
    for p in provs:
        c = p.get("citation")
        if isinstance(c, str):
            by_cite.setdefault(c, []).append(p)
    out: list[Cited] = []
    unread = 0
    quote: list[str] = []
    title = ""
    for para in d.paragraphs:
        style = para.style.name if para.style is not None else ""
        if style == "Title" and not title:
            title = para.text
        if style == "Annex Passage":
            quote.append(para.text)
            continue
        if style == "Annex Citation" and para.text.startswith("—"):
            cite = para.text.removeprefix("—").strip()
            if quote:
                cands = by_cite.get(cite) or []
                prov = cands.pop(0) if cands else None
                out.append(_cited("\n\n".join(quote), cite, prov))
                quote = []
            continue
        if quote and style not in ("Annex Citation",):
            unread += 1
            quote = []
    if quote:
        unread += 1
    return Annexed(str(path), "docx", tuple(out), bool(provs), title), unread


def _docx_props(custom: str) -> list[dict[str, Any]]:
    """The passages' provenance from ``docProps/custom.xml`` (``kb.passages.N``)."""
    if not custom:
        return []
    from xml.etree import ElementTree as ET

    try:
        root = ET.fromstring(custom)
    except ET.ParseError:
        return []
    pieces: dict[int, str] = {}
    for prop in root:
        name = prop.get("name") or ""
        if name.startswith("kb.passages."):
            try:
                k = int(name.rsplit(".", 1)[1])
            except ValueError:
                continue
            pieces[k] = "".join(prop.itertext())
    try:
        data = json.loads("".join(pieces[k] for k in sorted(pieces)))
    except ValueError:
        return []
    return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else []


# --------------------------------------------------------------------------
# checking


def _norm(text: str) -> list[str]:
    return text.split()


def word_diff(old: str, new: str, width: int = 240) -> str:
    """``… [-Beta-] {+Alpha+} …``: the words of ``old`` (the annex's quote) replaced
    by those of ``new`` (the source now), with a few words of context, cut at
    ``width`` characters."""
    a, b = _norm(old), _norm(new)
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out: list[str] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            seg = a[i1:i2]
            if len(seg) > 6:
                seg = (seg[:3] if out else []) + ["…"] + seg[-3:]
            out += seg
            continue
        if i2 > i1:
            out.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            out.append("{+" + " ".join(b[j1:j2]) + "+}")
    text = " ".join(out)
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _same(a: str, b: str) -> bool:
    return fingerprint(a) == fingerprint(b)


def verify(annexed: Annexed, resolver: Resolver, prefix: str = "") -> Report:
    """Every passage of the annex checked against the index (see the module doc).

    :raises KbError: the annex cites none of the folder's documents (it was made from
        another folder).
    """
    report = Report(annexed.path)
    known_docs = 0
    for c in annexed.passages:
        v = _check(c, resolver, prefix)
        report.verdicts.append(v)
        if v.status != "gone" or (v.id and resolver._doc_for(v.id.rpartition("#")[0])):
            known_docs += 1
    if report.verdicts and not known_docs:
        raise KbError(f"{annexed.path} cites none of the documents in this folder: was it made "
                      "from another corpus? (give --corpus)")
    return report


def _cite(p: Passage, prefix: str) -> str:
    return citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, prefix)


def _check(c: Cited, res: Resolver, prefix: str) -> Verdict:
    label = c.citation or c.file_citation or c.id or "?"
    exported = c.fingerprint  # what the passage said when kb wrote the annex
    quote = c.text
    edited = exported is not None and fingerprint(quote) != exported
    # what the passage cited stands for: the exported text, else the quote itself
    pin = exported or fingerprint(quote)
    named = _named(c, res)
    if named is not None and named.fingerprint == pin:
        if edited:
            return Verdict("edited", label, word_diff(named.text, quote), _cite(named, prefix),
                           named.id)
        return Verdict("unchanged", label, "", _cite(named, prefix), named.id)
    elsewhere = res.by_fingerprint(pin)
    if elsewhere:
        p = elsewhere[0]
        note = f"now {_cite(p, prefix)} ({p.id})"
        if edited:
            note += "; the annex's text was also edited: " + word_diff(p.text, quote)
        return Verdict("moved", label, note, _cite(p, prefix), p.id)
    if named is not None:
        # the quote edited at its source: the passage most like it in the document,
        # wherever it moved; none alike: the text is gone (other text stands there)
        near = closest(quote, res._passages(named.doc))
        if near is not None:
            return Verdict("changed", label, word_diff(quote, near.text), _cite(near, prefix),
                           near.id)
        return Verdict("gone", label, f"no passage of the folder holds this text any more "
                       f"({_cite(named, prefix)} holds other text)", None, c.id)
    return Verdict("gone", label, "no passage of the folder holds this text or stands at "
                   "this place any more", None, c.id)


def _named(c: Cited, res: Resolver) -> Passage | None:
    """What stands now where the annex cites (its id, else its citations)."""
    for ref in (c.id, c.file_citation, _file_part(c.citation), c.citation):
        if not ref:
            continue
        try:
            ps = res.resolve(ref)
        except (PassageNotFound, KbError):
            continue
        if ps:
            return ps[0]
    return None


def _file_part(cite: str) -> str | None:
    """The file citation of ``A/RES/74/258, ¶ 10 — A_RES_74_258.txt:33 ¶ 10``."""
    if " — " in cite:
        return cite.rsplit(" — ", 1)[1].strip()
    return None
