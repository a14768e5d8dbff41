"""kb beside SQLite FTS5 and bm25s on real UN documents: warm and one-shot search, build,
index size and incremental updates, same passages and queries, same run.

    python bench/engines.py --sizes 20k               # a quick check
    python bench/engines.py --sizes 200k              # the issue's targets
    python bench/engines.py --sizes 200k --skip-build --oneshot 0 --updates 0 --profile

Corpus.  ``../shared/bench-corpus/docs`` (3,041 UN resolutions and reports, plain
text; see its SOURCES.md) is hard-linked (copied where links fail) under
``copy1/``, ``copy2/``, ... into ``bench/data/engines/<size>/corpus`` (git-ignored)
until kb's passage count reaches the size; the last copy holds a seeded subset of
the files (per-file passage counts come from a one-time calibration index of one
copy, ``bench/data/engines/calib``).  Files are only ever replaced, never written
through a link, so the shared corpus is not touched.

Engines, all on exactly the passages kb indexed (``KnowledgeBase.passages()``
exported to JSON lines: id, doc, date, title, section, text):

* **kb**: warm ``KnowledgeBase.search(q, limit=10)`` (hits with snippets), ranked
  by the array ranker (kb's only ranker);
* **FTS5**: stdlib ``sqlite3``, ``tokenize='porter unicode61'``, columns title,
  section, text weighted as kb's field weights (``kb.models.Scoring``: title 1,
  section 0.5, text 1) in ``bm25()``, ``snippet()`` of 40 tokens, ``LIMIT 10``;
* **bm25s**: numpy BM25 (k1 0.9, b 0.5 as kb's Scoring) over title + section + text, its
  own tokenizer with English stop words and the PyStemmer English stemmer; top 10
  and a 40-word snippet window made in Python.

Queries (``bench/queries-realistic.json``, written once with a fixed seed by
``--write-queries``; ``--queries N`` takes the first N of each type): topics (2-3
words, hand-written and frequent corpus bigrams), 8-12-word questions, quoted
phrases (hand-written and frequent corpus n-grams), wildcards, fuzzy words and
filters (``date:``, ``doc:``).  Translation for the other engines:

* plain words: FTS5 gets the OR of the words minus kb's stop words (kb's total
  counts only the passages holding every word; its partial matches follow); bm25s
  tokenizes the text itself;
* phrases: FTS5 phrase query; bm25s has no phrases: the phrase's words;
* ``word*``: FTS5 prefix query; ``?`` patterns: FTS5 terms from its ``fts5vocab``
  table by GLOB; bm25s: its vocabulary by prefix (bisect) and fnmatch; all timed;
* ``word~``: neither has fuzzy matching: both get the terms kb's own expansion
  matches (the array ranker's ``Ranker.fuzzy_terms`` over the words as written,
  with the edit distance ``kb.query.parse`` gives the word; computed before
  timing, not timed);
* filters: FTS5 as SQL on UNINDEXED date/doc columns; bm25s as a ``weight_mask``
  built per query (timed) from a date array and the doc-sorted passage order.

Measured, per size: warm p50/p95/worst per query type and overall (engines
interleaved query by query; ``--rounds N`` takes each query's median of N), with
ratios; one-shot ``kb search`` (whole process, 10 hits to a pipe) and a
python + sqlite3 FTS5 script, median/max and peak RSS
(``/usr/bin/time -f %M``); build (whole process, passages/s, CPU-s, peak RSS of
the process tree); index size on disk; incremental (``kb index`` after one changed
file, median of 3; then ``--updates`` consecutive updates of 1-200 changed files,
a seeded log-uniform mix; then one file again, the Whoosh segment count and the
warm kb queries again).  Sanity: kb's total beside FTS5's ``count(*)`` of the same
match, and top-10 overlap with FTS5 and bm25s (passage ids with the ``copyN/``
folder dropped, since every copy ties with its twins).

A Markdown report goes to stdout and ``bench/results/engines-<size>.md`` (raw
figures in ``.json``; ``--profile`` adds ``engines-<size>-profile.txt``, cProfile of
the kb warm loop).
"""

from __future__ import annotations

import argparse
import bisect
import fnmatch
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = ROOT.parent / "shared" / "bench-corpus" / "docs"
DATA = HERE / "data" / "engines"
RESULTS = HERE / "results"
QUERIES_FILE = HERE / "queries-realistic.json"
TYPES = ("topic", "question", "phrase", "wildcard", "fuzzy", "filter")
ENGINES = ("kb", "fts5", "bm25s")
STOP = frozenset("""a an and are as at be by for from have if in is it of on or that the
this to us we with yet you your""".split())  # kb.analysis.STOP_WORDS
_COPY = re.compile(r"^copy\d+/")

sys.path.insert(0, str(ROOT))  # this tree's kb
sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import _tree_rss  # noqa: E402 - RSS of a process and its children
from kb.models import Scoring  # noqa: E402

SCORING = Scoring()  # kb's ranking settings: K1 and B for bm25s, field weights for FTS5
K1, B = SCORING.k1, SCORING.b
# as kb's ranker does before importing numpy (bm25s may import it first here)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_size(s: str) -> int:
    s = s.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult)


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ======================================================================= processes


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("KB_CORPUS", "KB_INDEX")}
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["NO_COLOR"] = "1"
    return e


class Run:
    """One whole-process run: wall seconds, CPU seconds, peak RSS, stdout."""

    def __init__(self, cmd: list[str], environ: dict[str, str] | None = None,
                 sample: bool = False, cwd: Path | None = None, ok: tuple[int, ...] = (0, 1)):
        fd, rss_file = tempfile.mkstemp(prefix="kb-engines-rss-")
        os.close(fd)
        # /usr/bin/time: the command's own peak RSS (ru_maxrss of the largest process);
        # sample=True also sums the process tree every 20 ms (build workers)
        full = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file, *cmd]
        peak = [0]
        stop = threading.Event()
        t0 = time.perf_counter()
        p = subprocess.Popen(full, env=environ or env(), cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        err: list[bytes] = []
        threads = [threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)]
        if sample:
            def sampler() -> None:
                while not stop.wait(0.02):
                    peak[0] = max(peak[0], _tree_rss(p.pid))
            threads.append(threading.Thread(target=sampler, daemon=True))
        for th in threads:
            th.start()
        out = p.stdout.read()  # type: ignore[union-attr]
        p.wait()
        self.seconds = time.perf_counter() - t0
        stop.set()
        for th in threads:
            th.join()
        try:
            rss, user, sys_ = Path(rss_file).read_text().split()[-3:]
            self.rss, self.cpu = int(rss) * 1024, float(user) + float(sys_)
        except (OSError, ValueError):
            self.rss, self.cpu = 0, float("nan")
        os.unlink(rss_file)
        self.rss = max(self.rss, peak[0])
        self.out = out.decode("utf-8", "replace")
        self.code = p.returncode
        if p.returncode not in ok:
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                     f"{b''.join(err).decode('utf-8', 'replace')[-3000:]}")


def kb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kb", *args]


# ======================================================================= queries

