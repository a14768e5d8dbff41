"""References to passages: what ``kb show`` and ``kb export --ids`` are given.

Every form kb prints names a passage and is taken back here
(:func:`resolve`):

* the short reference of text results, ``29ktg6`` (any case; ``[29ktg6]`` and
  ``ref 29ktg6`` too), looked up in the index (:meth:`EngineReader.by_ref`);
* a passage id, ``report.txt#21``;
* a file citation as printed: ``corpus/report.txt:72``, ``report.txt:72-74``,
  ``corpus/report.txt:12 ¶ 7``, ``report.pdf p. 7 ¶ 20``, ``report.pdf p. 7``;
  the file named as citations name it (with the corpus folder as kb shows it),
  relative to the corpus folder, or by a path to it from the working directory;
* a UN citation: ``S/RES/2771 (2025), ¶ 20``, ``UNW/2025/1, ¶ 9, p. 18`` (the
  symbol in any case; the year in brackets may be left out; the form of earlier
  kb versions ``UNW/2025/1 ¶ 9 · p. 18``, ``, para. 20`` and ``page 7`` are read too).

A line citation names the passage(s) holding those lines; a page and a
paragraph that paragraph (all of its passages when a long paragraph was
split); a paragraph alone that paragraph anywhere in the document; a page
alone the passages on it without a paragraph number (kb cites those so), else
the passages that start on it (the one running over it when none does).  A reference that names passages in more than one place (a symbol
citation ``, ¶ 2, p. 5`` of a page holding two decisions' paragraphs 2, two
passage ids that hash to the same short reference) is an
:class:`~kb.errors.AmbiguousReference` listing the candidates' refs and ids;
one that names nothing is a :class:`~kb.errors.PassageNotFound` naming the
closest match.  Both are one-line errors.

**What a reference names stays true.**  A short reference is the first letters of
the passage's content fingerprint (:func:`kb.models.fingerprint`): it names that
*text*, wherever it now stands, and nothing once the text is gone.  A reference may
carry the fingerprint of what it named when it was made, ``report.txt#21@29ktg6``
(the short ref or the whole fingerprint after ``@``): :meth:`Resolver.check` then
finds that text at the place named, or elsewhere in the folder (moved, renumbered,
renamed: :attr:`Checked.moved`), or reports it changed or gone
(:attr:`Checked.changed`) — it never hands back other text silently.  Saved hits
(``--from``) and web annexes carry their fingerprints; a saved hit without one is
checked against its saved text.

``--from`` files (:func:`saved_hits`) are read here too: a saved
``kb search``/``kb export --format json`` (or ``jsonl``), possibly edited by hand.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AmbiguousReference, KbError, PassageNotFound
from .models import FINGERPRINT_LENGTH, REF_LENGTH, Passage, citation, fingerprint

if TYPE_CHECKING:
    from .engine import EngineReader

_REF_CHARS = "23456789abcdefghjkmnpqrstuvwxyz"
#: a short reference as typed (any letters and digits: a typo still gets "closest")
_REF_RE = re.compile(rf"[0-9a-zA-Z]{{{REF_LENGTH}}}")
_PAGE = r"(?:\s*·\s*|\s*,?\s+)(?:p\.?|page)\s*(?P<{}>\d+)"
_PARA = r"(?:\s*,?\s*¶|\s*,?\s+(?:para\.?|paragraph))\s*(?P<para>[^\s·,]+)"
#: a citation: ``HEAD[:L[-M] | p. N][ ¶ P][ · p. N]`` (``, para. P`` and ``page N`` too)
_CITATION = re.compile(
    r"(?P<head>.+?)"
    r"(?::(?P<l1>\d+)(?:-(?P<l2>\d+))?|" + _PAGE.format("page") + r")?"
    r"(?:" + _PARA + r")?"
    r"(?:" + _PAGE.format("page2") + r")?"
    r"\s*", re.IGNORECASE)
#: at most this many candidates are named in an error
_LIST_MAX = 5
#: ``REFERENCE@PIN``: the fingerprint (or its first letters) of what the reference named
_PIN = re.compile(rf"^(?P<ref>.+?)\s*@(?P<pin>[{'23456789abcdefghjkmnpqrstuvwxyz'}]"
                  rf"{{{REF_LENGTH},{FINGERPRINT_LENGTH}}})$")


def split_pin(text: str) -> tuple[str, str | None]:
    """``("report.txt#21", "29ktg6")`` for ``report.txt#21@29ktg6``; ``(text, None)``
    for a reference without a pin."""
    m = _PIN.match(text.strip())
    if m is None:
        return text, None
    return m.group("ref"), m.group("pin")


@dataclass(frozen=True, slots=True)
class Checked:
    """What a pinned reference (one that carries the fingerprint of what it named) names
    now (:meth:`Resolver.check`)."""

    reference: str  #: as given, without its pin
    passages: tuple[Passage, ...]  #: what it names now: the picked text, or what stands there
    #: the picked text was found elsewhere: where it was looked for (the reference given)
    moved: bool = False
    #: the picked text is nowhere in the folder: what was picked (its text or excerpt when
    #: known, else its fingerprint); "" when found
    changed: str = ""

    @property
    def gone(self) -> bool:
        return bool(self.changed) and not self.passages


@dataclass(frozen=True, slots=True)
class Locator:
    """Where in a document a citation points."""

    line_start: int | None = None
    line_end: int | None = None
    page: int | None = None
    paragraph: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.line_start, self.page, self.paragraph))


class _Miss(Exception):
    """A reference that names nothing (the message is built only when it is the answer)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _clean(text: str) -> str:
    s = text.replace("\u00a0", " ").replace("\u202f", " ").strip()
    if len(s) > 2 and s[0] == "[" and s[-1] == "]":
        s = s[1:-1].strip()
    m = re.fullmatch(r"ref[:\s]\s*(\S+)", s, re.IGNORECASE)
    if m and _REF_RE.fullmatch(m.group(1)):
        s = m.group(1)
    return s


