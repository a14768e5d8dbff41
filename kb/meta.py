"""What a document says about itself: its UN symbol and its title.

Pure functions over text, shared by the readers (:mod:`kb.pdf`, :mod:`kb.docx`,
:mod:`kb.html`, :mod:`kb.parse`) and the search (:func:`symbol_query`).

**UN symbols** (``A/RES/73/148``, ``S/RES/2771 (2025)``, ``UNW/2025/1``,
``E/ICEF/2025/26``, ``ST/SGB/2003/13``, ``A/HRC/55/L.1``, ``CEDAW/C/GC/39``):
a series of capital letters, then parts separated by ``/``, at least one
digit, and for Security Council resolutions an optional year in brackets.
A symbol is only taken from a line that is the symbol *and nothing else*
(or "United Nations <symbol>", the masthead), near the top of the document:
never one quoted in the body text ("... the report (A/73/582)").  A document
that prints none takes the symbol its file name has the form of
(:func:`symbol_of_filename`: ``A_RES_74_258.txt`` -> ``A/RES/74/258``).

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
    r"(?:\s+[A-Ea-e](?:-[A-Ea-e])?)?"  # the part of a resolution: "A/RES/48/218 B"
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
    """The symbol without its year and the letter of its part: ``S/RES/2771 (2025)`` ->
    ``S/RES/2771``, ``A/RES/48/218 B`` -> ``A/RES/48/218``."""
    return re.sub(r"\s+[A-E](?:-[A-E])?$", "", symbol.split("(")[0].strip())


def symbol_query(text: str) -> str | None:
    """When a whole query is a UN symbol (``e/icef/2025/26``, ``S/RES/2771 (2025)``,
    ``a/res/48/218 b``, in any case, quoted or not), the symbol as it is indexed:
    capitals, no year, no part letter; else None.  Costs a substring test for a query
    without ``/``."""
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
# symbols from file names

#: the first element of a UN document symbol (its series: the organ or body that
#: issues the document); a file name is read as a symbol only when it starts with one
SERIES = frozenset(
    """A S E T ST SG CD TD DP UNEP ECE HSP FCCC UNW CEDAW CRC CCPR CERD CAT CMW CRPD CED HRI
    ICCD ISBA SPLOS WFP UNAIDS LC PBC IDB JIU NPT CCW APLC BWC ATT CTOC CAC EC UNDP UNFPA
    UNICEF UNHCR UNCTAD ESCAP ECA ESCWA ECLAC""".split())
#: parts of a symbol written in lower case after a capital: "Rev.20", "Add.1", "Res.6"
_SUFFIX_PART = re.compile(r"(?i)(rev|add|corr|amend|res|dec|sum|inf|misc)\.(\w+)")
_SUFFIX_CASE = {"rev": "Rev", "add": "Add", "corr": "Corr", "amend": "Amend", "res": "Res",
                "dec": "Dec", "sum": "Sum", "inf": "Inf", "misc": "Misc"}
_NAME_PART = re.compile(r"[A-Z0-9][A-Z0-9.\-]*")
#: "(2000)", "(XII)", "(S-V)": a Security Council year or a General Assembly session
_NAME_YEAR = re.compile(r"^(.*?)_?\s*\(((?:\d{4}|(?:E?S-)?[IVXLC]{1,7}))\)$")
#: a language suffix of a file name: "E_ICEF_2025_26.en", "A_RES_74_258-EN"
_NAME_LANG = re.compile(r"(?:[._-](?:en|fr|es|ar|ru|zh)|[.-](?:EN|FR|ES|AR|RU|ZH))$")
_NAME_EXT = re.compile(r"\.(?:txt|md|markdown|pdf|docx|html?|text)$", re.I)


def symbol_of_filename(doc_id: str) -> str | None:
    """The UN symbol a file name has the form of, else None.

    The name (extension and a language suffix such as ``.en`` dropped) is the
    symbol with ``/`` written as ``_``: ``A_RES_74_258.txt`` -> ``A/RES/74/258``,
    ``S_RES_1325(2000).txt`` -> ``S/RES/1325 (2000)``, ``E_ICEF_2025_26.en.pdf`` ->
    ``E/ICEF/2025/26``, ``A_520_REV.20.txt`` -> ``A/520/Rev.20``, ``A_RES_48_218_B.txt``
    -> ``A/RES/48/218 B``.  It must start with a UN series (:data:`SERIES`: ``A``,
    ``S``, ``E``, ``ST``, ``UNEP`` ...), have at least two parts and a digit, and be
    written in capitals (but for "Rev.", "Add.", "Corr.", "Res." and the like):
    ``report_2022.txt``, ``IMG_2034.pdf`` and ``Annual_Report_2024.docx`` are not symbols.
    """
    name = doc_id.rsplit("/", 1)[-1].strip()
    name = _NAME_EXT.sub("", name)
    name = _NAME_LANG.sub("", name).strip()
    # "ECE_NICOSIA._CONF_2022_2" (a space once stood there), "ECE_TRANS__WP.30": one "/"
    name = name.replace("._", ".").replace("__", "_")
    year = ""
    m = _NAME_YEAR.match(name)
    if m:
        name, year = m.group(1).rstrip("_ "), f" ({m.group(2)})"
    parts = name.split("_")
    if len(parts) < 2 or parts[0] not in SERIES:
        return None
    out: list[str] = []
    for k, part in enumerate(parts):
        part = _SUFFIX_PART.sub(lambda s: f"{_SUFFIX_CASE[s.group(1).lower()]}.{s.group(2)}", part)
        if not _NAME_PART.fullmatch(_SUFFIX_PART.sub("X", part)):
            return None
        if k and re.fullmatch(r"[A-E](?:-[A-E])?", part) and out and out[-1][-1].isdigit():
            out[-1] += f" {part}"  # "A_RES_48_218_B": A/RES/48/218 B
            continue
        m2 = re.fullmatch(r"(\d+)([A-E])", part)
        if k == len(parts) - 1 and k >= 2 and m2:
            part = f"{m2.group(1)} {m2.group(2)}"  # "A_RES_61_267B": A/RES/61/267 B
        out.append(part)
    if len(out) < 2 or not _DIGIT.search("".join(out[1:]) + year):
        return None
    return "/".join(out) + year


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
