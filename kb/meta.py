"""What a document says about itself: its UN symbol and its title.

Pure functions over text, shared by the readers (:mod:`kb.pdf`, :mod:`kb.docx`,
:mod:`kb.html`, :mod:`kb.parse`) and the search (:func:`symbol_query`).

**UN symbols** (``A/RES/73/148``, ``S/RES/2771 (2025)``, ``UNW/2025/1``,
``E/ICEF/2025/26``, ``ST/SGB/2003/13``, ``A/HRC/55/L.1``, ``CEDAW/C/GC/39``):
a series of capital letters, then parts separated by ``/``, at least one
digit, and for Security Council resolutions an optional year in brackets.
A symbol is only taken from a line that is the symbol *and nothing else*
(or "United Nations <symbol>", the masthead), near the top of the document:
never one quoted in the body text ("... the report (A/73/582)").

**Titles**: a candidate is refused when it is not meaningful (empty,
"untitled", a file name, "Microsoft Word - draft.docx", a symbol alone) or
when it is a line of an approval stamp ("APPROVED", "Executive Director",
"Approved by Order No. 2-D of 12 March 2024", "Signature: ...").
"""

from __future__ import annotations

import re

#: a symbol as printed: series letters, ``/``-separated parts, an optional "(2025)"
_SYMBOL_TEXT = (r"[A-Z][A-Z0-9]{0,9}(?:/[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]|/[A-Za-z0-9])+"
                r"(?:\s?\((?:\d{4}|[IVXL]{1,5})\))?")
_SYMBOL_LINE = re.compile(rf"(?:United\s+Nations\s+)?({_SYMBOL_TEXT})\*?")
_DIGIT = re.compile(r"\d")
#: a query that is a symbol, typed in any case, optionally quoted, with its year
_SYMBOL_QUERY = re.compile(
    r"\s*[\"']?\s*([A-Za-z][A-Za-z0-9]{0,9}(?:/[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*)+)"
    r"(?:\s*\(\s*(?:\d{4}|[IVXLivxl]{1,5})\s*\))?\s*[\"']?\s*")

#: how many non-empty lines from the top of a text a symbol line may stand on
TOP_LINES = 15


def symbol_of_line(line: str) -> str | None:
    """The UN symbol when ``line`` is one standing alone ("A/RES/73/148",
    "S/RES/2771 (2025)", "United Nations UNW/2025/1"), else None."""
    text = " ".join(line.split())
    if "/" not in text or len(text) > 80:
        return None
    m = _SYMBOL_LINE.fullmatch(text)
    if m is None:
        return None
    sym = m.group(1)
    base = sym.split("(")[0]
    if not _DIGIT.search(base) or base.endswith((".", "-")):
        return None
    return sym


def find_symbol(lines: list[str], top: int = TOP_LINES) -> str | None:
    """The first symbol standing alone on one of the first ``top`` non-empty lines."""
    seen = 0
    for line in lines:
        if not line.strip():
            continue
        sym = symbol_of_line(line)
        if sym is not None:
            return sym
        seen += 1
        if seen >= top:
            break
    return None


def symbol_base(symbol: str) -> str:
    """The symbol without its year: ``S/RES/2771 (2025)`` -> ``S/RES/2771``."""
    return symbol.split("(")[0].strip()


def symbol_query(text: str) -> str | None:
    """When a whole query is a UN symbol (``e/icef/2025/26``, ``S/RES/2771 (2025)``,
    in any case, quoted or not), the symbol as it is indexed: capitals, no year;
    else None.  Costs a substring test for a query without ``/``."""
    if "/" not in text:
        return None
    m = _SYMBOL_QUERY.fullmatch(text)
    if m is None:
        return None
    sym = m.group(1)
    if not _DIGIT.search(sym):
        return None
    return sym.upper()


# --------------------------------------------------------------------------
# titles

_BAD_TITLES = re.compile(
    r"^(?:untitled|document\d*|title|new document|microsoft (?:word|powerpoint|excel)\b.*|"
    r".*\.(?:docx?|pdf|rtf|odt|indd|qxd|tmp|html?|txt|md))$", re.I)

#: lines of an approval stamp (never a title)
_STAMP = re.compile(
    r"^(?:approved|agreed|endorsed|adopted|signed|certified|validated|authori[sz]ed|"
    r"issued|confirmed)(?:\s+(?:by|on))?\s*:?$"                       # "APPROVED", "Approved by:"
    r"|^approved\s+(?:by|on|at|with)\b"                              # "Approved by Order No. 2-D"
    r"|\b(?:order|decree|decision|protocol|minutes)\s+(?:no|n[°º]|#)\.?\s*\S"
    r"|^(?:signature|signed|date|ref(?:erence)?|effective(?:\s+date)?|version|"
    r"approval date|entry into force)\s*[:.]"
    r"|^[_.\s]{5,}$"
    r"|^(?:the\s+)?(?:acting\s+|deputy\s+|interim\s+)?(?:executive|managing|regional|country|"
    r"general)?\s*director(?:[-\s]general)?$", re.I)
_STAMP_START = re.compile(
    r"^(?:approved|agreed|endorsed|adopted|certified|validated|authori[sz]ed)"
    r"(?:\s+(?:by|on))?\s*:?$", re.I)


def is_stamp_line(text: str) -> bool:
    """A line of an approval stamp or signature block (never a title)."""
    return bool(_STAMP.search(" ".join(text.split())))


def is_stamp_start(text: str) -> bool:
    """A line that opens an approval stamp: "APPROVED", "Approved by:", "ENDORSED"."""
    return bool(_STAMP_START.match(" ".join(text.split())))


def meaningful_title(title: str | None, doc_id: str = "") -> bool:
    """Is ``title`` (a metadata title, a heading) a title a reader would recognise?"""
    t = " ".join((title or "").split())
    if len(t) < 4 or not re.search(r"[^\W\d_]{3}", t):
        return False
    if _BAD_TITLES.match(t) or symbol_of_line(t) is not None or is_stamp_line(t):
        return False
    name = doc_id.rsplit("/", 1)[-1]
    return not (name and (t == name or t == name.rsplit(".", 1)[0]))


_SITE_SEP = re.compile(r"\s+(?:\||–|—|::|·|»|-)\s+")


def page_title(title: str) -> tuple[str, list[str]]:
    """An HTML ``<title>`` without the site's name: ``Policy on X | UN Women`` ->
    (``Policy on X``, [``UN Women``]).  Only the parts after the first one are
    dropped, and only when the first is at least as long as each of them (``UN
    Women | Policy on X`` is left whole: which part names the site is not clear)."""
    t = " ".join(title.split())
    parts = _SITE_SEP.split(t)
    if len(parts) < 2:
        return t, []
    head, rest = parts[0], parts[1:]
    if all(len(head) >= len(r) and len(r.split()) <= 6 for r in rest):
        return head, rest
    return t, []