class Resolver:
    """Resolves references over one open engine reader.

    :param prefix: how citations name the corpus folder (``"corpus/"``, ``""``, an
        absolute path), see :func:`kb.api.display_prefix`.
    :param corpus: the corpus folder (absolute).
    """

    def __init__(self, engine: EngineReader, prefix: str, corpus: Path) -> None:
        self.engine = engine
        self.prefix = prefix
        self.corpus = corpus
        self._docs: dict[str, list[Passage]] = {}

    # -- the public answer ---------------------------------------------------

    def resolve(self, text: str) -> list[Passage]:
        """The passages ``text`` names, in order (one document, consecutive passages).

        :raises PassageNotFound: it names none (the message names the closest match).
        :raises AmbiguousReference: it names passages in several places.
        """
        try:
            return self._resolve(text)
        except _Miss as e:
            raise PassageNotFound(e.message) from None

    def resolve_many(self, refs: Sequence[str]) -> list[Checked]:
        """Each reference resolved, in order; a pinned one checked (:meth:`check`: it
        may come back moved or changed, never silently other text).  A citation typed
        without quotes arrives as several words (``report.pdf p. 7 ¶ 20``): a word
        that names nothing is tried together with the words after it."""
        out: list[Checked] = []
        i = 0
        while i < len(refs):
            try:
                out.append(self._checked(refs[i]))
                i += 1
                continue
            except _Miss as e:
                first = e
            for j in range(len(refs), i + 1, -1):
                try:
                    out.append(self._checked(" ".join(refs[i:j])))
                except (_Miss, KbError):
                    continue
                i = j
                break
            else:
                raise PassageNotFound(first.message)
        return out

    def _checked(self, raw: str) -> Checked:
        base, pin = split_pin(_clean(raw))
        if pin is None:
            return Checked(raw, tuple(self._resolve(raw)))
        return self.check(base, pin)

    # -- the forms -------------------------------------------------------------

    def _resolve(self, raw: str) -> list[Passage]:
        text = _clean(raw)
        base, pin = split_pin(text)
        if pin is not None:
            c = self.check(base, pin)
            if c.changed:
                raise ReferenceChanged([c], self.prefix)
            return list(c.passages)
        if not text:
            raise _Miss("an empty reference; give a ref such as 29ktg6, a passage id "
                        "(report.txt#3) or a citation as kb prints it")
        if _REF_RE.fullmatch(text):
            return self._by_ref(text)
        id_head = None
        if "#" in text:
            head, _, n = text.rpartition("#")
            if n.isdigit() and head:
                doc = self._doc_for(head)
                if doc is not None:
                    return self._by_ordinal(doc, int(n), text)
                id_head = head
        m = _CITATION.fullmatch(text)
        loc = Locator()
        head = text
        if m:
            l1, l2 = m.group("l1"), m.group("l2")
            page = m.group("page") or m.group("page2")
            loc = Locator(int(l1) if l1 else None, int(l2 or l1) if l1 else None,
                          int(page) if page else None, m.group("para"))
            head = m.group("head").strip()
        if loc:
            doc = self._doc_for(head)
            if doc is not None:
                return self._locate(doc, loc, text)
            docs = self._symbol_docs(head)
            if docs:
                return self._locate_symbol(docs, loc, text)
        doc = self._doc_for(text)
        if doc is None:
            docs = self._symbol_docs(text)
            if docs:
                raise _Miss(f"{text} is the symbol of {', '.join(docs)}: name a passage "
                            f"of it, e.g. “{self._symbol_of(docs[0])} ¶ 1”, or give a ref")
            raise _Miss(self._no_document(id_head or (head if loc else text), text))
        ps = self._passages(doc)
        raise _Miss(f"{text} names a document, not a passage: add a line (:LINE), a page "
                    f"(p. N) or a paragraph (¶ N), or give an id such as {ps[0].id}")

    def _by_ref(self, text: str) -> list[Passage]:
        ref = text.lower()
        found = self.engine.by_ref(ref) if set(ref) <= set(_REF_CHARS) else []
        if len({p.fingerprint for p in found}) == 1:
            # one text (identical copies share it): the first copy stands for them all
            return [min(found, key=lambda p: (p.doc, p.ordinal))]
        if found:
            raise AmbiguousReference(
                f"the reference {ref} names {len(found)} passages: "
                f"{', '.join(f'{p.id}@{p.fingerprint}' for p in found)}; give one of "
                "these instead")
        near = self._near_refs(ref)
        hint = (f" (closest: {', '.join(f'{p.ref} = {p.id}' for p in near)})"
                if near else "")
        raise _Miss(f"no passage has the reference {text}{hint}: its text changed or is gone "
                    "since it was printed, or it is mistyped (refs are the 6-letter codes "
                    "`kb search` prints before each title)")

    def by_fingerprint(self, pin: str) -> list[Passage]:
        """The passages whose fingerprint starts with ``pin`` (a whole fingerprint or a
        short ref), by document and place."""
        found = self.engine.by_ref(pin[:REF_LENGTH]) if set(pin) <= set(_REF_CHARS) else []
        return sorted((p for p in found if p.fingerprint.startswith(pin)),
                      key=lambda p: (p.doc, p.ordinal))

    def check(self, ref: str, pin: str, picked: str | None = None) -> Checked:
        """What ``ref`` names now, checked against ``pin``, the fingerprint (or short
        ref) of what it named when it was made; ``picked``: that text, when known (a
        saved hit's).  The passage named is kept when it still says the same; else the
        same text elsewhere in the folder (moved, renumbered, the file renamed) is
        taken; else the answer says it changed and names what stands there now."""
        try:
            now = self._resolve(ref)
        except _Miss:
            now = []
        same = [p for p in now if p.fingerprint.startswith(pin)]
        if same:
            return Checked(ref, tuple(same))
        elsewhere = self.by_fingerprint(pin)
        if elsewhere:
            return Checked(ref, (elsewhere[0],), moved=True)
        if picked and now:
            # the picked text edited: most like it in the document, where it may have moved
            near = closest(picked, self._passages(now[0].doc))
            if near is not None:
                now = [near]
        return Checked(ref, tuple(now), changed=picked or f"the text with fingerprint {pin}")

    def _near_refs(self, ref: str) -> list[Passage]:
        """Passages whose ref is one typo away (a letter changed, swapped, missing or extra)."""
        cands: set[str] = set()
        for i in range(len(ref)):
            for c in _REF_CHARS:
                cands.add(ref[:i] + c + ref[i + 1:])
            if i + 1 < len(ref):
                cands.add(ref[:i] + ref[i + 1] + ref[i] + ref[i + 2:])
        cands.discard(ref)
        found: list[Passage] = []
        for c in sorted(cands):
            if set(c) <= set(_REF_CHARS):
                found += self.engine.by_ref(c)
            if len(found) >= 3:
                break
        return found[:3]

    def _by_ordinal(self, doc: str, n: int, text: str) -> list[Passage]:
        ps = self._passages(doc)
        for p in ps:
            if p.ordinal == n:
                return [p]
        raise _Miss(f"no passage {text}: {doc} has passages #{ps[0].ordinal}-#{ps[-1].ordinal}")

    # -- documents -----------------------------------------------------------

    def _passages(self, doc: str) -> list[Passage]:
        ps = self._docs.get(doc)
        if ps is None:
            ps = self._docs[doc] = self.engine.document_passages(doc)
        return ps

    def _doc_for(self, head: str) -> str | None:
        """The document id ``head`` names: as citations print it (with the corpus folder
        as kb shows it), relative to the corpus, or a path to the file."""
        for cand in self._doc_candidates(head):
            if cand and self._passages(cand):
                return cand
        return None

    def _doc_candidates(self, head: str) -> list[str]:
        out = []
        if self.prefix and head.startswith(self.prefix):
            out.append(head[len(self.prefix):])
        out.append(head)
        if head.startswith("./"):
            out.append(head[2:])
        try:
            path = Path(os.path.expanduser(head))
            for base in (Path(os.path.abspath(path)), path.resolve()):
                for root in (self.corpus, self.corpus.resolve()):
                    try:
                        out.append(base.relative_to(root).as_posix())
                    except ValueError:
                        pass
        except (OSError, ValueError, RuntimeError):
            pass
        return list(dict.fromkeys(out))

    def _no_document(self, head: str, text: str) -> str:
        import difflib

        ids = self.engine.document_ids()
        key = head[len(self.prefix):] if self.prefix and head.startswith(self.prefix) else head
        near = difflib.get_close_matches(key, ids, n=1, cutoff=0.5)
        hint = f" (closest: {self.prefix}{near[0]})" if near else ""
        return (f"no passage {text}: no document {head} in the index{hint}; give a ref, "
                "an id or a citation as kb prints them (see `kb search ... --format json`)")

    # -- symbols ---------------------------------------------------------------

    def _symbol_of(self, doc: str) -> str:
        return self._passages(doc)[0].symbol or ""

    def _symbol_docs(self, head: str) -> list[str]:
        """The documents whose UN symbol is ``head`` (any case; ``S/RES/2771`` also
        names ``S/RES/2771 (2025)``)."""
        if "/" not in head:
            return []
        want = " ".join(head.split()).casefold()
        out = []
        for doc in self.engine.symbol_documents(head):
            sym = self._symbol_of(doc)
            have = " ".join(sym.split()).casefold()
            if want in (have, re.sub(r"\s*\(\d{4}\)$", "", have)):
                out.append(doc)
        return out

    def _locate_symbol(self, docs: list[str], loc: Locator, text: str) -> list[Passage]:
        found: list[list[Passage]] = []
        first: _Miss | None = None
        for doc in docs:
            try:
                found.append(self._locate(doc, loc, text))
            except _Miss as e:
                first = first or e
        if not found:
            assert first is not None
            raise first
        if len(found) > 1:
            raise self._ambiguous(text, [p for run in found for p in run])
        return found[0]

    # -- within a document -----------------------------------------------------

    def _locate(self, doc: str, loc: Locator, text: str) -> list[Passage]:
        ps = self._passages(doc)
        sel = ps
        if loc.page is not None:
            on_page = [p for p in sel if p.page == loc.page]
            if not on_page and loc.paragraph is None:
                before = [p for p in sel if p.page is not None and p.page < loc.page]
                after = [p for p in sel if p.page is not None and p.page > loc.page]
                if before and after:
                    on_page = [before[-1]]  # a passage running over the whole page
            if not on_page:
                pages = sorted({p.page for p in ps if p.page is not None})
                what = f"pages {pages[0]}-{pages[-1]}" if pages else "no pages"
                raise _Miss(f"no passage {text}: no passage of {doc} starts on p. "
                            f"{loc.page} ({doc} has passages on {what})")
            if loc.paragraph is None and loc.line_start is None:
                # "p. 7" is how kb cites the passages of a page that have no paragraph
                # number: those, when there are some; else the page's passages
                sel = [p for p in on_page if not p.paragraph] or on_page
            else:
                sel = on_page
        if loc.line_start is not None:
            lo, hi = loc.line_start, loc.line_end or loc.line_start
            sel = [p for p in sel if p.line_start is not None and p.line_start <= hi
                   and lo <= max(p.line_end or p.line_start, p.line_start)]
            if not sel:
                lines = f"line {lo}" if hi == lo else f"lines {lo}-{hi}"
                raise _Miss(f"no passage {text}: no passage of {doc} holds "
                            f"{lines}{self._nearest_lines(ps, lo)}")
        if loc.paragraph is not None:
            key = loc.paragraph.casefold()
            hits = [p for p in sel if (p.paragraph or "").casefold() == key]
            if not hits:
                where = sorted({p.page for p in ps if (p.paragraph or "").casefold() == key
                                and p.page is not None})
                elsewhere = (f" (¶ {loc.paragraph} is on p. {', '.join(map(str, where))})"
                             if where else "")
                raise _Miss(f"no passage {text}: {doc} has no ¶ {loc.paragraph}"
                            + (f" on p. {loc.page}" if loc.page is not None else "")
                            + elsewhere)
            sel = hits
        runs = _runs(sel)
        if len(runs) > 1:
            raise self._ambiguous(text, sel)
        return runs[0]

    @staticmethod
    def _nearest_lines(ps: list[Passage], line: int) -> str:
        lined = [p for p in ps if p.line_start is not None]
        if not lined:
            return ""
        p = min(lined, key=lambda q: abs((q.line_start or 0) - line))
        end = f"-{p.line_end}" if p.line_end not in (None, p.line_start) else ""
        return f" (the nearest passage is {p.id}, lines {p.line_start}{end})"

    def _ambiguous(self, text: str, ps: list[Passage]) -> AmbiguousReference:
        shown = ", ".join(f"{p.ref} ({p.id})" for p in ps[:_LIST_MAX])
        more = f" and {len(ps) - _LIST_MAX} more" if len(ps) > _LIST_MAX else ""
        return AmbiguousReference(
            f"{text} names {len(ps)} passages in different places: {shown}{more}; "
            "give one of these refs instead")


