#!/usr/bin/env python3
"""Acceptance benchmark over a real UN library (issue 17): do the queries a policy
officer types come out right?

    python bench/library.py                 # build the library (kb index --rebuild), check
    python bench/library.py --skip-build    # reuse the built index (still `kb index`: an update)
    python bench/library.py --only typo     # one kind (a row name or its first word)

Library.  The 3,041 documents of ``../shared/bench-corpus/docs`` and the three PDFs of
``../shared/corpus-pdf`` are hard-linked (copied where links fail) into
``bench/data/library/corpus`` and indexed with ``kb index`` into
``bench/data/library/index`` (both git-ignored).  Files are only ever linked, never
written, so the shared corpus is not touched.

Truth.  Every expectation is checked against the library's text by this script, not
by kb: a passage *holds* a query's concepts when its own text or section heading
(:func:`kb.analysis.index_terms`, kb's analysis: stems and British/American variants)
holds each concept, where a concept is a content word with its variants (and its
closed, hyphenated or open compound forms, where the library has them) or a quoted
phrase (its terms in a row).  Content words are the words kb indexes minus question
and function words (``what``, ``has``, ``said``, ``about``, ``against``, ...); where the
two readings give different counts, both are accepted.  Full-match counts are
counted here from every passage kb indexed (``KnowledgeBase.passages()``), with
identical texts counted once as kb does (:func:`kb.dedup.text_key`).

Checks (one row each in the table):

* hand-written queries from ``bench/queries-library.json`` (topics, long questions,
  phrases, acronyms, symbols, ``symbol:`` filters, dates, compounds, typos, fuzzy ``~``,
  partial matches; one row per kind), each with expectations (``EXPECT`` below: full
  matches first, ``total`` = the full matches counted here, expected documents, true
  ``missing_terms``, labels, snippets, highlights, corrections, dates, CLI exit codes).
  Before kb is asked, :func:`verify` checks each expectation against the text (an
  expected document holds the concepts, was adopted in the date range, is named by
  the symbol; a typo is not a word of the library, the intended word is; ...); one
  that is not true is reported and its query left out;
* **misspellings**: 200 one-edit misspellings (drop, double, swap two neighbours,
  replace a letter, at any position; seeded) of lower-case words of 5+ letters, not
  stop words, that occur at least 20 times in the library's text (counted here); a
  misspelling that is itself a word of the library is skipped and counted.  Pass: the
  top-10 passage ids equal those of the intended word, or ``corrected_query`` is the
  intended word;
* **replaced**: the skipped real-word misspellings, 50 capitalised acronyms of the
  library (never written otherwise) and 50 rare words (seen once or twice; seeded):
  kb must never replace them (``corrected_query`` set);
* **symbols**: documents with a symbol (``KnowledgeBase.documents()``), symbols that
  agree with the file name (files are named by symbol, ``/`` written ``_``), and 100
  random symbols (seeded) typed with ``/``, in lower case, without the year: that
  document is hit 1;
* **dates**: documents with a date (each undated one listed, with kb's reason if it
  gives one), and dates that agree with the adoption line of the first 40 lines
  ("Resolution adopted by the General Assembly on 19 December 2023");
* **exports**: ``kb export QUERY -o F.jsonl`` for 11 topic queries: every passage holds
  every concept (a query with no full match: nothing written, and the message names
  ``--partial``); ``--partial``: every passage is labelled ``"match"`` ``full`` or
  ``partial`` as it holds every concept or not;
* **compounds**: every closed/hyphenated pair (``peacekeeping``/``peace-keeping``) with
  at least 5 occurrences of each form in the library's text: the top-10 passages for
  either spelling are the same set; and the rarer form is not favoured: among the top
  10 for the closed spelling, passages holding only the rarer form are at most
  max(3, 2 × their share of the passages holding either form × 10);
* **titles** (issue item 7): no title is an agenda, adoption or distribution line or
  ends cut at a line wrap ("... measures and"); **part headings** (item 9): in
  documents with Roman-numeral or "Annex" part-heading lines, no passage ends with one.

``word~`` is checked by its highlights: each highlighted word must be a word of the
library within 2 edits of the word as typed, or a variant of one (the same term, as kb
matches words with their variants); ``retalation~`` may highlight "relation" (2 edits)
but not "rela" or "retirement".

kb's JSON contract after issue 17 (``SearchResult.to_dict()``, what ``kb search
--format json`` prints) is read where a check needs it (``partial``, a hit's
``match``); where kb lacks a field the check fails, it does not crash.  Searches go
through the Python API in this process; the CLI is run where exit codes, messages or
files are part of the check.

Prints one table (kind, checks, passed, share, target) and the failures, and writes
the same to ``bench/results/library.md`` (raw figures in ``library.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
SOURCE_DOCS = SHARED / "bench-corpus" / "docs"
SOURCE_PDF = SHARED / "corpus-pdf"
DATA = HERE / "data" / "library"
CORPUS = DATA / "corpus"
INDEX = DATA / "index"
RESULTS = HERE / "results"
QUERIES_FILE = HERE / "queries-library.json"

sys.path.insert(0, str(ROOT))  # this tree's kb
sys.path.insert(0, str(HERE))
from engines import cpu_model, kb_commit, load, log  # noqa: E402

from kb import KnowledgeBase  # noqa: E402
from kb.analysis import STOP_WORDS, index_terms, query_terms, term  # noqa: E402
from kb.dedup import text_key  # noqa: E402
from kb.models import own_headings  # noqa: E402

SEED = 17
#: words of a question that are never a concept of the query (issue 17: "concepts are
#: the content words, never what/has/said/about")
QUESTION_WORDS = frozenset("""
what which who whom whose when where why how has have had does do did done is are was
were been be being said say says about should can could would will shall may might must
there tell me
""".split())
#: besides those, function words that kb may or may not count as concepts (its own stop
#: list is shorter): both readings are accepted where they give different counts
FUNCTION_WORDS = QUESTION_WORDS | frozenset("""
a above across after again against all also am among an and any as at because before
below between both but by each either few for from further he her here hers him his i if
in into it its itself just more most my no nor not now of off on once only onto or other
our ours out over own per same she so some such than that the their theirs them then
these they this those through to too under until up upon us very we while with within
without yet you your know find show give list way ways
""".split())
#: common English words of 5+ letters that are not topical (misspelling candidates exclude them)
STOP_LONG = frozenset("""
about above after again against among another because before being below between
both cannot could doing during either every further having herself himself itself
might myself other others ought ourselves shall should since their theirs themselves
there therefore these thereof thereby herein hereby those though through under until
where whereas whereby wherein whether which while whilst within without would yours
yourself yourselves
""".split())


# ======================================================================= build


def link_library(corpus: Path = CORPUS) -> int:
    """Hard-link (copy where links fail) the bench corpus and the three PDFs into
    ``corpus``; files already there are left alone.  Returns how many files."""
    corpus.mkdir(parents=True, exist_ok=True)
    sources = sorted(SOURCE_DOCS.glob("*.txt")) + sorted(SOURCE_PDF.glob("*.pdf"))
    if not sources:
        raise SystemExit(f"no documents under {SOURCE_DOCS} or {SOURCE_PDF}")
    for src in sources:
        dest = corpus / src.name
        if dest.exists():
            continue
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    names = {s.name for s in sources}
    for p in corpus.iterdir():  # a file not in the sources (an earlier run's) goes
        if p.name not in names and p.is_file():
            p.unlink()
    return len(sources)


def kb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kb", *args]


def kb_env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["NO_COLOR"] = "1"
    e["COLUMNS"] = "200"
    return e


def run_kb(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(kb_cmd(*args, "--corpus", str(CORPUS), "--index", str(INDEX)),
                          capture_output=True, text=True, env=kb_env(), timeout=timeout,
                          cwd=str(ROOT))


def build(skip: bool) -> dict[str, Any]:
    """Link the corpus and run ``kb index`` (``--rebuild`` unless ``skip``)."""
    n = link_library()
    args = ["index"] if skip else ["index", "--rebuild"]
    log(f"{n} files in {CORPUS}; kb {' '.join(args)} ...")
    t0 = time.perf_counter()
    r = run_kb(*args, timeout=3600)
    s = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"kb {' '.join(args)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    msg = " ".join((r.stderr + r.stdout).split())
    log(f"kb {' '.join(args)}: {s:.1f} s: {msg[:200]}")
    return {"files": n, "command": "kb " + " ".join(args), "seconds": s, "output": msg}


# ======================================================================= the library's text


_WORD = re.compile(r"[^\W\d_]+")
_SYMBOL = re.compile(r"\b[A-Z][A-Za-z0-9.\-]*(?:/[A-Za-z0-9.\-]+)+")
_HYPHENATED = re.compile(r"(?<![\w-])([^\W\d_]+)-([^\W\d_]+)(?![\w-])")


def fold(w: str) -> str:
    if not w.isascii():
        w = unicodedata.normalize("NFKD", w)
        w = "".join(c for c in w if not unicodedata.combining(c))
    return w.casefold()


@dataclass
class Library:
    """The library as this script sees it: kb's passages, their terms, word counts."""

    kb: KnowledgeBase
    ids: list[str]
    docs: list[str]
    texts: list[str]
    sections: list[str]
    dates: list[str | None]
    keys: list[int]
    by_id: dict[str, int]
    #: term -> passage numbers (text and section heading; not the title)
    postings: dict[str, array]
    #: words as written (case-folded, accents folded), all occurrences, every file
    words: Counter
    #: lower-case words as written (only tokens written all in lower case)
    lower: Counter
    #: hyphenated pairs as written, case-folded: (a, b) -> occurrences
    hyphenated: Counter
    #: words written in capitals (2+ letters), outside document symbols: occurrences
    capitals: Counter
    #: words as written (folded) counting only the occurrences not all in capitals
    notcaps: Counter
    doc_text: dict[str, str]

    @classmethod
    def load(cls, kb: KnowledgeBase) -> "Library":
        t0 = time.perf_counter()
        ps = kb.passages()
        ids, docs, texts, sections, dates, keys = [], [], [], [], [], []
        postings: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(ps):
            ids.append(p.id)
            docs.append(p.doc)
            texts.append(p.text)
            # the section heading as kb matches on it: the headings below the title
            # (a first heading that only repeats the title is the title)
            own = " / ".join(own_headings(p.title, p.heading_path, p.section))
            sections.append(own)
            dates.append(p.date)
            keys.append(text_key(p.text))
            for t in set(index_terms(p.text)) | set(index_terms(own)):
                postings[t].append(i)
        post = {t: array("i", v) for t, v in postings.items()}
        # the documents' text: the .txt files as they are, the PDFs as kb extracted them
        doc_text: dict[str, list[str]] = defaultdict(list)
        for d, t in zip(docs, texts):
            if not d.endswith(".txt"):
                doc_text[d].append(t)
        full = {d: "\n\n".join(v) for d, v in doc_text.items()}
        for f in sorted(CORPUS.glob("*.txt")):
            full[f.name] = f.read_text(encoding="utf-8", errors="replace")
        words: Counter = Counter()
        lower: Counter = Counter()
        capitals: Counter = Counter()
        notcaps: Counter = Counter()
        hyph: Counter = Counter()
        for text in full.values():
            toks = _WORD.findall(text)
            words.update(fold(w) for w in toks)
            lower.update(w for w in toks if w.islower() and w.isascii())
            notcaps.update(fold(w) for w in toks if not w.isupper())
            capitals.update(w for w in _WORD.findall(_SYMBOL.sub(" ", text))
                            if w.isupper() and w.isascii() and len(w) >= 2)
            hyph.update((fold(a), fold(b)) for a, b in _HYPHENATED.findall(text))
        lib = cls(kb, ids, docs, texts, sections, dates, keys,
                  {x: i for i, x in enumerate(ids)}, post, words, lower, hyph, capitals,
                  notcaps, full)
        log(f"library: {len(ids):,} passages, {len(post):,} terms, {len(words):,} distinct "
            f"words, {len(full):,} documents read in {time.perf_counter() - t0:.1f} s")
        return lib

    # -- concepts ------------------------------------------------------------

    def word_forms(self, w: str) -> list[tuple[str, ...]]:
        """The term sequences a query word may be written as: its own, and its
        closed/hyphenated/open compound forms that the library's text has."""
        forms = [tuple(query_terms(w))]
        parts = [p for p in re.split(r"-", w) if p]
        if len(parts) == 2 and all(_WORD.fullmatch(p) for p in parts):
            # the closed word in any inflection ("whistle-blowers": "whistleblower")
            t = term(fold(parts[0] + parts[1]))
            if t and t in self.postings:
                forms.append((t,))
        elif _WORD.fullmatch(w) and len(w) >= 5:
            f = fold(w)
            for k in range(1, len(f) - 1):
                if self.hyphenated.get((f[:k], f[k:])):
                    # a stop word joined by a hyphen is indexed ("by-catch")
                    a = term(f[:k]) or (f[:k] if f[:k] in STOP_WORDS else None)
                    b = term(f[k:]) or (f[k:] if f[k:] in STOP_WORDS else None)
                    if a and b:
                        forms.append((a, b))
        return [f for i, f in enumerate(forms) if f and f not in forms[:i]]

    def concepts(self, query: str, content: bool = True) -> list["Concept"]:
        """The concepts of a plain query: quoted phrases and words.  ``content``: without
        question and function words (the lenient reading); else without question words
        only (the strict reading: every other word kb indexes).  Field clauses
        (``symbol:``, ``date:``, ``doc:``), operators, ``-words`` and ``word~`` are left out."""
        skip = FUNCTION_WORDS if content else QUESTION_WORDS
        out: list[Concept] = []
        rest = query
        for m in re.finditer(r'"([^"]+)"', query):
            ts = tuple(query_terms(m.group(1)))
            if ts:
                out.append(Concept(f'"{m.group(1)}"', [ts], phrase=True))
            rest = rest.replace(m.group(0), " ")
        for tok in rest.split():
            if ":" in tok or tok.startswith("-") or tok in ("AND", "OR", "NOT") or "~" in tok:
                continue
            tok = tok.strip(".,;?!()")
            for w in re.findall(r"[\w'’-]+", tok):
                w = w.strip("-'’")
                if not w or (fold(w) in skip and not (len(w) > 1 and w.isupper())):
                    continue
                forms = self.word_forms(w)
                if forms and all(c.label != w for c in out):
                    out.append(Concept(w, forms))
        return out

    def holds(self, i: int, concepts: list["Concept"]) -> list[str]:
        """The concepts passage ``i`` lacks (its text and section heading)."""
        return lacking(self.texts[i], self.sections[i], concepts)

    def full_matches(self, concepts: list["Concept"]) -> list[int]:
        """Every passage whose text or section heading holds every concept."""
        if not concepts:
            return []
        cand: set[int] | None = None
        for c in concepts:
            s: set[int] = set()
            for form in c.forms:
                first = [set(self.postings.get(t, ())) for t in form]
                s |= set.intersection(*first) if first else set()
            cand = s if cand is None else cand & s
            if not cand:
                return []
        return sorted(i for i in (cand or ()) if not self.holds(i, concepts))

    def distinct(self, idx: Iterable[int]) -> int:
        return len({self.keys[i] for i in idx})


