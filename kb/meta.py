"""What a document says about itself: its UN symbol, its date and its title.

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

**Dates** (:func:`document_date`): the UN forms of a document's date (the
adoption line, the masthead's date line, the lines that close a resolution, a
session's dates), never a date quoted in the body; :func:`date_note` says why a
document has none.

**Titles**: a candidate is refused when it is not meaningful (empty,
"untitled", "Word Document", a file name, "Microsoft Word - draft.docx", a
symbol alone), when it is a line of an approval stamp ("APPROVED", "Executive
Director", "Approved by Order No. 2-D of 12 March 2024", "Signature: ...") or
UN front matter (:func:`is_front_matter`: "Item 5 of the provisional agenda*",
"Resolution adopted by the General Assembly on 20 December 2013", "Distr.:
General").  :func:`front_title` reads the title of a UN masthead.

All of it is regular expressions over short strings: importing this module
costs nothing (no third-party import).
"""

from __future__ import annotations

import datetime as _dt
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
# dates

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I)
_DATE_MDY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def find_date(text: str) -> str | None:
    """The first date written in ``text``, as ``YYYY-MM-DD``, or None."""
    found = _dates(text, first=True)
    return min(found)[1] if found else None


def _dates(text: str, first: bool = False) -> list[tuple[int, str]]:
    """``(offset, YYYY-MM-DD)`` of the dates written in ``text`` ("26 May 2022", "May
    26, 2022", "2022-05-26"); with ``first``, only the first of each form."""
    found: list[tuple[int, str]] = []
    for rx, order in ((_DATE_DMY, "dmy"), (_DATE_MDY, "mdy"), (_DATE_ISO, "ymd")):
        for m in rx.finditer(text):
            a, b, c = m.groups()
            try:
                if order == "dmy":
                    d = _dt.date(int(c), _MONTHS[b.lower()], int(a))
                elif order == "mdy":
                    d = _dt.date(int(c), _MONTHS[a.lower()], int(b))
                else:
                    d = _dt.date(int(a), int(b), int(c))
            except (ValueError, KeyError):
                continue
            found.append((m.start(), d.isoformat()))
            if first:
                break
    return found


_PERIOD_BEFORE = re.compile(r"\b(?:from|since|until|till|through|between|period|to)\s+$", re.I)
_PERIOD_AFTER = re.compile(r"^\s*(?:to|until|till|and|[–—-])\s", re.I)


def first_date(text: str) -> str | None:
    """The first date written in ``text`` that is not one end of a period ("for the
    period from 1 July 2025 to 30 June 2026"), or None; but the last day of a meeting
    that was held ("held in Paris from 30 November to 13 December 2015") is a date."""
    for off, iso in sorted(_dates(text)):
        if _in_period(text, off):
            if _PERIOD_AFTER.match(text[_date_end(text, off):]) is None and \
                    re.search(r"\bheld\b", text[max(0, off - 80):off], re.I):
                return iso
            continue
        return iso
    return None


def _date_end(text: str, off: int) -> int:
    m = _DATE_DMY.match(text, off) or _DATE_MDY.match(text, off) or _DATE_ISO.match(text, off)
    return m.end() if m else off


def _in_period(text: str, off: int) -> bool:
    """Is the date at ``off`` one end of a period ("from ... to ...", "... until ...")?"""
    return bool(_PERIOD_BEFORE.search(text[max(0, off - 12):off])
                or _PERIOD_AFTER.match(text[_date_end(text, off):]))


def is_date_line(text: str) -> bool:
    """A short line that is essentially a date ("26 May 2022", "New York, 26 May 2022")."""
    return len(text.split()) <= 8 and find_date(text) is not None


_GENERIC_WORDS = frozenset(
    """event report summary meeting note notes concept press release draft minutes agenda
    briefing paper final internal confidential for official use only restricted unedited
    advance copy version of the and information statement fact sheet policy brief update
    newsletter document memo memorandum annex executive""".split()
)
def is_generic_label(text: str) -> bool:
    """"EVENT REPORT SUMMARY", "CONCEPT NOTE", "Press release": labels, not titles."""
    words = re.findall(r"[A-Za-z]+", text)
    if not words or len(words) > 6:
        return False
    if not (text.isupper() or len(words) >= 2):
        return False  # a lone "Summary" or "Update" is a heading, "SUMMARY" a label
    return all(w.lower() in _GENERIC_WORDS for w in words)


#: how many non-empty lines from the top an adoption or masthead date line may stand on
DATE_TOP_LINES = 40