class ReferenceChanged(KbError):
    """References whose text changed since they were made: one line per passage, what
    was picked and what is there now (``--allow-changed`` exports the current text,
    marked)."""

    def __init__(self, changed: list[Checked], prefix: str = "") -> None:
        self.changed = changed
        lines = [f"{len(changed)} chosen passage{'s' * (len(changed) != 1)} changed since "
                 "picked (--allow-changed exports the current text, marked):"]
        lines += [change_line(c, prefix) for c in changed]
        self.lines = lines  #: what the CLI prints, a line each
        super().__init__("\n".join(lines))


def change_line(c: Checked, prefix: str = "") -> str:
    """``report.txt#21: picked “Beta …”, now “Alpha …” (corpus/report.txt:4)`` or
    ``… now gone``."""
    picked = _excerpt(c.changed)
    if not c.passages:
        return f"{c.reference}: picked “{picked}”, now gone from the folder"
    p = c.passages[0]
    where = citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, prefix)
    return f"{c.reference}: picked “{picked}”, now “{_excerpt(p.text)}” ({where})"


#: a passage is the edited version of another when this share of their words agree
SIMILAR = 0.5


def closest(text: str, passages: Sequence[Passage]) -> Passage | None:
    """The passage most like ``text`` (the share of words in common, in order), when at
    least :data:`SIMILAR` of them agree: an edited passage, wherever it moved."""
    import difflib

    words = text.split()
    best, best_ratio = None, SIMILAR
    for p in passages:
        sm = difflib.SequenceMatcher(a=words, b=p.text.split(), autojunk=False)
        if sm.real_quick_ratio() < best_ratio or sm.quick_ratio() < best_ratio:
            continue
        r = sm.ratio()
        if r >= best_ratio:
            best, best_ratio = p, r
    return best