_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december"
    .split(), start=1)}
#: "Resolution adopted by the General Assembly on 19 December 2023", "Adopted by the
#: Security Council at its 4213th meeting, on 31 October 2000" (a line break may fall
#: anywhere in it)
_ADOPTED = re.compile(
    r"^[^\S\n]*(?:(?:resolution|decision)s?[^\S\n]+)?adopted[^\S\n]+by[^\S\n]+the[^\S\n]+"
    r"[^.\[\]\n]{3,120}?[^\S\n]*\n?[^\S\n]*\bon\s+(\d{1,2})\s+(" + "|".join(_MONTHS) +
    r")\s+(\d{4})\b", re.I | re.M)


def adoption_date(text: str, lines: int = 40) -> str | None:
    """The date of the adoption line in the first ``lines`` lines, as YYYY-MM-DD."""
    head = "\n".join(text.split("\n", lines)[:lines])
    m = _ADOPTED.search(head)
    if m is None:
        return None
    d, mon, y = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
    return f"{y:04d}-{mon:02d}-{d:02d}"


def file_symbol(name: str) -> str | None:
    """The UN symbol a corpus file is named after, ``/`` written ``_``
    (``S_RES_1325(2000).txt`` -> ``S/RES/1325 (2000)``, ``A_RES_48_218_B.txt`` ->
    ``A/RES/48/218 B``, ``E_ICEF_2025_26.en.pdf`` -> ``E/ICEF/2025/26``); None for a
    name whose symbol is not plain to read (``ECE_AC.23__2002_2_Rev.6``,
    ``ECE_BATUMI._CONF_2016_2__Add.1``)."""
    stem = re.sub(r"(?:\.en)?\.(?:txt|pdf)$", "", name)
    if "__" in stem or "._" in stem:
        return None
    m = re.fullmatch(r"([A-Z][A-Za-z0-9.\-]*(?:_[A-Za-z0-9.\-]+)+?)(?:_([A-C](?:-[A-C])?))?"
                     r"\s*(\((?:\d{4}|[IVXL]+)\))?", stem)
    if m is None:
        return None
    sym = m.group(1).replace("_", "/")
    if m.group(2):
        sym += " " + m.group(2)
    return sym + (f" {m.group(3)}" if m.group(3) else "")