TOPICS = [
    "climate change", "human rights", "peacekeeping operations", "sustainable development",
    "gender equality", "food security", "nuclear disarmament", "counter-terrorism measures",
    "child soldiers", "sexual violence", "humanitarian assistance", "disaster risk reduction",
    "indigenous peoples", "persons with disabilities", "ocean acidification",
    "small arms", "antipersonnel landmines", "drinking water sanitation",
    "debt relief", "Palestine refugees", "Security Council reform", "cyber security",
    "biological diversity", "illicit drug trafficking", "migrant workers",
    "antimicrobial resistance", "COVID-19 pandemic", "road safety",
    "internally displaced persons", "torture prevention", "decolonization",
    "sanctions regime", "electoral assistance", "maternal mortality",
]

QUESTIONS = [
    "what measures protect women and girls from sexual violence in armed conflict",
    "how does the security council monitor sanctions against armed groups",
    "which countries are most affected by climate change and sea level rise",
    "what support does the united nations give small island developing states",
    "how are peacekeeping operations financed by member states and the assembly",
    "what steps have been taken to eliminate nuclear weapons and their testing",
    "how can developing countries get access to affordable medicines and vaccines",
    "what is the role of civil society in promoting human rights",
    "how should states protect refugees and internally displaced persons from violence",
    "what progress has been made towards the sustainable development goals",
    "how does the general assembly address the question of palestine refugees",
    "what are the obligations of states under international humanitarian law",
    "how can member states prevent the recruitment of children by armed groups",
    "what actions reduce the risk of natural disasters in vulnerable regions",
    "how is the united nations system responding to the covid-19 pandemic",
    "what measures combat illicit trafficking in small arms and light weapons",
    "how do states cooperate to fight terrorism and the financing of terrorism",
    "what are the rights of indigenous peoples over their traditional lands",
    "how can rural areas get access to clean water and sanitation",
    "what is being done to end child labour and forced labour",
    "how should peacekeepers be held accountable for sexual exploitation and abuse",
    "what role do women play in peace negotiations and peacebuilding",
    "how can countries reduce maternal mortality and improve reproductive health",
    "what measures protect journalists and media workers from attacks",
    "how does the international criminal court prosecute war crimes and genocide",
    "what resources are proposed for special political missions in the budget",
    "how can developing countries manage external debt and financial crises",
    "what are the main threats to biodiversity and marine ecosystems",
    "how can states protect the rights of migrant workers and their families",
    "what has the secretary-general reported on the situation in afghanistan",
    "how does the united nations support the organization of democratic elections",
    "what measures ensure education for girls in humanitarian emergencies",
    "how can the international community prevent the use of chemical weapons",
    "what commitments were made for persons with disabilities in development programmes",
    "how should states regulate private military and security companies",
    "what policies reduce food insecurity and hunger in africa",
    "how can information and communications technologies support sustainable development",
    "what is the mandate of the special rapporteur on torture",
    "how do regional organizations cooperate with the security council on peace",
    "what steps protect older persons from neglect abuse and violence",
]

PHRASES = [
    "sexual exploitation and abuse", "rule of law", "persons with disabilities",
    "small island developing states", "women and girls", "international humanitarian law",
    "weapons of mass destruction", "right to development", "freedom of expression",
    "least developed countries", "violence against women", "internally displaced persons",
    "gender-based violence", "responsibility to protect", "maintenance of international peace",
    "illicit financial flows", "universal health coverage", "children and armed conflict",
    "Convention on the Rights of the Child", "two-State solution",
]

WILDCARDS = [
    "peacekeep*", "wom?n", "sanction*", "humanitar*", "terroris*", "refuge*", "disarm*",
    "vaccin*", "genocid*", "decoloni*", "cyber*", "desertif*", "immuni*", "lab?r",
    "child*", "nuclear weap*", "climat* financ*", "m?grant*",
]

FUZZY = [
    "harrasment~", "goverment~", "enviroment~", "refugess~", "peacekeping~", "sustainible~",
    "develpment~", "humanitarain~", "terorism~", "genocde~", "vacination~", "discrimnation~",
    "comittee~", "recomendation~", "sexual harrasment~", "climat~ finance",
]