def _excerpt(text: str, width: int = 60) -> str:
    t = " ".join(text.split())
    return t if len(t) <= width else t[:width - 1].rstrip() + "…"


def _runs(ps: list[Passage]) -> list[list[Passage]]:
    """``ps`` (one document's, in order) cut into runs of consecutive passages."""
    runs: list[list[Passage]] = []
    for p in ps:
        if runs and runs[-1][-1].doc == p.doc and runs[-1][-1].ordinal + 1 == p.ordinal:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


# --------------------------------------------------------------------------
# --from: a saved kb search


@dataclass(frozen=True, slots=True)
class Saved:
    """The hits of a saved ``kb search``/``kb export --format json``."""

    query: str
    corrected_query: str | None
    filters: tuple[str, ...]
    #: per hit: the reference to resolve it by (id, else ref, else citation), its score,
    #: the fingerprint of what it named (saved, else of its saved text; None: unknown),
    #: and its saved text ("" when the file has none)
    hits: tuple[tuple[str, float, str | None, str], ...]


def saved_hits(text: str, name: str) -> Saved:
    """Read a saved ``--format json`` result (``{"query": …, "results": [hit, …]}``),
    a bare list of hits, or ``--format jsonl`` (a hit per line).

    :raises KbError: it is not kb's JSON, or a hit has no id (ref, citation).
    """
    not_kb = (f"{name} is not a saved kb result: expected the JSON of `kb search "
              "--format json` (an object with a \"results\" list)")
    data: Any
    try:
        data = json.loads(text)
    except ValueError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            data = [json.loads(ln) for ln in lines]
        except ValueError:
            raise KbError(f"{not_kb}; it is not JSON") from None
        if not lines:
            raise KbError(f"{not_kb}; it is empty") from None
    if isinstance(data, dict):
        results = data.get("results")
        if not isinstance(results, list):
            raise KbError(not_kb)
        query = data.get("query")
        corrected = data.get("corrected_query")
        filters = data.get("filters")
    elif isinstance(data, list):
        results, query, corrected, filters = data, "", None, None
    else:
        raise KbError(not_kb)
    if not results:
        raise KbError(f"{name} holds no hits: nothing to export")
    hits = []
    for i, h in enumerate(results, 1):
        key = None
        if isinstance(h, dict):
            key = next((h[k] for k in ("id", "ref", "citation")
                        if isinstance(h.get(k), str) and h[k].strip()), None)
        if key is None:
            raise KbError(f"{name}: hit {i} has no \"id\" (nor \"ref\" or \"citation\"); "
                          "is it the JSON of `kb search --format json`?")
        score = h.get("score")
        text = h.get("text") if isinstance(h.get("text"), str) else ""
        pin = h.get("fingerprint") if isinstance(h.get("fingerprint"), str) else None
        if pin is not None and not re.fullmatch(rf"[{_REF_CHARS}]{{{REF_LENGTH},"
                                                rf"{FINGERPRINT_LENGTH}}}", pin):
            pin = None
        if pin is None and text.strip():
            pin = fingerprint(text)  # an older file: its text says what was picked
        hits.append((key, float(score) if isinstance(score, (int, float)) else 0.0, pin, text))
    return Saved(
        query=query if isinstance(query, str) else "",
        corrected_query=corrected if isinstance(corrected, str) and corrected else None,
        filters=tuple(f for f in filters if isinstance(f, str))
        if isinstance(filters, list) else (),
        hits=tuple(hits),
    )