def typed_symbol(symbol: str) -> str | None:
    """How the benchmark types a symbol: with ``/``, in lower case, without the year
    (``S/RES/1325 (2000)`` -> ``s/res/1325``); None for one with a part letter
    (``A/RES/48/218 B``), which is not typed alone."""
    base = re.sub(r"\s*\([^)]*\)$", "", symbol)
    if " " in base:
        return None
    return base.lower()


def symbol_key(s: str | None) -> str:
    """A symbol compared loosely: capitals, no spaces (``S/RES/1325 (2000)`` is
    ``S/RES/1325(2000)``)."""
    return re.sub(r"\s+", "", s or "").upper()


@dataclass
class Concept:
    label: str
    forms: list[tuple[str, ...]]  #: term sequences; holding any one (in a row) holds it
    phrase: bool = False


def _contains(seq: list[str], form: tuple[str, ...]) -> bool:
    if len(form) == 1:
        return form[0] in seq
    n = len(form)
    first = form[0]
    for k, t in enumerate(seq):
        if t == first and tuple(seq[k:k + n]) == form:
            return True
    return False


def _section(h: dict[str, Any]) -> str:
    """A hit's section heading as kb matches on it: its headings below the title."""
    return " / ".join(own_headings(h.get("title") or "", h.get("heading_path") or [],
                                   h.get("section") or ""))


def lacking(text: str, section: str, concepts: list[Concept]) -> list[str]:
    """The labels of the concepts that neither ``text`` nor ``section`` holds."""
    a, b = index_terms(text or ""), index_terms(section or "")
    return [c.label for c in concepts
            if not any(_contains(a, f) or _contains(b, f) for f in c.forms)]


def distance(a: str, b: str) -> int:
    """Edit distance with transpositions of neighbours (optimal string alignment)."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


# ======================================================================= kb, as the JSON contract


def search(kb: KnowledgeBase, query: str, limit: int | None = 10, **kw: Any) -> dict[str, Any]:
    """``kb.search(...).to_dict()``: what ``kb search --format json`` prints; an error
    becomes ``{"error": ...}`` with no results (the check fails, the run goes on)."""
    try:
        return kb.search(query, limit=limit, **kw).to_dict()  # type: ignore[no-any-return]
    except Exception as e:  # noqa: BLE001 - any failure of kb is a failed check
        return {"query": query, "error": f"{type(e).__name__}: {e}", "total": 0, "results": []}


def hits_of(d: dict[str, Any]) -> list[dict[str, Any]]:
    return list(d.get("results") or [])


def ids_of(d: dict[str, Any], n: int = 10) -> list[str]:
    return [h.get("id", "") for h in hits_of(d)[:n]]


def corrected(d: dict[str, Any]) -> str | None:
    c = d.get("corrected_query")
    if not c or _norm(str(c)) == _norm(str(d.get("query", ""))):
        return None
    return str(c)


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def cli(*args: str) -> tuple[int, str]:
    """``kb ARGS --no-update`` on the library: exit code and stdout + stderr."""
    try:
        r = run_kb(*args, "--no-update", timeout=900)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return r.returncode, r.stdout + r.stderr


def highlighted(h: dict[str, Any]) -> list[str]:
    """The words a hit's snippet highlights, case-folded."""
    snip = h.get("snippet") or ""
    out = []
    for span in h.get("highlights") or []:
        try:
            a, b = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError):
            continue
        out += [fold(w) for w in _WORD.findall(snip[a:b])]
    return out


# ======================================================================= checks


@dataclass
class Row:
    """One line of the table: a kind of check, how many, how many passed."""

    kind: str
    target: float  #: share that must pass (1.0 = all)
    what: str = ""  #: one line on what is checked
    checks: int = 0
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    target_text: str = ""

    def add(self, ok: bool, failure: str = "") -> None:
        self.checks += 1
        if ok:
            self.passed += 1
        elif failure:
            self.failures.append(failure)

    @property
    def share(self) -> float:
        return self.passed / self.checks if self.checks else float("nan")

    @property
    def met(self) -> bool:
        return bool(self.checks) and self.share >= self.target - 1e-9


class Context:
    """What the checks share: kb, the library, caches of searches and truths."""

    def __init__(self, kb: KnowledgeBase, lib: Library) -> None:
        self.kb = kb
        self.lib = lib
        self._search: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._truth: dict[tuple[Any, ...], tuple[list[Concept], list[int]]] = {}
        self.docs = kb.documents()
        self.doc_info = {d.id: d for d in self.docs}
        self.adopted = {d: adoption_date(t) for d, t in lib.doc_text.items() if d.endswith(".txt")}

    def search(self, query: str, limit: int | None = 10, **kw: Any) -> dict[str, Any]:
        key = (query, limit, tuple(sorted(kw.items())))
        if key not in self._search:
            self._search[key] = search(self.kb, query, limit, **kw)
        return self._search[key]

    def truth(self, query: str, content: bool = True, scope: Iterable[str] | None = None
              ) -> tuple[list[Concept], list[int]]:
        """The query's concepts and every passage holding them all (text or section);
        ``scope``: only passages of these documents."""
        key = (query, content, tuple(scope or ()))
        if key not in self._truth:
            cs = self.lib.concepts(query, content)
            full = self.lib.full_matches(cs)
            if scope:
                docs = set(scope)
                full = [i for i in full if self.lib.docs[i] in docs]
            self._truth[key] = (cs, full)
        return self._truth[key]

    def full_distinct(self, query: str, scope: Iterable[str] | None = None) -> int:
        return self.lib.distinct(self.truth(query, True, scope)[1])

    def near_terms(self, word: str, dist: int) -> set[str]:
        """The terms of the library's words within ``dist`` edits of ``word`` (as
        written): what ``word~`` may match, each word with its variants."""
        w = fold(word)
        return {t for v in self.lib.words if abs(len(v) - len(w)) <= dist
                and distance(v, w) <= dist and (t := term(v))}