def _runs(t: str) -> list[list[str]]:
    """Runs of words between punctuation; hyphenated words kept whole (and later skipped
    in n-grams: "high-level political" gives no "level political")."""
    return [[w.lower() for w in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", run)]
            for run in re.split(r"[^\w\s-]", t)]


def _misspell(rng: random.Random, w: str) -> str:
    i = rng.randrange(1, len(w) - 1)  # never the first letter (kb fixes it)
    op = rng.choice(("drop", "double", "swap", "vowel"))
    if op == "drop":
        return w[:i] + w[i + 1:]
    if op == "double":
        return w[:i] + w[i] + w[i:]
    if op == "swap":
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    vowels = "aeiou"
    j = next((k for k in range(i, len(w)) if w[k] in vowels), None)
    if j is None:
        return w[:i] + w[i + 1:]
    return w[:j] + rng.choice([v for v in vowels if v != w[j]]) + w[j + 1:]


def write_queries(source: Path, per_type: int = 40, seed: int = 11) -> dict[str, Any]:
    """Hand-written UN queries plus corpus draws (fixed seed) -> queries-realistic.json."""
    rng = random.Random(seed)
    stop = STOP | set("""was were not but can its than their these those which has had been
    also into more all such other any may shall should would will including under within
    between among upon where whereas out per inter alia december resolution paragraph
    takes note taking""".split())
    c1: Counter[str] = Counter()
    c2: Counter[tuple[str, ...]] = Counter()
    c3: Counter[tuple[str, ...]] = Counter()
    for p in sorted(source.glob("*.txt")):
        for ws in _runs(p.read_text(encoding="utf-8")):
            c1.update(w for w in ws if len(w) >= 7 and w not in stop and "-" not in w)
            for a, b in zip(ws, ws[1:]):
                if a not in stop and b not in stop and len(a) > 3 and len(b) > 3 and \
                        "-" not in a + b:
                    c2[(a, b)] += 1
            for a, b, c in zip(ws, ws[1:], ws[2:]):
                if a not in stop and c not in stop and len(a) > 3 and len(c) > 3 and \
                        "-" not in a + b + c and (b in ("of", "and", "for", "to", "in", "on") or b not in stop):
                    c3[(a, b, c)] += 1

    def fill(hand: list[str], pool: list[str]) -> list[str]:
        out = list(dict.fromkeys(hand))
        pool = [x for x in pool if x not in out]
        rng.shuffle(pool)
        out += pool[: max(0, per_type - len(out))]
        rng.shuffle(out)
        return out[:per_type]

    topics = fill(TOPICS[: per_type * 2 // 3],
                  [" ".join(k) for k, _ in c2.most_common(300)])
    phrases = fill([f'"{p}"' for p in PHRASES],
                   ['"%s"' % " ".join(k) for k, _ in c3.most_common(300)
                    if k[1] not in stop or k[1] in ("of", "and", "for")])
    frequent = [w for w, _ in c1.most_common(600)]
    gen_wild = []
    for w in rng.sample(frequent, 80):
        stem = w[: rng.randint(5, min(7, len(w) - 1))]
        if rng.random() < 0.25:
            i = rng.randrange(2, len(stem) - 1)
            stem = stem[:i] + "?" + stem[i + 1:]
        gen_wild.append(stem + "*")
    wildcards = fill(WILDCARDS, gen_wild)
    gen_fuzzy = [_misspell(rng, w) + "~" for w in rng.sample(frequent, 80)]
    fuzzy = fill(FUZZY, gen_fuzzy)
    questions = fill([q for q in QUESTIONS if 8 <= len(q.split()) <= 12], [])
    filt_topics = [t for t in topics if "-" not in t][:per_type]
    filters = []
    forms = ["date:>2015 {t}", "date:[2000 to 2010] {t}", "date:2020 {t}", "doc:copy1/* {t}",
             "doc:copy1/S_RES* {t}", "date:<2005 {t}", "doc:copy1/A_RES* {t}",
             "date:>2020 {t}"]
    for i in range(per_type):
        filters.append(forms[i % len(forms)].format(t=filt_topics[i % len(filt_topics)]))
    filters[0] = "date:>2015 climate"
    filters[3] = "doc:copy1/* human rights"
    data = {
        "about": "bench/engines.py --write-queries: hand-written UN queries plus corpus "
                 f"draws from {source.name}/ (frequent bigrams, 3-grams, words), seed {seed}",
        "types": {"topic": topics, "question": questions, "phrase": phrases,
                  "wildcard": wildcards, "fuzzy": fuzzy, "filter": filters},
    }
    QUERIES_FILE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return data


def read_queries(n: int) -> list[tuple[str, str]]:
    data = json.loads(QUERIES_FILE.read_text(encoding="utf-8"))
    return [(t, q) for t in TYPES for q in data["types"][t][:n]]


# ----------------------------------------------------------------------- translation

_FILTER = re.compile(r'(?:(?<=\s)|^)(date|doc):(\[[^\]]*\]|\S+)')


def split_query(q: str) -> tuple[str, list[tuple[str, str]]]:
    filters = _FILTER.findall(q)
    return _FILTER.sub(" ", q).strip(), filters


def date_range(spec: str) -> tuple[str | None, str | None]:
    """A kb date filter (years only here) as an ISO half-open range [lo, hi) of strings,
    with kb's (Whoosh's date parser's) meaning: ``>2015`` is after 2015-01-01 (so most
    of 2015 is in), ``<2005`` is before the end of 2005 (all of 2005 is in)."""
    def nxt(y: str) -> str:
        return str(int(y[:4]) + 1)
    if spec.startswith(">"):
        return spec[1:5] + "-01-02", None
    if spec.startswith("<"):
        return None, nxt(spec[1:])
    m = re.match(r"\[(\S+) to (\S+)\]", spec)
    if m:
        return m.group(1), nxt(m.group(2))
    return spec, nxt(spec)


def items(text: str) -> list[tuple[str, str]]:
    """(kind, token) for the query text: phrase, wild, fuzzy or word."""
    out = []
    for m in re.finditer(r'"([^"]*)"|(\S+)', text):
        if m.group(1) is not None:
            out.append(("phrase", m.group(1)))
            continue
        tok = m.group(2)
        if re.search(r"~\d*$", tok):
            out.append(("fuzzy", tok))
        elif "*" in tok or "?" in tok:
            out.append(("wild", tok.lower()))
        else:
            for w in re.findall(r"[\w'’]+(?:-[\w'’]+)*", tok):
                if w.lower() not in STOP:
                    out.append(("word", w))
    return out


def _fts_quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def kb_expansions(corpus: Path, index: Path, queries: list[tuple[str, str]]
                  ) -> dict[str, list[str]]:
    """For each fuzzy token: the index terms (kb stems) kb's search matches for it: the
    token parsed by ``kb.query.parse`` (its edit distance: ``~N`` or kb's default by
    length, and whether only the nearest words count), expanded by the array ranker's
    ``Ranker.fuzzy_terms`` over the words as written, as a search does."""
    from kb import KnowledgeBase
    from kb.query import parse

    out: dict[str, list[str]] = {}
    kb = KnowledgeBase(corpus=corpus, index=index)
    try:
        rk = kb._open(ranker=True).engine.ranker
        for _t, q in queries:
            for kind, tok in items(split_query(q)[0]):
                if kind != "fuzzy" or tok in out:
                    continue
                terms: set[str] = set()
                for c in parse(tok).concepts():
                    if c.kind == "fuzzy":
                        terms.update(rk.fuzzy_terms(c.terms[0], c.maxdist, c.nearest))
                out[tok] = sorted(terms)
    finally:
        kb.close()
    return out


# ======================================================================= corpus


def calibration(source: Path, seed_files: int = 7) -> dict[str, int]:
    """Passages per source file, from kb's index of one copy (built once)."""
    path = DATA / "calib.json"
    if path.exists():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    cdir = DATA / "calib"
    corpus = cdir / "corpus"
    if not (corpus / "copy1").exists():
        link_tree(source, corpus / "copy1", sorted(p.name for p in source.glob("*.txt")))
    if not (cdir / "index" / "kb-index.json").exists():
        log("calibration: indexing one copy of the corpus (once)")
        Run(kb_cmd("index", "--rebuild", "--corpus", str(corpus), "--index",
                   str(cdir / "index")), ok=(0,))
    code = ("import json,sys\nfrom kb import KnowledgeBase\n"
            "k=KnowledgeBase(corpus=sys.argv[1],index=sys.argv[2])\n"
            "print(json.dumps({d.id.split('/',1)[1]: d.passages for d in k.documents()}))")
    counts = json.loads(Run([sys.executable, "-c", code, str(corpus), str(cdir / "index")],
                            ok=(0,)).out)
    path.write_text(json.dumps(counts))
    return counts  # type: ignore[no-any-return]


def link_tree(source: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        d = dest / n
        if d.exists():
            continue
        try:
            os.link(source / n, d)
        except OSError:
            shutil.copy2(source / n, d)


def make_corpus(corpus: Path, n: int, source: Path, counts: dict[str, int]) -> int:
    """copy1..copyK of the source, the last one a seeded subset; returns the estimate."""
    names = sorted(counts)
    per_copy = sum(counts.values())
    full, rest = divmod(n, per_copy)
    order = names[:]
    random.Random(7).shuffle(order)
    partial: list[str] = []
    got = 0
    for name in order:
        if got >= rest:
            break
        partial.append(name)
        got += counts[name]
    if (corpus / ".complete").exists():
        return full * per_copy + got
    shutil.rmtree(corpus, ignore_errors=True)
    for k in range(1, full + 1):
        link_tree(source, corpus / f"copy{k}", names)
    if partial:
        link_tree(source, corpus / f"copy{full + 1}", sorted(partial))
    (corpus / ".complete").write_text(f"{full} full copies + {len(partial)} files\n")
    return full * per_copy + got


def pristine(corpus: Path, source: Path) -> list[Path]:
    """Put back every corpus file that differs from its source (an interrupted run's
    updates); returns those put back."""
    fixed = []
    for p in sorted(corpus.glob("copy*/*")):
        src = source / p.name
        if not src.exists():
            p.unlink()
            fixed.append(p)
            continue
        try:
            if os.path.samefile(p, src):
                continue
        except OSError:
            pass
        if p.read_bytes() == src.read_bytes():
            continue
        p.unlink()
        link_tree(source, p.parent, [p.name])
        fixed.append(p)
    return fixed


# ======================================================================= builds

EXPORT = r"""
import json, sys
from kb import KnowledgeBase
kb = KnowledgeBase(corpus=sys.argv[1], index=sys.argv[2])
n = 0
with open(sys.argv[3], "w", encoding="utf-8") as f:
    for p in kb.passages():
        f.write(json.dumps({"id": p.id, "doc": p.doc, "date": p.date, "title": p.title,
                            "section": p.section, "text": p.text}, ensure_ascii=False) + "\n")
        n += 1
print(n)
"""

FTS_BUILD = r"""
import json, sqlite3, sys
src, db = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=OFF"); con.execute("PRAGMA synchronous=OFF")
con.execute("CREATE VIRTUAL TABLE p USING fts5(id UNINDEXED, doc UNINDEXED, date UNINDEXED, "
            "title, section, text, tokenize='porter unicode61')")
def rows():
    with open(src, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield r["id"], r["doc"], r["date"], r["title"], r["section"], r["text"]
with con:
    con.executemany("INSERT INTO p VALUES (?,?,?,?,?,?)", rows())
con.execute("INSERT INTO p(p) VALUES('optimize')")
con.execute("CREATE VIRTUAL TABLE pv USING fts5vocab(p, 'row')")
con.commit()
print(con.execute("SELECT count(*) FROM p").fetchone()[0])
"""

BM25S_BUILD = r"""
import json, sys
import bm25s, Stemmer
src, out, k1, b = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
texts = []
with open(src, encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        texts.append(f"{r['title']}\n{r['section']}\n{r['text']}")
tokens = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"),
                        show_progress=False)
del texts
ret = bm25s.BM25(k1=k1, b=b)
ret.index(tokens, show_progress=False)
ret.save(out)
print(ret.scores["num_docs"])
"""

# columns id, doc, date (unindexed: weight 0), then title, section, text weighted as kb's
FTS_SQL = ("SELECT id, doc, title, section, snippet(p, 5, '[', ']', '…', 40) FROM p "
           "WHERE p MATCH ?{extra} ORDER BY "
           f"bm25(p, 0, 0, 0, {SCORING.title:g}, {SCORING.section:g}, {SCORING.text:g}) "
           "LIMIT 10")

FTS_ONESHOT = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
sql = sys.argv[2]
for i, r in enumerate(con.execute(sql, tuple(sys.argv[3:])), 1):
    print(i, r[0], r[2], r[3], r[4], sep="  ")
"""


def dir_size(path: Path, match: Callable[[str], bool] = lambda n: True) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and match(f.name))


def build_all(r: dict[str, Any], d: Path) -> None:
    corpus, index = d / "corpus", d / "index"
    jsonl, db, bdir = d / "passages.jsonl", d / "fts.db", d / "bm25s"
    shutil.rmtree(index, ignore_errors=True)
    log(f"kb index --rebuild (load {load()})")
    run = Run(kb_cmd("index", "--rebuild", "--corpus", str(corpus), "--index", str(index)),
              sample=True, ok=(0,))
    r["build"]["kb"] = {"s": run.seconds, "cpu": run.cpu, "rss": run.rss, "load": load()}
    log(f"kb build {run.seconds:.1f} s, {run.cpu:.1f} CPU-s, {run.rss / 2**20:.0f} MB")
    run = Run([sys.executable, "-c", EXPORT, str(corpus), str(index), str(jsonl)], ok=(0,))
    r["passages"] = int(run.out)
    r["build"]["export"] = {"s": run.seconds, "rss": run.rss}
    log(f"exported {r['passages']:,} passages in {run.seconds:.1f} s")
    db.unlink(missing_ok=True)
    run = Run([sys.executable, "-c", FTS_BUILD, str(jsonl), str(db)], sample=True, ok=(0,))
    assert int(run.out) == r["passages"], run.out
    r["build"]["fts5"] = {"s": run.seconds, "cpu": run.cpu, "rss": run.rss}
    log(f"FTS5 build {run.seconds:.1f} s")
    shutil.rmtree(bdir, ignore_errors=True)
    run = Run([sys.executable, "-c", BM25S_BUILD, str(jsonl), str(bdir), str(K1), str(B)],
              sample=True, ok=(0,))
    assert int(run.out) == r["passages"], run.out
    r["build"]["bm25s"] = {"s": run.seconds, "cpu": run.cpu, "rss": run.rss}
    log(f"bm25s build {run.seconds:.1f} s")


# ======================================================================= engines


class KbEngine:
    def __init__(self, corpus: Path, index: Path):
        from kb import KnowledgeBase

        self.kb = KnowledgeBase(corpus=corpus, index=index)

    def search(self, q: str) -> tuple[int, list[str]]:
        res = self.kb.search(q, limit=10)
        # every passage matched: full matches and partial ones (holding some of the
        # words), as FTS5's OR of the words counts them
        return res.total + res.partial, [h.id for h in res.hits]

    def close(self) -> None:
        self.kb.close()


class FtsEngine:
    def __init__(self, db: Path, expansions: dict[str, list[str]]):
        self.con = sqlite3.connect(db)
        self.exp = expansions

    def prepare(self, q: str) -> tuple[str, list[str], list[Any]]:
        text, filters = split_query(q)
        extra, params = [], []
        for field, spec in filters:
            if field == "date":
                lo, hi = date_range(spec)
                if lo:
                    extra.append("date >= ?")
                    params.append(lo)
                if hi:
                    extra.append("date < ?")
                    params.append(hi)
                if not lo:
                    extra.append("date IS NOT NULL")
            else:
                extra.append("doc GLOB ?")
                params.append(spec)
        return text, extra, params

    def match(self, text: str) -> str | None:
        parts = []
        for kind, tok in items(text):
            if kind == "phrase":
                parts.append(_fts_quote(tok))
            elif kind == "word":
                parts.append(_fts_quote(tok))
            elif kind == "fuzzy":
                parts += [_fts_quote(t) for t in self.exp.get(tok, [])]
            else:  # wildcard
                if "?" not in tok and tok.endswith("*") and "*" not in tok[:-1]:
                    parts.append(_fts_quote(tok[:-1]) + " *")
                    continue
                lit = re.split(r"[*?\[]", tok, 1)[0]
                rows = self.con.execute(
                    "SELECT term FROM pv WHERE term >= ? AND term < ? AND term GLOB ?",
                    (lit, lit + "\U0010ffff", tok)).fetchall()
                parts += [_fts_quote(t) for (t,) in rows]
        return " OR ".join(parts) if parts else None

    def search(self, q: str) -> tuple[int, list[str]]:
        text, extra, params = self.prepare(q)
        m = self.match(text)
        if m is None:
            return 0, []
        sql = FTS_SQL.format(extra="".join(" AND " + e for e in extra))
        rows = self.con.execute(sql, (m, *params)).fetchall()
        return -1, [r[0] for r in rows]

    def count(self, q: str) -> int:
        text, extra, params = self.prepare(q)
        m = self.match(text)
        if m is None:
            return 0
        sql = "SELECT count(*) FROM p WHERE p MATCH ?" + "".join(" AND " + e for e in extra)
        return int(self.con.execute(sql, (m, *params)).fetchone()[0])

    def oneshot_args(self, q: str) -> list[str] | None:
        text, extra, params = self.prepare(q)
        m = self.match(text)
        if m is None:
            return None
        return [FTS_SQL.format(extra="".join(" AND " + e for e in extra)), m, *params]

    def close(self) -> None:
        self.con.close()


class Bm25sEngine:
    def __init__(self, bdir: Path, jsonl: Path, expansions: dict[str, list[str]]):
        import bm25s
        import numpy as np
        import Stemmer

        self.np, self.bm25s = np, bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.ret = bm25s.BM25.load(str(bdir))
        self.ids, self.docs, self.titles, self.sections, self.texts = [], [], [], [], []
        dates = []
        with open(jsonl, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                self.ids.append(r["id"])
                self.docs.append(r["doc"])
                self.titles.append(r["title"])
                self.sections.append(r["section"])
                self.texts.append(r["text"])
                dates.append(r["date"] or "")
        self.dates = np.array([int(d.replace("-", "")[:8].ljust(8, "0")) if d else 0
                               for d in dates], np.int64)
        self.vocab = sorted(self.ret.vocab_dict)
        self.n = len(self.ids)
        self.exp = {tok: [t for t in ts if t in self.ret.vocab_dict]
                    for tok, ts in expansions.items()}

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        plain = [tok for kind, tok in items(text) if kind in ("phrase", "word")]
        if plain:
            out += self.bm25s.tokenize(" ".join(plain), stopwords="en", stemmer=self.stemmer,
                                       return_ids=False, show_progress=False)[0]
        for kind, tok in items(text):
            if kind in ("phrase", "word"):
                continue
            if kind == "fuzzy":
                out += self.exp.get(tok, [])
            else:
                lit = re.split(r"[*?\[]", tok, 1)[0]
                i = bisect.bisect_left(self.vocab, lit)
                j = bisect.bisect_left(self.vocab, lit + "\U0010ffff")
                out += [t for t in self.vocab[i:j] if fnmatch.fnmatchcase(t, tok)]
        return [t for t in out if t in self.ret.vocab_dict]

    def mask(self, filters: list[tuple[str, str]]) -> Any:
        np = self.np
        m = np.ones(self.n, np.float32)
        for field, spec in filters:
            if field == "date":
                lo, hi = date_range(spec)
                d = self.dates
                keep = d > 0
                if lo:
                    keep &= d >= int(lo.replace("-", "").ljust(8, "0"))
                if hi:
                    keep &= d < int(hi.replace("-", "").ljust(8, "0"))
                m *= keep
            else:  # doc:PREFIX* — passages are in doc order: one range
                lit = spec.rstrip("*")
                i = bisect.bisect_left(self.docs, lit)
                j = bisect.bisect_left(self.docs, lit + "\U0010ffff")
                keep = np.zeros(self.n, np.float32)
                keep[i:j] = 1
                m *= keep
        return m

    def snippet(self, i: int, stems: set[str], words: int = 40) -> str:
        ws = self.texts[i].split()
        start = 0
        for k, w in enumerate(ws):
            if self.stemmer.stemWord(w.strip(".,;:()\"'").lower()) in stems:
                start = max(0, k - 5)
                break
        return " ".join(ws[start:start + words])

    def search(self, q: str) -> tuple[int, list[str]]:
        text, filters = split_query(q)
        toks = self.tokens(text)
        if not toks:
            return 0, []
        mask = self.mask(filters) if filters else None
        docs, scores = self.ret.retrieve([toks], k=10, show_progress=False, weight_mask=mask)
        stems = set(toks)
        hits = []
        for i, sc in zip(docs[0].tolist(), scores[0].tolist()):
            if sc <= 0:
                continue
            hits.append((self.ids[i], self.titles[i], self.sections[i], self.snippet(i, stems)))
        return -1, [h[0] for h in hits]

    def close(self) -> None:
        pass


# ======================================================================= measuring


def warm(engines: dict[str, Any], queries: list[tuple[str, str]], rounds: int
         ) -> dict[str, dict[str, Any]]:
    """Per engine, per query: median seconds over ``rounds``, total and hit ids."""
    out: dict[str, dict[str, Any]] = {e: {} for e in engines}
    for name, eng in engines.items():  # warm-up: lazy arrays, caches, page cache
        for q in ("united nations", '"general assembly"', "peace*", "date:>2000 peace",
                  "doc:copy1/* peace", "securty~"):
            eng.search(q)
    for rnd in range(rounds):
        for i, (_t, q) in enumerate(queries):
            for name, eng in engines.items():
                t0 = time.perf_counter()
                total, ids = eng.search(q)
                el = time.perf_counter() - t0
                rec = out[name].setdefault(q, {"times": [], "total": total, "ids": ids})
                rec["times"].append(el)
            if (i + 1) % 20 == 0:
                log(f"  round {rnd + 1}: {i + 1}/{len(queries)} queries (load {load()})")
    for name in out:
        for rec in out[name].values():
            rec["s"] = statistics.median(rec["times"])
    return out


def summarise(res: dict[str, Any], queries: list[tuple[str, str]]) -> dict[str, tuple]:
    """type -> (p50, p95, worst, worst query) in seconds, plus 'all'."""
    out = {}
    for t in (*TYPES, "all"):
        qs = [q for tt, q in queries if t in ("all", tt)]
        if not qs:
            continue
        xs = [res[q]["s"] for q in qs]
        worst = max(qs, key=lambda q: res[q]["s"])
        out[t] = (pct(xs, 0.5), pct(xs, 0.95), max(xs), worst)
    return out


def oneshot(d: Path, queries: list[tuple[str, str]], count: int, fts: FtsEngine
            ) -> dict[str, Any]:
    rng = random.Random(5)
    by_type = {t: [q for tt, q in queries if tt == t] for t in TYPES}
    shots = []
    while len(shots) < count:
        for t in TYPES:
            if by_type[t] and len(shots) < count:
                shots.append(rng.choice(by_type[t]))
    corpus, index, db = d / "corpus", d / "index", d / "fts.db"
    names = ["kb", "fts5", "python"]
    res: dict[str, Any] = {e: {"s": [], "rss": []} for e in names}
    for q in shots:
        run = Run(kb_cmd("search", q, "--corpus", str(corpus), "--index", str(index)), cwd=d)
        res["kb"]["s"].append(run.seconds)
        res["kb"]["rss"].append(run.rss)
        args = fts.oneshot_args(q)
        if args is not None:
            run = Run([sys.executable, "-c", FTS_ONESHOT, str(db), *args])
            res["fts5"]["s"].append(run.seconds)
            res["fts5"]["rss"].append(run.rss)
        run = Run([sys.executable, "-c", "pass"])
        res["python"]["s"].append(run.seconds)
        res["python"]["rss"].append(run.rss)
    res["queries"] = shots
    for name in names:
        s = res[name]["s"]
        log(f"one-shot {name}: median {statistics.median(s) * 1e3:.0f} ms, max "
            f"{max(s) * 1e3:.0f} ms, RSS {max(res[name]['rss']) / 2**20:.0f} MB")
    return res


def segment_count(index: Path) -> int:
    from kb.store import open_generation

    gen = open_generation(index, load_table=False)
    try:
        return len(gen.engine.reader.leaf_readers())
    finally:
        gen.close()


def incremental(r: dict[str, Any], d: Path, source: Path, updates: int,
                queries: list[tuple[str, str]], rounds: int) -> None:
    corpus, index = d / "corpus", d / "index"
    files = sorted(corpus.glob("copy*/*.txt"))
    rng = random.Random(23)
    donors = []
    for p in rng.sample(sorted(source.glob("*.txt")), 60):
        donors += [x for x in p.read_text(encoding="utf-8").split("\n\n") if len(x) > 200]
    serial = [0]

    def change(paths: list[Path]) -> float:
        for p in paths:
            serial[0] += 1
            data = p.read_bytes()
            p.unlink()  # never write through a hard link into the shared corpus
            extra = f"\n\n{serial[0]}. Update {serial[0]}: {rng.choice(donors)}\n"
            p.write_bytes(data + extra.encode("utf-8"))
        run = Run(kb_cmd("index", "--corpus", str(corpus), "--index", str(index)),
                  cwd=d, ok=(0,))
        return run.seconds

    inc: dict[str, Any] = {"segments_before": segment_count(index)}
    (d / ".dirty").write_text("incremental run in progress\n")
    inc["one_file"] = [change([rng.choice(files)]) for _ in range(3)]
    log(f"one changed file: {[round(x, 2) for x in inc['one_file']]} s")
    sizes = [min(200, int(round(math.exp(rng.uniform(0, math.log(200))))))
             for _ in range(updates)]
    inc["sizes"], inc["times"], inc["segments"] = sizes, [], []
    for i, k in enumerate(sizes):
        inc["times"].append(change(rng.sample(files, k)))
        inc["segments"].append(segment_count(index))
        if (i + 1) % 10 == 0:
            log(f"  update {i + 1}/{updates}: {k} files {inc['times'][-1]:.1f} s, "
                f"{inc['segments'][-1]} segments (load {load()})")
    if updates:
        inc["one_file_after"] = [change([rng.choice(files)]) for _ in range(3)]
        inc["segments_after"] = segment_count(index)
        log(f"after {updates} updates: one file {inc['one_file_after']}, "
            f"{inc['segments_after']} segments")
        engines = {"kb": KbEngine(corpus, index)}
        res = warm(engines, queries, rounds)
        for e in engines.values():
            e.close()
        inc["warm"] = {n: summarise(res[n], queries) for n in res}
    fixed = pristine(corpus, source)
    run = Run(kb_cmd("index", "--corpus", str(corpus), "--index", str(index)), cwd=d, ok=(0,))
    inc["restore"] = {"files": len(fixed), "s": run.seconds,
                      "segments": segment_count(index)}
    (d / ".dirty").unlink()
    log(f"restored {len(fixed)} files: kb index {run.seconds:.1f} s")
    r["incremental"] = inc


def sanity(res: dict[str, Any], queries: list[tuple[str, str]], fts: FtsEngine
           ) -> dict[str, Any]:
    """kb's totals beside FTS5's counts, top-10 overlap."""
    out: dict[str, Any] = {"fts_count": {}}
    for t, q in queries:
        a = res["kb"][q]["total"]
        f = fts.count(q)
        # kb's full + partial matches vs FTS5's count of the OR of the words (different
        # tokenizers; kb's title ranks, never matches: equal, within 2%, off)
        c = out["fts_count"].setdefault(t, [0, 0, 0])
        c[0 if a == f else 1 if abs(a - f) <= 0.02 * max(a, f, 1) else 2] += 1

    def keys(ids: list[str]) -> set[str]:
        return {_COPY.sub("", i) for i in ids}

    ov: dict[str, dict[str, list[float]]] = {}
    for t, q in queries:
        a = keys(res["kb"][q]["ids"])
        if not a:
            continue
        for other in [e for e in res if e != "kb"]:
            o = keys(res[other][q]["ids"])
            ov.setdefault(other, {}).setdefault(t, []).append(len(a & o) / len(a))
    out["overlap"] = {o: {t: statistics.mean(v) for t, v in d.items()} for o, d in ov.items()}
    return out


def profile_kb(eng: KbEngine, queries: list[tuple[str, str]], path: Path) -> str:
    import cProfile
    import io
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    for _t, q in queries:
        eng.search(q)
    pr.disable()
    buf = io.StringIO()
    st = pstats.Stats(pr, stream=buf)
    st.sort_stats("tottime").print_stats(30)
    st.sort_stats("cumulative").print_stats(40)
    path.write_text(buf.getvalue())
    return buf.getvalue()


# ======================================================================= report


def ms(s: float) -> str:
    return f"{s * 1e3:.1f}" if s < 0.1 else f"{s * 1e3:.0f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b and b == b and a == a else "n/a"


def report(r: dict[str, Any], argv: list[str]) -> str:
    n = r["passages"]
    engs = r["engines"]
    others = [e for e in engs if e != "kb"]
    L: list[str] = []
    L.append(f"# kb vs SQLite FTS5 vs bm25s: {n:,} passages ({r['label']})")
    L.append("")
    L.append(f"`{' '.join(argv)}`  ")
    m = r["machine"]
    L.append(f"{m['date']}; {m['nproc']} cores ({m['cpu']}), Python {m['python']}, "
             f"SQLite {m['sqlite']}, numpy {m['numpy']}, bm25s {m['bm25s']}, kb "
             f"{m['commit']}; load average before {r['load_before']}, after {r['load_after']}.  ")
    L.append(f"Corpus: {r['corpus_note']}; {r['documents']:,} files. Queries: "
             f"{r['nq']} per type ({len(r['queries'])} in all), {r['rounds']} round(s), "
             "engines interleaved query by query.")
    L.append("")
    w = r.get("warm")
    if w:
        L.append("## Warm search (10 hits with snippets), ms: p50 / p95 / worst")
        L.append("")
        L.append("| query type | " + " | ".join(engs) + " | " +
                 " | ".join(f"kb ÷ {o} (p50, p95)" for o in others) + " |")
        L.append("|---|" + "---|" * (len(engs) + len(others)))
        for t in (*TYPES, "all"):
            if t not in w["kb"]:
                continue
            cells = []
            for e in engs:
                p50, p95, worst, _q = w[e][t]
                cells.append(f"{ms(p50)} / {ms(p95)} / {ms(worst)}")
            a = w["kb"][t]
            rat = [f"{ratio(a[0], w[o][t][0])}, {ratio(a[1], w[o][t][1])}"
                   for o in others]
            name = "**all**" if t == "all" else t
            L.append(f"| {name} | " + " | ".join(cells + rat) + " |")
        L.append("")
        L.append("Worst query per engine: " + "; ".join(
            f"{e} `{w[e]['all'][3]}` ({ms(w[e]['all'][2])} ms)" for e in engs) + ".")
        slow = sorted(r["per_query"].items(), key=lambda kv: -kv[1]["kb"])[:6]
        L.append("")
        L.append(f"Slowest kb queries (ms, {' / '.join(engs)}): " + "; ".join(
            f"`{q}` " + " / ".join(ms(v[e]) for e in engs) for q, v in slow) + ".")
        L.append("")
        L.append(f"First search after opening the index (kb, `security council`): "
                 f"{ms(r['first_search_s'])} ms.")
        L.append("")
    L.append("## Build, size, one-shot")
    L.append("")
    L.append("| | kb | FTS5 | bm25s | kb ÷ FTS5 | kb ÷ bm25s |")
    L.append("|---|---|---|---|---|---|")
    b = r.get("build") or {}
    if "kb" in b:
        def rate(e: str) -> float:
            return n / b[e]["s"]
        L.append(f"| build, s (whole process) | {b['kb']['s']:.1f} | {b['fts5']['s']:.1f} | "
                 f"{b['bm25s']['s']:.1f} | {ratio(b['kb']['s'], b['fts5']['s'])} | "
                 f"{ratio(b['kb']['s'], b['bm25s']['s'])} |")
        L.append(f"| build, passages/s | {rate('kb'):,.0f} | {rate('fts5'):,.0f} | "
                 f"{rate('bm25s'):,.0f} | | |")
        L.append(f"| build, passages per CPU-s | {n / b['kb']['cpu']:,.0f} | "
                 f"{n / b['fts5']['cpu']:,.0f} | {n / b['bm25s']['cpu']:,.0f} | | |")
        L.append(f"| build peak RSS (process tree) | {b['kb']['rss'] / 2**20:,.0f} MB | "
                 f"{b['fts5']['rss'] / 2**20:,.0f} MB | {b['bm25s']['rss'] / 2**20:,.0f} MB | | |")
        L.append(f"| (export of kb's passages for FTS5/bm25s) | {b['export']['s']:.1f} s | | | | |")
    sz = r["size"]
    L.append(f"| index on disk, MB | {sz['kb'] / 2**20:,.0f} (Whoosh {sz['kb_whoosh'] / 2**20:,.0f}"
             f" + arrays {sz['kb_arrays'] / 2**20:,.0f}) | {sz['fts5'] / 2**20:,.0f} | "
             f"{sz['bm25s'] / 2**20:,.0f} (no text) | {ratio(sz['kb'], sz['fts5'])} | "
             f"{ratio(sz['kb'], sz['bm25s'])} |")
    L.append(f"| Whoosh segments | {r['segments']} | | | | |")
    o = r.get("oneshot")
    if o:
        def med(e: str) -> float:
            return statistics.median(o[e]["s"])
        L.append(f"| one-shot search, median / max ms | {ms(med('kb'))} / "
                 f"{ms(max(o['kb']['s']))} | {ms(med('fts5'))} / {ms(max(o['fts5']['s']))}"
                 f" | n/a | {ratio(med('kb'), med('fts5'))} | |")
        L.append(f"| one-shot peak RSS, MB | {max(o['kb']['rss']) / 2**20:.0f} | "
                 f"{max(o['fts5']['rss']) / 2**20:.0f} | | | |")
        L.append(f"| (`python -c pass`, median ms / RSS MB) | {ms(med('python'))} / "
                 f"{max(o['python']['rss']) / 2**20:.0f} | | | | |")
    L.append("")
    inc = r.get("incremental")
    if inc:
        L.append("## Incremental (`kb index`, whole process)")
        L.append("")
        L.append("| | seconds / count |")
        L.append("|---|---|")
        L.append(f"| one changed file: median (max) of 3 | {statistics.median(inc['one_file']):.2f}"
                 f" ({max(inc['one_file']):.2f}) s |")
        if inc.get("times"):
            t = inc["times"]
            L.append(f"| {len(t)} updates of 1-200 files ({sum(inc['sizes']):,} files): "
                     f"median / max | {statistics.median(t):.2f} / {max(t):.2f} s |")
            big = [x for x, k in zip(t, inc["sizes"]) if k >= 100]
            if big:
                L.append(f"| … of them with 100-200 files: median | {statistics.median(big):.2f} s |")
            L.append(f"| Whoosh segments before / max during / after | {inc['segments_before']} / "
                     f"{max(inc['segments'])} / {inc['segments_after']} |")
            L.append(f"| one changed file after the updates: median (max) of 3 | "
                     f"{statistics.median(inc['one_file_after']):.2f} "
                     f"({max(inc['one_file_after']):.2f}) s |")
            slow = [(k, x) for k, x in zip(inc["sizes"], inc["times"]) if x > 10]
            if slow:
                L.append("| updates over 10 s (files changed: s) | " + ", ".join(
                    f"{k}: {x:.1f}" for k, x in slow) + " |")
            for e in inc["warm"]:
                a = inc["warm"][e]["all"]
                before = w[e]["all"] if w else None
                was = f" (before {ms(before[0])} / {ms(before[1])} / {ms(before[2])})" if before else ""
                L.append(f"| warm {e} after, ms p50 / p95 / worst | {ms(a[0])} / {ms(a[1])} / "
                         f"{ms(a[2])}{was} |")
        rs = inc["restore"]
        L.append(f"| restoring the {rs['files']} changed files (one update) | {rs['s']:.1f} s, "
                 f"{rs['segments']} segments |")
        L.append("")
    L.append("## Targets (issue 11)")
    L.append("")
    for line in targets(r):
        L.append(f"- {line}")
    L.append("")
    s = r.get("sanity")
    if s:
        L.append("## Sanity")
        L.append("")
        L.append("- kb's matches (full + partial) vs FTS5's `count(*)` of the OR of the words "
                 "(equal / within 2% / further off), by type: " + ", ".join(
                     f"{t} {c[0]}/{c[1]}/{c[2]}" for t, c in s["fts_count"].items()))
        L.append("- Top-10 overlap with kb (share of its distinct passages, `copyN/` "
                 "dropped), by type:")
        for other, by in s["overlap"].items():
            L.append(f"  - {other}: " + ", ".join(f"{t} {v:.2f}" for t, v in by.items()))
        L.append("")
    L.append("Notes: FTS5 and bm25s get plain words as an OR (kb ranks the passages "
             "holding every word first, then those holding some); "
             "bm25s has no phrases (bag of words), no wildcards (its vocabulary, expanded per "
             "query, timed) and no filters (a weight_mask per query, timed); for `word~` both "
             "get kb's expanded terms (not timed). FTS5 totals are not computed in the timed "
             "query (kb's are). One-shot FTS5: python + sqlite3, same SQL.")
    return "\n".join(L) + "\n"


def targets(r: dict[str, Any]) -> list[str]:
    out = []
    n = r["passages"]

    def check(name: str, val: float, limit: float, unit: str, le: bool = True) -> None:
        ok = val <= limit if le else val >= limit
        by = val / limit
        out.append(f"{name}: {val:,.1f} {unit} vs {'<=' if le else '>='} {limit:,} {unit}: "
                   + ("**met**" if ok else f"**missed** ({by:.2f}× the target)"))

    w = r.get("warm")
    if w:
        a = w["kb"]["all"]
        if n < 600_000:
            check("warm p50", a[0] * 1e3, 8, "ms")
            check("warm p95", a[1] * 1e3, 25, "ms")
            check("warm worst", a[2] * 1e3, 60, "ms")
        else:
            check("warm p95 (1M target)", a[1] * 1e3, 100, "ms")
    o = r.get("oneshot")
    if o:
        check("one-shot median", statistics.median(o["kb"]["s"]) * 1e3, 150, "ms")
        check("one-shot max", max(o["kb"]["s"]) * 1e3, 250, "ms")
        check("one-shot peak RSS", max(o["kb"]["rss"]) / 2**20, 100, "MB")
    b = r.get("build") or {}
    if "kb" in b:
        check("build", n / b["kb"]["s"], 2500, "passages/s", le=False)
    inc = r.get("incremental")
    if inc:
        check("one changed file (slowest of 3)", max(inc["one_file"]), 1, "s")
        if inc.get("one_file_after"):
            check("one changed file after the updates (slowest of 3)",
                  max(inc["one_file_after"]), 1, "s")
    if n < 150_000 or n > 1_500_000:
        out.append(f"(targets are for 200k/1M passages; this is {n:,})")
    return out


# ======================================================================= main


def cpu_model() -> str:
    """The CPU's model name (Linux), else "?"."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def kb_commit() -> str:
    """The last commit that changed kb/, and whether kb/ has changed since."""
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "kb"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "kb"],
                           capture_output=True, text=True).stdout.strip()
    return commit + (" (kb/ modified)" if dirty else "")


def machine() -> dict[str, str]:
    import numpy
    import bm25s

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "nproc": str(os.cpu_count()),
            "cpu": cpu_model(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "numpy": numpy.__version__,
            "bm25s": getattr(bm25s, "__version__", "?"), "commit": kb_commit()}


def bench_size(n: int, a: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    lab = label(n)
    d = a.data / lab
    corpus, index = d / "corpus", d / "index"
    r: dict[str, Any] = {"label": lab, "target": n, "build": {}, "load_before": load(),
                         "argv": argv,
                         "machine": machine(), "rounds": a.rounds, "nq": a.queries}
    counts = calibration(a.source)
    d.mkdir(parents=True, exist_ok=True)
    if a.skip_build:
        if not (index / "kb-index.json").exists() or not (d / "fts.db").exists() or \
                not (d / "bm25s").exists():
            sys.exit(f"--skip-build: no built corpus and indexes in {d}")
        old = d / "build.json"
        if old.exists():
            r["build"] = json.loads(old.read_text())
    est = make_corpus(corpus, n, a.source, counts)
    if (d / ".dirty").exists() or a.skip_build:
        fixed = pristine(corpus, a.source)
        if fixed:
            log(f"put back {len(fixed)} files changed by an interrupted run")
            Run(kb_cmd("index", "--corpus", str(corpus), "--index", str(index)), cwd=d, ok=(0,))
        (d / ".dirty").unlink(missing_ok=True)
    r["documents"] = len(list(corpus.glob("copy*/*.txt")))
    copies = sorted(p.name for p in corpus.glob("copy*"))
    r["corpus_note"] = (f"../shared/bench-corpus/docs hard-linked as {', '.join(copies)} "
                        f"(last one a seeded subset; estimate {est:,} passages)")
    if not a.skip_build:
        build_all(r, d)
        (d / "build.json").write_text(json.dumps(r["build"]))
    jsonl = d / "passages.jsonl"
    r["passages"] = sum(1 for _ in open(jsonl, encoding="utf-8"))
    log(f"[{lab}] {r['passages']:,} passages in {r['documents']:,} files")
    r["size"] = {"kb": dir_size(index),
                 "kb_arrays": dir_size(index, lambda nm: ".kr" in nm),
                 "fts5": dir_size(d / "fts.db"), "bm25s": dir_size(d / "bm25s")}
    r["size"]["kb_whoosh"] = r["size"]["kb"] - r["size"]["kb_arrays"]
    r["segments"] = segment_count(index)

    queries = read_queries(a.queries)
    r["queries"] = queries
    exp = kb_expansions(corpus, index, queries)
    r["expansions"] = exp
    log(f"opening engines (load {load()})")
    t0 = time.perf_counter()
    engs = r["engines"] = a.engines
    engines: dict[str, Any] = {}
    for e in engs:
        if e == "kb":
            engines[e] = KbEngine(corpus, index)
        elif e == "fts5":
            engines[e] = FtsEngine(d / "fts.db", exp)
        else:
            engines[e] = Bm25sEngine(d / "bm25s", jsonl, exp)
    log(f"engines open in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    engines["kb"].search("security council")
    r["first_search_s"] = time.perf_counter() - t0
    log(f"warm queries: {len(queries)} x {a.rounds} round(s)")
    res = warm(engines, queries, a.rounds)
    r["warm"] = {e: summarise(res[e], queries) for e in engs}
    r["per_query"] = {q: {e: res[e][q]["s"] for e in engs} for _t, q in queries}
    r["totals"] = {q: {"kb": res["kb"][q]["total"]} for _t, q in queries}
    for t in (*TYPES, "all"):
        log(f"  {t:8} " + "  ".join(f"{e} {ms(r['warm'][e][t][0])}/{ms(r['warm'][e][t][1])}"
                                    f"/{ms(r['warm'][e][t][2])}" for e in engs))
    fts = FtsEngine(d / "fts.db", exp)
    r["sanity"] = sanity(res, queries, fts)
    RESULTS.mkdir(exist_ok=True)
    if a.profile:
        text = profile_kb(engines["kb"], queries, RESULTS / f"engines-{lab}-profile.txt")
        log("profile (kb warm loop):\n" + "\n".join(text.splitlines()[:45]))
    for e in engines.values():
        e.close()
    if a.oneshot:
        log(f"one-shot: {a.oneshot} queries (load {load()})")
        r["oneshot"] = oneshot(d, queries, a.oneshot, fts)
    if a.updates >= 0 and not a.no_incremental:
        log(f"incremental: {a.updates} updates (load {load()})")
        incremental(r, d, a.source, a.updates, queries, a.rounds)
    fts.close()
    r["load_after"] = load()
    md = report(r, argv)
    (RESULTS / f"engines-{lab}.md").write_text(md)
    (RESULTS / f"engines-{lab}.json").write_text(json.dumps(r, indent=1, default=str))
    print(md, flush=True)
    if a.clean:
        shutil.rmtree(d, ignore_errors=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200k", help="passage counts, e.g. 20k,200k,1m")
    ap.add_argument("--queries", type=int, default=40, help="queries per type (max 40)")
    ap.add_argument("--oneshot", type=int, default=15, help="one-shot queries (0: skip)")
    ap.add_argument("--updates", type=int, default=50,
                    help="consecutive updates of 1-200 files after the one-file update "
                         "(0: only the one-file update)")
    ap.add_argument("--no-incremental", action="store_true", help="skip every update")
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help="warm engines, kb always (e.g. kb,fts5 to leave out bm25s)")
    ap.add_argument("--rounds", type=int, default=1, help="warm rounds; each query's median")
    ap.add_argument("--skip-build", action="store_true",
                    help="reuse the corpus and indexes built by an earlier run")
    ap.add_argument("--clean", action="store_true",
                    help="delete each size's corpus and indexes after measuring it")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the kb warm loop (bench/results/engines-SIZE-profile.txt)")
    ap.add_argument("--report", type=Path, metavar="JSON",
                    help="rewrite the Markdown report of an earlier run from its .json and exit")
    ap.add_argument("--write-queries", action="store_true",
                    help="regenerate bench/queries-realistic.json (fixed seed) and exit")
    ap.add_argument("--source", type=Path, default=SOURCE, help="the UN documents folder")
    ap.add_argument("--data", type=Path, default=DATA, help="where corpora and indexes go")
    a = ap.parse_args()
    unknown = set(a.engines.split(",")) - set(ENGINES)
    if unknown:
        ap.error(f"--engines: unknown {', '.join(sorted(unknown))} (choose from "
                 f"{', '.join(ENGINES)})")
    a.engines = [e for e in ENGINES if e == "kb" or e in a.engines.split(",")]
    if a.report:
        r = json.loads(a.report.read_text())
        r.setdefault("engines", list(ENGINES))
        if "kb" not in r["engines"]:
            sys.exit(f"{a.report}: made by an older bench/engines.py (kb-arrays/kb-whoosh); "
                     "its own report (.md) stands")
        md = report(r, r.get("argv") or ["python", "bench/engines.py"])
        a.report.with_suffix(".md").write_text(md)
        print(md)
        return
    if a.write_queries or not QUERIES_FILE.exists():
        write_queries(a.source)
        log(f"wrote {QUERIES_FILE}")
        if a.write_queries:
            return
    argv = ["python", "bench/engines.py", *sys.argv[1:]]
    for s in a.sizes.split(","):
        bench_size(parse_size(s), a, argv)


if __name__ == "__main__":
    main()