#: "Resolution adopted by the General Assembly on 19 December 2023", "Adopted by the
#: Security Council at its 4213th meeting, on 31 October 2000", "At the 34th meeting,
#: held on 1 October 2010, the President ...": the line that says when it was adopted
_ADOPTION = re.compile(
    r"^\[?(?:(?:draft\s+)?(?:resolutions?|decisions?|declaration|statement|conclusions)\s+)?"
    r"adopted\b(?:(?!\b(?:recall|see|resolution \d)).){0,160}?\bon\s+$"
    r"|^at\s+(?:the|its)\s+[\w-]+\s+(?:plenary\s+)?meeting\b[^.;]{0,80}?\bheld\s+on\s+$",
    re.I)
#: a masthead's date line: the date alone, or after "Distr.: General" or a place
#: ("14 July 1997", "Distr.: General 14 July 1997", "New York, 26 May 2022")
_DATE_LINE_REST = re.compile(
    r"^(?:distr(?:ibution)?\.?\s*:?\s*)?(?:general|limited|restricted)?\s*"
    r"(?:(?:date|dated|issued)\s*:?\s*)?(?:[A-Z][\w.'’ -]{0,30},\s*)?$", re.I)
#: the line that closes a resolution: "79th plenary meeting", "Seventeenth plenary
#: meeting, 24 January 1946.", "37th meeting" (the date on it or on the next line)
_MEETING_LINE = re.compile(
    r"^(?:\d{1,4}(?:st|nd|rd|th)|[A-Z][a-z]+(?:-[a-z]+)?)\s+(?-i:(?:plenary\s+)?meeting)\b[.,]?",
    re.I)


def _adoption_date(line: str) -> str | None:
    for off, iso in _dates(line):
        if _ADOPTION.search(line[:off]):
            return iso
    return None


def masthead_date(line: str) -> str | None:
    """The date of a masthead date line ("14 July 1997", "Distr.: General 14 July 1997",
    "New York, 26 May 2022"): one date and nothing else but a "Distr." label or a
    place; never a range of days ("30 March–3 April 2009" is a session's)."""
    t = " ".join(line.split()).strip("*. ")
    if len(t) > 60:
        return None
    found = _dates(t)
    if len(found) != 1:
        return None
    off, iso = found[0]
    head = t[:off]
    tail = t[off:]
    m = _DATE_DMY.match(tail) or _DATE_MDY.match(tail) or _DATE_ISO.match(tail)
    rest = tail[m.end():].strip(" .*") if m else tail
    if rest or re.search(r"[\d–—-]\s*$", head):
        return None
    return iso if _DATE_LINE_REST.match(head) else None


def document_date(lines: list[str]) -> tuple[str | None, str]:
    """The date of a document from its text lines (non-empty, in order), by the UN
    forms, and the form that gave it: ``("2023-12-19", "adoption")``; ``(None, "")``.

    1. an **adoption line** among the first :data:`DATE_TOP_LINES` lines
       ("Resolution adopted by the General Assembly on 19 December 2023", "Adopted by
       the Security Council at its 4213th meeting, on 31 October 2000", "At the 34th
       meeting, held on 1 October 2010, ...");
    2. above the first line of prose: the **masthead's date line** ("14 July 1997"
       under the symbol, "Distr.: General 14 July 1997"), or a letter's title
       ("Letter dated 24 May 2011 from ...");
    3. a masthead footnote "Reissued for technical reasons on 15 September 2022";
    4. the lines that **close a resolution**: "79th plenary meeting" with "20 December
       2002" on it or on the next line, or an adoption line among the last lines
       ("Adopted at ... at its 1st plenary meeting, on 15 July 2021");
    5. the dates of a **session** on a short line above the prose ("Nairobi, 30
       March–3 April 2009", "4-8 April 2005"): the last one.

    A date quoted in the body ("Recalling its resolution 3182 (XXVIII) of 18 December
    1973") is none of these.
    """
    top = [" ".join(t.split()) for t in lines[:DATE_TOP_LINES]]
    for k, line in enumerate(top):
        if "dopted" in line or line[:3].lower() == "at ":
            iso = _adoption_date(line)
            if iso is None and k + 1 < len(top) and len(line) < 200:
                iso = _adoption_date(f"{line} {top[k + 1]}")
            if iso:
                return iso, "adoption"
    front: list[str] = []  # the lines above the first line of prose
    for line in top:
        m = _LETTER_DATED.match(line)
        if m:
            iso = find_date(line[m.end():m.end() + 40])
            if iso:
                return iso, "letter"
        if _is_prose_block(line):
            break
        front.append(line)
        iso = masthead_date(line)
        if iso:
            return iso, "masthead"
    for line in top:
        m = _REISSUED.match(line)
        if m:
            iso = find_date(line[m.end():])
            if iso:
                return iso, "reissued"
    for k, line in enumerate(lines):
        if "eeting" not in line or len(line) > 80:
            continue
        t = " ".join(line.split())
        m = _MEETING_LINE.match(t)
        if not m:
            continue
        iso = masthead_date(t[m.end():]) if t[m.end():].strip(" .,") else None
        if iso is None and k + 1 < len(lines):
            iso = masthead_date(lines[k + 1])
        if iso:
            return iso, "closing"
    last = len(lines) - 12
    for k in range(max(last, DATE_TOP_LINES, 0), len(lines)):
        if "dopted" in lines[k]:
            iso = _adoption_date(" ".join(" ".join(lines[k:k + 4]).split()))
            if iso:
                return iso, "closing"
    for line in front:
        if len(line.split()) <= 10:
            found = _dates(line)
            if found:
                return max(found)[1], "session"
    return None, ""