def _date_range(spec: dict[str, str]) -> tuple[str, str]:
    if "year" in spec:
        return f"{spec['year']}-01-01", f"{spec['year']}-12-31"
    return spec.get("from", "0000-01-01"), spec.get("to", "9999-12-31")


def _api_filters(q: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    kw: dict[str, Any] = {}
    for k in ("since", "until"):
        if q.get(k):
            kw[k] = dt.date.fromisoformat(q[k])
    return kw


def _label(c: str) -> str:
    return fold(c.strip().strip('"“”'))


# -- the expectations of a hand-written query: each returns "" (met) or why not ---------


def _scope(q: dict[str, Any]) -> list[str] | None:
    """A symbol filter's documents: the truth of its words is counted in them only."""
    return q["expect"].get("all_docs")


def ex_full_first(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    cs, full = ctx.truth(q["query"], True, _scope(q))
    want = min(10, ctx.full_distinct(q["query"], _scope(q)))
    hits = hits_of(d)
    if len(hits) < want:
        return f"{len(hits)} hits, {want} full matches expected on the page"
    bad = [i for i, h in enumerate(hits[:want], 1)
           if lacking(h.get("text", ""), _section(h), cs)]
    if bad:
        h = hits[bad[0] - 1]
        return (f"hits {bad} lack a concept (hit {bad[0]} {h.get('doc')} lacks "
                f"{lacking(h.get('text', ''), h.get('section', ''), cs)}); "
                f"{len(full)} passages hold every concept")
    return ""


def ex_total_full(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    _, strict = ctx.truth(q["query"], False, _scope(q))
    _, content = ctx.truth(q["query"], True, _scope(q))
    lo, hi = ctx.lib.distinct(strict), len(content)
    total = d.get("total")
    if not isinstance(total, int) or not lo <= total <= hi:
        return f"total {total} (full matches: {lo:,}" + (f"-{hi:,})" if hi != lo else ")")
    return ""


def _match_labels(ctx: Context, q: dict[str, Any], d: dict[str, Any]) -> str:
    cs, _ = ctx.truth(q["query"])
    bad = []
    for i, h in enumerate(hits_of(d), 1):
        m = h.get("match")
        held = not lacking(h.get("text", ""), _section(h), cs)
        if m not in ("full", "partial") or (m == "full") != held:
            bad.append(f"{i}:{m}")
    if bad:
        return f"hit match labels wrong ({', '.join(bad[:5])}; None: no `match` field)"
    return ""


def ex_match_labels(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    return _match_labels(ctx, q, d)


def ex_partial(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    cs, _ = ctx.truth(q["query"])
    why = []
    p = d.get("partial")
    if not isinstance(p, int) or p <= 0:
        why.append(f"partial = {p!r} (partial matches exist)")
    lab = _match_labels(ctx, q, d)
    if lab:
        why.append(lab)
    held = [len(cs) - len(lacking(h.get("text", ""), _section(h), cs)) for h in hits_of(d)]
    if any(b > a for a, b in zip(held, held[1:])):
        why.append(f"not most concepts first: {held}")
    if not hits_of(d):
        why.append("no hits")
    return "; ".join(why)


def ex_missing_true(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    """Every hit's ``missing_terms`` are the concepts its text and section lack (either
    reading), never a question word."""
    readings = [ctx.truth(q["query"], True)[0], ctx.truth(q["query"], False)[0]]
    for i, h in enumerate(hits_of(d), 1):
        missing = {_label(m) for m in h.get("missing_terms") or []}
        qw = sorted(m for m in missing if m in QUESTION_WORDS)
        if qw:
            return f"hit {i} says missing: {', '.join(qw)}"
        truth = [{_label(c) for c in lacking(h.get("text", ""), _section(h), cs)}
                 for cs in readings]
        if missing not in truth:
            return (f"hit {i} ({h.get('doc')}) says missing {sorted(missing)}, "
                    f"its text and section lack {sorted(truth[0])}")
    return ""


def ex_docs_top(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    n = arg.get("n", 10)
    docs = [h.get("doc") for h in hits_of(d)[:n]]
    if not any(x in arg["docs"] for x in docs):
        return f"none of {arg['docs']} in the top {n}"
    return ""


def ex_doc_first(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    hits = hits_of(d)
    first = hits[0].get("doc") if hits else None
    return "" if first in arg else f"hit 1 is {first} (total {d.get('total')})"


def ex_all_docs(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    hits = hits_of(d)
    if not hits:
        return "no hits"
    other = sorted({h.get("doc") for h in hits if h.get("doc") not in arg})
    return f"hits from {other}" if other else ""


def ex_docs_in(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    g = ctx.search(q["query"], None, group=True, **_api_filters(q))
    got = {h.get("doc") for h in hits_of(g)}
    lost = [x for x in arg if x not in got]
    return f"{lost} not among the {len(got)} matching documents" if lost else ""


def ex_not_corrected(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    c = corrected(d)
    return f"replaced by “{c}”" if c else ""


def ex_corrected(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    c = corrected(d)
    if c and " ".join(c.split()).casefold() == arg.casefold():
        return ""
    meant = ctx.search(arg)
    if ids_of(meant) and set(ids_of(d)) == set(ids_of(meant)):
        return ""
    return (f"corrected_query {c!r}, total {d.get('total')}, suggestion {d.get('suggestion')!r}; "
            f"top 10 shares {len(set(ids_of(d)) & set(ids_of(meant)))} of {len(ids_of(meant))} "
            f"with “{arg}”")


def ex_cli_no_match(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    rc, out = cli("search", q["query"])
    why = []
    if rc != 1:
        why.append(f"exit {rc}")
    if "No passages match" not in out or "showing" in out:
        why.append("says: " + " ".join(out.split())[:120])
    if arg.get("suggestion") and "Did you mean" not in out:
        why.append("no suggestion")
    return "; ".join(why)


def ex_highlight_near(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    """``word~``: every highlighted word is a library word within ``dist`` edits of the
    word as typed, or one of its variants (same term); ``has`` are highlighted, ``not``
    never (unless already reported as too far)."""
    word, dist = fold(arg["word"]), arg.get("dist", 2)
    near = ctx.near_terms(word, dist)
    skip = {term(w) for w in arg.get("others", [])}
    seen: Counter = Counter()
    for h in hits_of(d):
        seen.update(w for w in highlighted(h) if term(w) not in skip)
    far = sorted(w for w in seen if term(w) not in near)
    why = []
    if not seen:
        why.append(f"nothing highlighted (total {d.get('total')})")
    if far:
        why.append(f"highlights {', '.join(far[:8])} (not within {dist} edits of “{word}”, "
                   "nor a variant of such a word)")
    miss = [w for w in arg.get("has", []) if w not in seen]
    if miss:
        why.append(f"never highlights {miss}")
    bad = [w for w in arg.get("not", []) if w in seen]
    if bad and not far:
        why.append(f"highlights {bad}")
    return "; ".join(why)


def ex_dates(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    lo, hi = _date_range(arg)
    hits = hits_of(d)
    if not hits:
        return f"no hits (total {d.get('total')})"
    bad = [f"{h.get('doc')} {h.get('date')}" for h in hits
           if not h.get("date") or not lo <= h["date"][:10] <= hi]
    return f"hits dated outside {lo}..{hi}: {bad[:3]}" if bad else ""


def ex_snippet_holds(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    cs, _ = ctx.truth(q["query"])
    bad = []
    for i, h in enumerate(hits_of(d), 1):
        if lacking(h.get("text", ""), "", cs):
            continue
        snip = (h.get("snippet") or "").replace("…", " ")
        lack = lacking(snip, "", cs)
        if lack:
            bad.append(f"{i} lacks {lack}")
    return "snippets of hits " + "; ".join(bad[:4]) if bad else ""


def ex_same_top(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    other = ctx.search(arg)
    a, b = set(ids_of(d)), set(ids_of(other))
    if not b or a != b:
        return f"top 10 shares {len(a & b)} of {len(b)} with “{arg}”"
    return ""


def _holds_form(h: dict[str, Any], form: tuple[str, ...]) -> bool:
    a, b = index_terms(h.get("text") or ""), index_terms(_section(h))
    return _contains(a, form) or _contains(b, form)


def ex_rare_form(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    common, rare = (tuple(query_terms(f)) for f in arg["forms"])
    hits = hits_of(d)[:10]
    n = sum(1 for h in hits if _holds_form(h, rare) and not _holds_form(h, common))
    if not hits:
        return "no hits"
    return (f"{n} of the top {len(hits)} hold only “{arg['forms'][1]}” (at most {arg['max']})"
            if n > arg["max"] else "")


def ex_holds_word(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    hits = hits_of(d)
    if not hits:
        return f"no hits (total {d.get('total')})"
    c = [Concept(arg, [tuple(query_terms(arg))])]
    return f"hit 1 ({hits[0].get('doc')}) lacks “{arg}”" if lacking(
        hits[0].get("text", ""), _section(hits[0]), c) else ""


def ex_min_total(ctx: Context, q: dict[str, Any], d: dict[str, Any], arg: Any) -> str:
    t = d.get("total")
    return "" if isinstance(t, int) and t >= arg else f"total {t} (at least {arg})"


EXPECT: dict[str, Callable[[Context, dict[str, Any], dict[str, Any], Any], str]] = {
    "full_first": ex_full_first, "total_full": ex_total_full, "match_labels": ex_match_labels,
    "partial": ex_partial, "missing_true": ex_missing_true, "docs_top": ex_docs_top,
    "doc_first": ex_doc_first, "all_docs": ex_all_docs, "docs_in": ex_docs_in,
    "not_corrected": ex_not_corrected, "corrected": ex_corrected,
    "cli_no_match": ex_cli_no_match, "highlight_near": ex_highlight_near, "dates": ex_dates,
    "snippet_holds": ex_snippet_holds, "same_top": ex_same_top, "rare_form": ex_rare_form,
    "holds_word": ex_holds_word, "min_total": ex_min_total,
}


def verify(ctx: Context, q: dict[str, Any]) -> list[str]:
    """Check a hand-written query's expectations against the library's text (not kb):
    the problems found (an expectation that is not true of the documents)."""
    lib = ctx.lib
    ex = q["expect"]
    out = []
    unknown = [k for k in ex if k not in EXPECT]
    if unknown:
        out.append(f"unknown expectations {unknown}")
    docs: list[str] = []
    for k in ("doc_first", "all_docs", "docs_in"):
        docs += ex.get(k) or []
    docs += (ex.get("docs_top") or {}).get("docs", [])
    for doc in docs:
        if doc not in ctx.doc_info:
            out.append(f"{doc} is not in the library")
    words_query = re.sub(r"\b(?:symbol|date|doc):\S+(?:\s\(\d{4}\))?", " ", q["query"])
    if q["kind"] in ("symbol", "symbol filter"):
        m = re.search(r"(?:symbol:)?([A-Za-z][A-Za-z0-9.\-]*(?:/[A-Za-z0-9.\-]+)+)", q["query"])
        want = symbol_key(m.group(1)) if m else ""
        for doc in docs:
            fs = symbol_key(file_symbol(doc))
            if not want or fs.split("(")[0] != want.split("(")[0]:
                out.append(f"{doc} is not named {m and m.group(1)}")
    if q["kind"] == "symbol filter" and words_query.strip():
        cs, full = ctx.truth(words_query)
        if not [i for i in full if lib.docs[i] in (ex.get("all_docs") or [])]:
            out.append(f"{ex.get('all_docs')} hold no passage with every concept of "
                       f"“{words_query.strip()}”")
    if q["kind"] not in ("symbol", "symbol filter") and words_query.strip():
        cs, full = ctx.truth(words_query)
        holders = {lib.docs[i] for i in full}
        for doc in [*(ex.get("doc_first") or []), *(ex.get("docs_in") or [])]:
            if doc not in holders:
                out.append(f"{doc} holds no passage with every concept of "
                           f"“{words_query.strip()}”")
        top = (ex.get("docs_top") or {}).get("docs", [])
        for doc in top:
            if doc not in holders:
                out.append(f"{doc} holds no passage with every concept")
    if "dates" in ex:
        lo, hi = _date_range(ex["dates"])
        for doc in ex.get("docs_in") or []:
            a = ctx.adopted.get(doc)
            if not a or not lo <= a <= hi:
                out.append(f"{doc} was adopted {a}, not in {lo}..{hi}")
    if "corrected" in ex:
        for w in re.findall(r"[^\W\d_]+", ex["corrected"]):
            if not lib.words.get(fold(w)) and fold(w) not in STOP_WORDS:
                out.append(f"“{w}” is not a word of the library")
        typos = set(map(fold, re.findall(r"[^\W\d_]+", q["query"]))) - set(
            map(fold, re.findall(r"[^\W\d_]+", ex["corrected"])))
        if not typos:
            out.append("the query has no word that is not in the intended text")
        for w in typos:
            if lib.words.get(w):
                out.append(f"“{w}” is a word of the library")
    if "cli_no_match" in ex:
        for w in re.findall(r"[^\W\d_]+", q["query"]):
            if lib.words.get(fold(w)):
                out.append(f"“{w}” occurs in the library")
    if "holds_word" in ex and not lib.words.get(fold(ex["holds_word"])):
        out.append(f"“{ex['holds_word']}” is not a word of the library")
    if "highlight_near" in ex:
        h = ex["highlight_near"]
        for w in h.get("has", []) + h.get("not", []):
            if not lib.words.get(w):
                out.append(f"“{w}” is not a word of the library")
        for w in h.get("has", []):
            if distance(w, fold(h["word"])) > h.get("dist", 2):
                out.append(f"“{w}” is not near “{h['word']}”")
        near = ctx.near_terms(h["word"], h.get("dist", 2))
        for w in h.get("not", []):
            if term(w) in near:
                out.append(f"“{w}” is near “{h['word']}” (or a variant of a word that is)")
    if "partial" in ex and ctx.full_distinct(q["query"]) >= 10:
        out.append(f"{ctx.full_distinct(q['query'])} full matches: no partial ones on the page")
    if "rare_form" in ex:
        common, rare = (tuple(query_terms(f)) for f in ex["rare_form"]["forms"])
        n = [len(lib.full_matches([Concept(f, [t])])) for f, t in
             zip(ex["rare_form"]["forms"], (common, rare))]
        if not n[1] or n[1] >= n[0]:
            out.append(f"passages with “{ex['rare_form']['forms'][0]}” / "
                       f"“{ex['rare_form']['forms'][1]}”: {n[0]} / {n[1]}")
    if "same_top" in ex:
        a, b = ctx.truth(q["query"])[1], ctx.truth(ex["same_top"])[1]
        if a != b:
            out.append(f"“{q['query']}” and “{ex['same_top']}” are held by different passages "
                       f"({len(a)} / {len(b)})")
    return out


# ======================================================================= the rows


def hand_rows(ctx: Context, queries: list[dict[str, Any]], only: Callable[[str], bool]
              ) -> tuple[list[Row], list[str]]:
    """One row per kind of hand-written query; a query passes when all its expectations
    hold.  Returns the rows and the expectations found untrue of the documents (those
    queries are left out of the counts)."""
    rows: dict[str, Row] = {}
    invalid: list[str] = []
    for q in queries:
        kind = q["kind"]
        if not only(kind):
            continue
        row = rows.setdefault(kind, Row(kind, 1.0, KIND_WHAT.get(kind, "")))
        t0 = time.perf_counter()
        problems = verify(ctx, q)
        if problems:
            invalid.append(f"`{q['query']}`: {'; '.join(problems)}")
            continue
        try:
            d = ctx.search(q["query"], q.get("limit", 10), **_api_filters(q))
            why = []
            for k, arg in q["expect"].items():
                w = EXPECT[k](ctx, q, d, arg)
                if w:
                    why.append(w)
            if d.get("error"):
                why.insert(0, d["error"])
        except Exception as e:  # noqa: BLE001 - a crash in a check is a failed check
            why = [f"{type(e).__name__}: {e}"]
        row.add(not why, f"`{q['query']}`" + (f" ({q['note']})" if q.get("note") else "")
                + ": " + "; ".join(why))
        row.seconds += time.perf_counter() - t0
    return list(rows.values()), invalid


KIND_WHAT = {
    "topic": "topic words: full matches first, total = full matches, expected documents",
    "question": "long questions: concepts are content words; full matches first; true "
                "missing terms",
    "phrase": "quoted phrases: holders first, total, the snippet shows the phrase",
    "acronym": "capitals: never replaced; the acronym's passages",
    "symbol": "a UN symbol (any case, with/without year): that document first",
    "symbol filter": "symbol: clauses: only that document's passages",
    "date": "date: and --since: hits in range; documents adopted then are found",
    "compound": "closed/hyphenated spellings: same top 10; the rare form not favoured",
    "typo": "one or two slips: the intended word's results; unknown word: exit 1 + suggestion",
    "fuzzy": "word~: highlights only words within 2 edits (as written)",
    "partial": "fewer full matches than a page: partial ones follow, labelled, most concepts first",
}


def misspelling_rows(ctx: Context, n: int = 200, acronyms: int = 50, rare_words: int = 50
                     ) -> list[Row]:
    lib = ctx.lib
    rng = random.Random(SEED)
    pool = sorted(w for w, c in lib.lower.items()
                  if c >= 20 and len(w) >= 5 and w not in STOP_LONG and w not in STOP_WORDS
                  and w not in FUNCTION_WORDS)
    rng.shuffle(pool)
    tests: list[tuple[str, str, str, int]] = []
    real: list[tuple[str, str]] = []
    for w in pool:
        if len(tests) >= n:
            break
        op, i, m = misspell(rng, w)
        if lib.words.get(m):
            real.append((m, w))
        else:
            tests.append((m, w, op, i))
    row = Row("misspellings", 0.90, f"{len(tests)} one-edit misspellings of words seen 20+ times: "
              "the intended word's top 10, or corrected to it", target_text="≥ 90%")
    t0 = time.perf_counter()
    by_op: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    first = [0, 0]
    outcome: Counter = Counter()
    for m, w, op, i in tests:
        d = ctx.search(m)
        c = corrected(d)
        meant = ctx.search(w)
        same = bool(ids_of(meant)) and set(ids_of(d)) == set(ids_of(meant))
        ok = (c is not None and fold(c) == w) or same
        by_op[op][0] += ok
        by_op[op][1] += 1
        if i == 0:
            first[0] += ok
            first[1] += 1
        if ok:
            outcome["the intended word" + (" (corrected)" if c else " (same hits)")] += 1
        elif c:
            outcome["corrected to another word"] += 1
        elif not hits_of(d):
            outcome["no hits"] += 1
        else:
            outcome["other hits"] += 1
        shared = len(set(ids_of(d)) & set(ids_of(meant)))
        why = f"corrected to “{c}”" if c else f"{d.get('total')} hits, {shared} of the top 10 shared"
        if d.get("suggestion"):
            why += f", suggests “{d.get('suggestion')}”"
        row.add(ok, f"{m} ({op}) → {w}: {why}")
    row.seconds = time.perf_counter() - t0
    row.notes.append("by edit: " + ", ".join(f"{op} {a}/{b}"
                                             for op, (a, b) in sorted(by_op.items()))
                     + f"; first letter changed {first[0]}/{first[1]}")
    row.notes.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcome.most_common()))
    row.notes.append(f"{len(real)} misspellings were themselves words of the library "
                     f"(skipped here, checked below): " + ", ".join(f"{m} ({w})" for m, w in real))
    # never replace a word the index holds, or one in capitals
    caps = sorted(w for w, c in lib.capitals.items()
                  if 3 <= len(w) <= 8 and w.isalpha() and c >= 5 and not lib.notcaps.get(fold(w))
                  and not re.fullmatch(r"[IVXLCDM]+", w))
    picked = random.Random(SEED + 1).sample(caps, min(acronyms, len(caps)))
    rare_pool = sorted(w for w, c in lib.lower.items() if c <= 2 and len(w) >= 5 and
                       lib.words.get(w) == c)
    rare = random.Random(SEED + 3).sample(rare_pool, min(rare_words, len(rare_pool)))
    rep = Row("replaced", 1.0, f"{len(real)} real-word misspellings, {len(picked)} acronyms and "
              f"{len(rare)} rare words of the library: never replaced", target_text="0 replaced")
    t0 = time.perf_counter()
    for q, why in [(m, f"a word of the library (misspelling of {w})") for m, w in real] + \
                  [(a, "capitals") for a in sorted(picked)] + \
                  [(w, f"a rare word of the library, seen {lib.words[w]}×") for w in sorted(rare)]:
        d = ctx.search(q)
        c = corrected(d)
        rep.add(c is None, f"{q} ({why}) → replaced by “{c}”")
    rep.seconds = time.perf_counter() - t0
    rep.notes.append("acronyms: " + ", ".join(sorted(picked)))
    rep.notes.append("rare words: " + ", ".join(sorted(rare)))
    return [row, rep]


def misspell(rng: random.Random, w: str) -> tuple[str, int, str]:
    """One edit of ``w``: drop, double, swap two neighbours or replace a letter (any
    position); returns (edit, position, misspelling)."""
    while True:
        op = rng.choice(("drop", "double", "swap", "replace"))
        i = rng.randrange(len(w))
        if op == "drop":
            m = w[:i] + w[i + 1:]
        elif op == "double":
            m = w[:i + 1] + w[i] + w[i + 1:]
        elif op == "swap":
            if i == len(w) - 1 or w[i] == w[i + 1]:
                continue
            m = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        else:
            c = rng.choice([x for x in "abcdefghijklmnopqrstuvwxyz" if x != w[i]])
            m = w[:i] + c + w[i + 1:]
        if m != w:
            return op, i, m


def symbol_rows(ctx: Context, n: int = 100) -> list[Row]:
    docs = ctx.docs
    has = Row("symbols: documents with one", 0.98, "documents kb gives a symbol",
              target_text="≥ 98%")
    for d in docs:
        has.add(bool(d.symbol), d.id)
    agree = Row("symbols: agree with file name", 0.98,
                "kb's symbol = the file's name read as a symbol (where the name is plain)",
                target_text="≥ 98%")
    plain = {d.id: file_symbol(d.id) for d in docs}
    for d in docs:
        fs = plain[d.id]
        if fs is None:
            continue
        a, b = symbol_key(d.symbol), symbol_key(fs)
        # the same, or one of them without its year and otherwise the same
        ok = bool(a) and (a == b or (("(" not in a or "(" not in b)
                                     and a.split("(")[0] == b.split("(")[0]))
        agree.add(ok, f"{d.id}: kb {d.symbol!r}, file {fs!r}")
    unread = [k for k, v in plain.items() if v is None]
    agree.notes.append(f"{len(unread)} file names not read as a symbol (not counted): "
                       + ", ".join(unread))
    by_base: dict[str, list[str]] = defaultdict(list)
    for doc, fs in plain.items():
        if fs and typed_symbol(fs):
            by_base[typed_symbol(fs)].append(doc)  # type: ignore[index]
    sample = random.Random(SEED + 2).sample(sorted(by_base), min(n, len(by_base)))
    first = Row("symbols: query → hit 1", 0.98, f"{len(sample)} random symbols typed with /, "
                "lower case, no year: that document is hit 1", target_text="≥ 98%")
    t0 = time.perf_counter()
    for s in sample:
        d = ctx.search(s)
        hits = hits_of(d)
        got = hits[0].get("doc") if hits else None
        first.add(got in by_base[s], f"{s} → {got} (want {' or '.join(by_base[s])}; "
                  f"total {d.get('total')})")
    first.seconds = time.perf_counter() - t0
    return [has, agree, first]


def date_rows(ctx: Context) -> list[Row]:
    has = Row("dates: documents with one", 0.97,
              "documents kb gives a date; each undated one listed", target_text="≥ 97%")
    reasons = 0
    why_of = {d.id: why for d, why in ctx.kb.undated()}  # what `kb docs --undated` says
    for d in ctx.docs:
        why = why_of.get(d.id, "")
        reasons += bool(why) and not d.date
        has.add(bool(d.date), d.id + (f" [{why}]" if why else ""))
    has.notes.append(f"kb gives a reason for {reasons} of the {has.checks - has.passed} "
                     "undated documents (in brackets)")
    agree = Row("dates: agree with adoption line", 0.97, "kb's date = the date of the adoption "
                "line in the first 40 lines (\"Resolution adopted by ... on 19 December 2023\")",
                target_text="≥ 97%")
    for doc, a in sorted(ctx.adopted.items()):
        if a is None:
            continue
        got = ctx.doc_info[doc].date
        agree.add(got == a, f"{doc}: kb {got}, adopted {a}")
    return [has, agree]


EXPORTS = [
    "sexual exploitation and abuse", "protection against retaliation", "sexual harassment",
    "whistle-blower protection", "zero tolerance", "gender parity", "misconduct investigations",
    "plastic pollution", "victim-centred approach", '"women, peace and security"',
    "bystander intervention",
]


def export_rows(ctx: Context) -> list[Row]:
    full = Row("exports: full matches only", 1.0, f"kb export QUERY -o F.jsonl ({len(EXPORTS)} "
               "queries): every passage holds every concept", target_text="100%")
    part = Row("exports --partial: labelled", 1.0, "kb export QUERY --partial: every passage "
               "labelled match full/partial as it holds every concept or not", target_text="100%")
    tmp = Path(tempfile.mkdtemp(prefix="kb-library-"))
    try:
        for k, q in enumerate(EXPORTS):
            cs, _ = ctx.truth(q)
            nfull = ctx.full_distinct(q)
            for partial, row in ((False, full), (True, part)):
                t0 = time.perf_counter()
                out = tmp / f"{k}{'p' if partial else ''}.jsonl"
                rc, msg = cli("export", q, *(["--partial"] if partial else []), "-o", str(out))
                rows, bad = [], []
                if out.exists():
                    for line in out.read_text(encoding="utf-8").splitlines():
                        try:
                            rows.append(json.loads(line))
                        except ValueError:
                            bad.append(line[:40])
                short = " ".join(msg.split())[:160]
                if not partial and nfull == 0:
                    ok = not rows and "--partial" in msg
                    row.add(ok, f"`{q}` (no full match): exit {rc}, {len(rows)} passages, "
                            f"says: {short}")
                    row.seconds += time.perf_counter() - t0
                    continue
                lack = [r for r in rows if lacking(r.get("text", ""), _section(r), cs)]
                if partial:
                    wrong = [r for r in rows if r.get("match") not in ("full", "partial") or
                             (r.get("match") == "full") == bool(
                                 lacking(r.get("text", ""), _section(r), cs))]
                    ok = rc == 0 and rows and not wrong and not bad
                    row.add(bool(ok), f"`{q}`: exit {rc}, {len(rows):,} passages, {len(wrong):,} "
                            f"labelled wrong (or not at all), {len(lack):,} partial by the text"
                            + (f"; says: {short}" if rc else ""))
                else:
                    ok = rc == 0 and rows and not lack and not bad
                    row.add(bool(ok), f"`{q}`: exit {rc}, {len(rows):,} passages, {len(lack):,} "
                            f"lack a concept ({nfull:,} full matches in the library)"
                            + (f"; says: {short}" if rc else ""))
                row.seconds += time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [full, part]


def compound_pairs(lib: Library, min_each: int = 5) -> list[tuple[str, str, int, int]]:
    """(closed, hyphenated, occurrences of each) for every pair with ``min_each`` of both."""
    out = []
    for (a, b), nh in lib.hyphenated.items():
        nc = lib.words.get(a + b, 0)
        if nh >= min_each and nc >= min_each:
            out.append((a + b, f"{a}-{b}", nc, nh))
    return sorted(out)


def compound_rows(ctx: Context) -> list[Row]:
    lib = ctx.lib
    pairs = compound_pairs(lib)
    same = Row("compounds: same top 10", 1.0, f"{len(pairs)} closed/hyphenated pairs with 5+ of "
               "each form: either spelling gives the same top 10", target_text="100%")
    fair = Row("compounds: rare form not favoured", 1.0, "top 10 for the closed spelling: passages "
               "with only the rarer form ≤ max(3, 2 × their share × 10)", target_text="100%")
    t0 = time.perf_counter()
    for closed, hyph, nc, nh in pairs:
        a, b = ctx.search(closed), ctx.search(hyph)
        sa, sb = set(ids_of(a)), set(ids_of(b))
        same.add(bool(sa) and sa == sb, f"{closed} ({nc}) / {hyph} ({nh}): {len(sa & sb)} of "
                 f"{max(len(sa), len(sb))} shared")
        tc, th = tuple(query_terms(closed)), tuple(query_terms(hyph))
        if not tc or not th or tc == th:
            continue
        pc = set(lib.full_matches([Concept(closed, [tc])]))
        ph = set(lib.full_matches([Concept(hyph, [th])]))
        if not pc or not ph:
            continue
        rare, rare_only = ((hyph, ph - pc) if len(ph) < len(pc) else (closed, pc - ph))
        share = len(rare_only) / len(pc | ph)
        limit = max(3, round(2 * share * 10))
        hits = hits_of(a)[:10]
        n = sum(1 for h in hits if lib.by_id.get(h.get("id", "")) in rare_only)
        fair.add(n <= limit, f"{closed}: {n} of the top {len(hits)} hold only “{rare}” "
                 f"({share:.0%} of the passages; at most {limit})")
    same.seconds = fair.seconds = (time.perf_counter() - t0) / 2
    return [same, fair]


_NOT_TITLE = re.compile(
    r"^(?:item\s+\d+|agenda\s+item|(?:resolution|decision)s?\s+adopted|"
    r"adopted\s+by|distr\b|general\s*$|word\s+document\s*$|untitled\s*$|original\s*:)", re.I)
_CUT = re.compile(r"\b(?:and|or|of|the|for|on|in|to|with|by|at|a|an|its|their)\s*$|[,:;\-–]\s*$",
                  re.I)


def title_rows(ctx: Context) -> list[Row]:
    row = Row("titles", 1.0, "no title is an agenda, adoption or distribution line, or cut at a "
              "line wrap (issue item 7)", target_text="100%")
    for d in ctx.docs:
        t = " ".join((d.title or "").split())
        bad = not t or _NOT_TITLE.search(t) or _CUT.search(t)
        row.add(not bad, f"{d.id}: “{t}”")
    return [row]


_PART = r"(?:[IVXL]{1,6}|Annex(?:es)?(?:\s+[IVXL]{1,6})?)\.?"
_PART_LINE = re.compile(rf"^[^\S\n]*{_PART}[^\S\n]*$", re.M)
_GLUED = re.compile(rf"\n[^\S\n]*{_PART}[^\S\n]*$")


def heading_rows(ctx: Context) -> list[Row]:
    lib = ctx.lib
    row = Row("part headings", 1.0, "documents with Roman-numeral or Annex part headings: no "
              "passage ends with one (issue item 9)", target_text="100%")
    glued: dict[str, list[str]] = defaultdict(list)
    for i, t in enumerate(lib.texts):
        if _GLUED.search(t):
            glued[lib.docs[i]].append(lib.ids[i])
    for doc, text in sorted(lib.doc_text.items()):
        if doc.endswith(".txt") and _PART_LINE.search(text):
            row.add(doc not in glued, f"{doc}: {len(glued[doc])} passages end with a part "
                    f"heading ({', '.join(glued[doc][:3])})")
    return [row]


# ======================================================================= report


GENERATED: list[tuple[str, Callable[[Context], list[Row]]]] = [
    ("misspellings", misspelling_rows), ("symbols", symbol_rows), ("dates", date_rows),
    ("exports", export_rows), ("compounds", compound_rows), ("titles", title_rows),
    ("part headings", heading_rows),
]


def pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}%"


def table(rows: list[Row]) -> list[str]:
    L = ["| kind | checks | passed | share | target | result |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        target = r.target_text or ("100%" if r.target >= 1 else f"≥ {r.target:.0%}")
        L.append(f"| {r.kind} | {r.checks} | {r.passed} | {pct(r.share)} | {target} | "
                 f"{'pass' if r.met else '**FAIL**'} |")
    return L


def report(rows: list[Row], invalid: list[str], meta: dict[str, Any], failures_shown: int | None
           ) -> str:
    checks = sum(r.checks for r in rows)
    passed = sum(r.passed for r in rows)
    met = sum(r.met for r in rows)
    L = ["# kb on a real UN library: acceptance benchmark (issue 17)", ""]
    L.append(f"`{meta['argv']}`  ")
    L.append(f"{meta['date']}; kb {meta['commit']}; {meta['nproc']} cores ({meta['cpu']}), "
             f"Python {meta['python']}; load average {meta['load_before']} before, "
             f"{meta['load_after']} after.  ")
    b = meta.get("build") or {}
    L.append(f"Library: {meta['documents']:,} documents, {meta['passages']:,} passages "
             f"({b.get('command', 'kb index')}: {b.get('seconds', float('nan')):.1f} s; "
             f"reading the library here: {meta['load_s']:.1f} s; "
             f"checks: {meta['checks_s']:.1f} s).")
    L.append("")
    L += table(rows)
    L.append("")
    L.append(f"**Rows meeting their target: {met} of {len(rows)}. Checks passed: {passed:,} of "
             f"{checks:,} ({pct(passed / checks if checks else float('nan'))}).**")
    L.append("")
    L.append("Rows: " + "; ".join(f"**{r.kind}**: {r.what} ({r.seconds:.1f} s)"
                                  for r in rows) + ".")
    if invalid:
        L.append("")
        L.append("## Expectations not true of the documents (queries left out)")
        L.append("")
        L += [f"- {x}" for x in invalid]
    L.append("")
    L.append("## Failures")
    for r in rows:
        if not r.failures and not r.notes:
            continue
        L.append("")
        L.append(f"### {r.kind} ({r.checks - r.passed} failed)")
        L.append("")
        for n in r.notes:
            L.append(f"- note: {n}")
        shown = r.failures if failures_shown is None else r.failures[:failures_shown]
        if r.kind.startswith("dates: documents"):  # each undated document, compactly
            L.append("- undated: " + ", ".join(r.failures))
            continue
        L += [f"- {f}" for f in shown]
        if len(shown) < len(r.failures):
            L.append(f"- ... and {len(r.failures) - len(shown)} more (bench/results/library.md)")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-build", action="store_true",
                    help="reuse the built index (kb index still brings it up to date)")
    ap.add_argument("--only", metavar="KIND", action="append",
                    help="only rows of this kind (a hand-written kind such as 'typo', or "
                         "misspellings, symbols, dates, exports, compounds, titles, "
                         "'part headings'); repeatable")
    ap.add_argument("--queries", type=Path, default=QUERIES_FILE)
    ap.add_argument("--failures", type=int, default=40,
                    help="failures printed per row (all of them go to the .md file)")
    a = ap.parse_args(argv)
    args_text = "python bench/library.py " + " ".join(sys.argv[1:] if argv is None else argv)

    def first(s: str) -> str:
        return s.casefold().split()[0].rstrip(":").rstrip("s")

    def only(kind: str) -> bool:
        """``--only symbol`` (or ``symbols``): every row whose kind starts with that word;
        ``--only "symbol filter"``: that kind only."""
        if not a.only:
            return True
        return any(kind.casefold() == o.casefold() if " " in o.strip() else first(kind) == first(o)
                   for o in a.only)

    t_all = time.perf_counter()
    load_before = load()
    build_info = build(a.skip_build)
    kb = KnowledgeBase(corpus=str(CORPUS), index=str(INDEX))
    t0 = time.perf_counter()
    lib = Library.load(kb)
    ctx = Context(kb, lib)
    load_s = time.perf_counter() - t0
    queries = json.loads(a.queries.read_text(encoding="utf-8"))["queries"]
    t0 = time.perf_counter()
    rows, invalid = hand_rows(ctx, queries, only)
    log(f"{sum(r.checks for r in rows)} hand-written queries in {time.perf_counter() - t0:.1f} s")
    for name, fn in GENERATED:
        if not only(name):
            continue
        t1 = time.perf_counter()
        new = fn(ctx)
        rows += new
        log(f"{name}: " + ", ".join(f"{r.passed}/{r.checks}" for r in new)
            + f" in {time.perf_counter() - t1:.1f} s")
    meta = {"argv": args_text, "date": time.strftime("%Y-%m-%d %H:%M"), "commit": kb_commit(),
            "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "load_before": load_before, "load_after": load(), "build": build_info,
            "documents": len(ctx.docs), "passages": len(lib.ids), "load_s": load_s,
            "checks_s": time.perf_counter() - t0}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "library.md").write_text(report(rows, invalid, meta, None), encoding="utf-8")
    (RESULTS / "library.json").write_text(json.dumps({
        "meta": meta, "invalid": invalid,
        "rows": [{"kind": r.kind, "checks": r.checks, "passed": r.passed, "target": r.target,
                  "met": r.met, "seconds": r.seconds, "failures": r.failures, "notes": r.notes}
                 for r in rows]}, indent=1, ensure_ascii=False), encoding="utf-8")
    print(report(rows, invalid, meta, a.failures))
    log(f"written {RESULTS / 'library.md'} ({time.perf_counter() - t_all:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