#: "Letter dated 24 May 2011 from ...", "Identical letters dated ...", "Note verbale dated"
_LETTER_DATED = re.compile(r"^(?:identical\s+)?(?:letters?|note\s+verbale)\s+dated\s+", re.I)
#: "* Reissued for technical reasons on 15 September 2022."
_REISSUED = re.compile(r"^[*•-]?\s*reissued\b.{0,60}?\bon\s+", re.I)


def date_note(lines: list[tuple[str, str]]) -> str:
    """Why no date was found, in one line, from ``(place, text)`` pairs ("line 87",
    "p. 3"): where the first date written is, or that there is none."""
    for place, text in lines:
        found = _dates(text, first=True)
        if found:
            off, iso = min(found)
            where = ("ends a period (\"from ... to ...\")" if _in_period(text, off)
                     else "is in the text")
            return (f"no adoption line, masthead date or closing meeting line near the top or "
                    f"end; the first date written ({iso}, {place}) {where}")
    return "no date written in the text"


# --------------------------------------------------------------------------
# titles

_BAD_TITLES = re.compile(
    r"^(?:untitled|document\d*|title|new document|word document|contents|page|"
    r"microsoft (?:word|powerpoint|excel)\b.*|"
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
    """Is ``title`` (a metadata title, a heading) a title a reader would recognise?
    Never UN front matter (:func:`is_front_matter`: a session, agenda, adoption or
    distribution line)."""
    t = " ".join((title or "").split())
    if len(t) < 4 or not re.search(r"[^\W\d_]{3}", t):
        return False
    if _BAD_TITLES.match(t) or symbol_of_line(t) is not None or is_stamp_line(t):
        return False
    if is_front_matter(t):
        return False
    name = doc_id.rsplit("/", 1)[-1]
    return not (name and (t == name or t == name.rsplit(".", 1)[0]))


# --------------------------------------------------------------------------
# UN front matter: the lines above a UN document's title

_LANGUAGES = "english|french|spanish|russian|arabic|chinese"
#: masthead, session, agenda, adoption, distribution and meeting lines (never a title,
#: never a heading): "Seventy-ninth session", "Agenda item 29", "Item 5 of the
#: provisional agenda*", "Resolution adopted by the General Assembly on 20 December
#: 2013", "Distr.: General 14 July 1997", "[on the report of the Third Committee
#: (A/73/582)]", "106th plenary meeting", "UNITED NATIONS", "Original: English"
_FRONT = re.compile(
    r"^(?:(?:[\w-]+\s+)?(?:special\s+|regular\s+|resumed\s+|annual\s+|emergency\s+"
    r"|organizational\s+|substantive\s+)?session(?:,?\s+\S+)?(?:\s+of\s+the\s+.{0,60})?"
    r"|(?:general assembly|security council|economic and social council|trusteeship council)"
    r"(?:\s*[—–-]\s*.{0,40}session)?"
    r"|\d{1,4}\s+general assembly\s*[—–-].{0,40}session"
    r"|(?:provisional\s+)?agenda\s+(?:items?\s+)?[\d\s,()a-z-]{0,40}(?:and\s+[\d\s()a-z]{1,10})?"
    r"|items?\s+\d+[\d\s,()a-z-]{0,20}\s+of\s+the\s+(?:revised\s+)?(?:provisional\s+)?agenda\d{0,2}"
    r"|united|nations|united\s+nations|general|limited|restricted|distr\.?"
    r"|.{0,60}\bdistr(?:ibution)?\.?\s*:?\s*(?:general|limited|restricted)\b.{0,40}"
    rf"|(?:original\s*:\s*)?(?:{_LANGUAGES})(?:\s*(?:,|/|and)\s*(?:{_LANGUAGES}))*(?:\s+only)?"
    r"|original\s*:\s*\w+"
    r"|\[.*\]"
    r"|(?:\d{1,4}(?:st|nd|rd|th)|[A-Z][a-z]+(?:-[a-z]+)?)\s+(?-i:(?:plenary\s+)?meeting)\b.{0,80}"
    r"|\d{1,4}|page\s+\d{1,4}|paragraphs\s+page"
    r"|official\s+records\b.{0,30}|supplement\s+no\.?\s*\d+.{0,20}|united\s+nations\s+publication"
    r"|sales\s+no\..{0,30}|e?-?isbn\b.{0,40}|e?-?issn\b.{0,30}"
    r"|united\s+nations\s*[·•,]\s*new\s+york.{0,10}"
    r"|new\s+york,?\s+\d{4}"
    r")\W{0,3}$", re.I)
#: a line that says the document was adopted (starts with a capital: "Resolution
#: adopted by ...", "Adopted by the Security Council at ...", "VI. Resolutions adopted on
#: the reports of the Third Committee", "RESOLUTION ADOPTED BY THE GENERAL ASSEMBLY")
_ADOPTED_LINE = re.compile(
    r"^(?:[IVXL]{1,5}\.\s+)?\[?(?=(?-i:[A-Z]))(?:(?:draft\s+)?(?:resolutions?|decisions?)"
    r"(?:\s+and\s+decisions?)?\s+)?adopted\b", re.I)


def is_front_matter(text: str) -> bool:
    """UN front matter, never a title or a heading: a masthead, session, agenda,
    adoption, distribution or closing meeting line ("Seventy-ninth session", "Item 5
    of the provisional agenda*", "Resolution adopted by the General Assembly on 20
    December 2013", "Distr.: General 14 July 1997", "106th plenary meeting")."""
    t = " ".join(text.split())
    return bool(_FRONT.match(t) or _ADOPTED_LINE.match(t))


#: the kind of document, printed under its title ("Report of the Secretary-General",
#: "Note by the secretariat"): the title when there is nothing else
_DOC_TYPE = re.compile(
    r"^(?:(?:report|note|statement|letter)\s+(?:of|by)\s+the\s+(?:secretary-general|"
    r"executive\s+director|secretariat|president(?:\s+of\s+the\s+[\w ]{3,40})?|"
    r"director-general|administrator|high\s+commissioner|bureau|chair(?:person)?)"
    r"|(?:secretary-general|president)[’']s\s+(?:bulletin|statement)"
    r"|(?:addendum|corrigendum|revision)(?:\s+\d+)?|resolution|decision"
    r"|draft\s+(?:resolution|decision)"
    r"|summary|(?:provisional\s+)?summary\s+record|annex|note)\W{0,3}$", re.I)
#: where the front matter ends: a section heading that is not a title
_FRONT_END = re.compile(
    r"^(?:(?:table\s+of\s+)?contents(?:\s+(?:paragraphs?|pages?|chapters?))*|introduction|summary"
    r"|executive\s+summary|preface|foreword|background|abstract|(?:[IVX]{1,5}|[A-H])\.\s+\S.*"
    r"|(?:annex|appendix)(?:\s+[IVX\d]{1,5})?|(?:chapter|part)\s+(?:[\dIVX]{1,5}|one|two|three)\b.*"
    # a job number at the foot of a first page: "GE.02-70134", "25-10679 (E)"
    r"|(?:GE|NY|V)?\.?\d{2}-\d{4,6}\b.{0,30})\W{0,3}$",
    re.I)
#: words a wrapped line ends or the next one starts with ("... measures and" /
#: "proposals", "... from the President of the" / "Security Council ...")
_WRAP_WORDS = frozenset(
    """and or of the for on in to with by from at a an its their into against between under
    including addressed concerning regarding towards as""".split())
_PROSE_START = re.compile(
    r"^(?:the|we|i)\b[^,]{0,60},$|^\d{1,3}\.\s|^\(?[a-z]\)\s"
    r"|^[“\"]?(?-i:The)\s+(?:(?-i:[A-Z])[\w’'-]*\s+){0,7}"  # "The General Assembly"
    r"(?:assembly|council|commission|conference|board|committee|forum|parties|meeting)$", re.I)
_LETTER_TITLE = re.compile(r"^(?:identical\s+)?(?:letters?|note\s+verbale)\s+dated\b", re.I)


def _is_prose_block(text: str) -> bool:
    """A sentence, a lead-in or the opening of a resolution ("The General Assembly,"),
    "Opening of the session." (an agenda list), a numbered paragraph: not a title."""
    t = text.strip()
    words = len(t.split())
    if _LETTER_TITLE.match(t):
        return False
    return (words > 100 or (words > 40 and re.search(r"[a-z]{2}\. [A-Z]", t) is not None)
            or (t[-1:] in ".;,!?" and words > 1 and not re.search(r"\b(?:No|Rev|Add|Corr)\.$", t))
            or (words > 3 and t[-1:] == ":") or bool(_PROSE_START.match(t)))


def wraps(a: str, b: str, caps: bool = True) -> bool:
    """Does line ``b`` continue line ``a`` (a title wrapped over two lines)?  ``a`` ends
    with a word such as "and", "of the", or a comma; ``b`` starts in lower case or with
    such a word; or both are in capitals (a title set in capitals over several lines)."""
    if not a or not b or len(a) + len(b) > 400:
        return False
    last = a.split()[-1].lower().strip("“”\"'")
    first = b.split()[0].lower()
    return (last in _WRAP_WORDS or a[-1] in ",:;-–" or b[0].islower() or
            (first in _WRAP_WORDS and first not in ("a", "an", "the") and b.isupper()) or
            first in ("concerning", "regarding", "including", "relating", "addressed") or
            (caps and a.isupper() and b.isupper() and len(b.split()) > 1))


def front_title(blocks: list[str | None]) -> tuple[str, list[int]] | None:
    """A UN document's title among its first blocks (each a paragraph's text, None
    for a list or a table), and the indices of the blocks it is made of; else None.

    The front matter is read down to the first prose (a sentence, "The General
    Assembly,", a numbered paragraph, a list or a table) or a section heading
    ("Contents", "Introduction", "I. ..."): lines wrapped over two blocks are joined
    ("United Nations reform: measures and" / "proposals"; "Letter dated ... from the
    President of the" / "Security Council ..."); masthead, session, agenda, adoption,
    distribution and date lines are skipped (:func:`is_front_matter`), and so is what
    stands above a session or agenda line (the body's name, "Human Rights Council").
    The title is the last line left before the document's kind ("Report of the
    Secretary-General", "Note by the secretariat") or the prose: below an agenda item
    (whose title comes first) stands the document's own.  When only the kind is left
    it is the title ("Statement by the President of the Security Council").
    """
    lines: list[tuple[str, list[int]]] = []
    for k, b in enumerate(blocks[:30]):
        if b is None:
            break
        t = " ".join(b.split())
        if not t:
            continue
        if t[:2] in ("- ", "* ", "• ") and len(t.split()) <= 12:
            continue  # a footnote set as a list item ("* E/CN.9/2016/1.")
        letter = bool(_LETTER_TITLE.match(t))
        plain = not (is_front_matter(t) or (is_date_line(t) and not letter) or symbol_of_line(t)
                     or _DOC_TYPE.match(t) or is_stamp_line(t)
                     or (is_generic_label(t) and not all(w.lower() in _WRAP_WORDS
                                                         for w in t.split())))
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        if plain and _is_prose_block(t) and not (
                t[-1] == ":" and nxt and nxt.strip()[:1].islower()):  # "...1997:" / "international"
            break
        after_wrap_word = bool(lines and lines[-1][1] and
                               lines[-1][0].split()[-1].lower() in _WRAP_WORDS)
        if lines and (plain or (after_wrap_word and not is_date_line(t))) and lines[-1][1] \
                and wraps(lines[-1][0], t) and not _FRONT_END.match(t):
            prev, idx = lines[-1]
            lines[-1] = (f"{prev} {t}", idx + [k])
            continue
        lines.append((t, [k] if plain else []))
    candidates: list[tuple[str, list[int]]] = []
    kind: tuple[str, list[int]] | None = None
    for t, idx in lines:
        if _FRONT_END.match(t):
            break
        if _DOC_TYPE.match(t):
            if candidates:
                break
            kind = kind or (t, [])
            continue
        if not idx:  # front matter: what stood above a session or agenda line is masthead
            if re.search(r"\bsession\b|\bagenda\b", t, re.I) and is_front_matter(t):
                candidates = []
            continue
        if (t[0] in "([" or t[0].islower() or re.match(r"held\s", t, re.I)
                or not re.search(r"[^\W\d_]{3}", t)
                or (len(t.split()) > 16 and not _LETTER_TITLE.match(t) and t[-1] in ".;:")):
            continue
        candidates.append((t, idx))
    best = candidates[-1] if candidates else kind
    if best is None:
        return None
    return re.sub(r"\s*\*+$", "", best[0]), best[1]


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
