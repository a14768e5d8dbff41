"""Speed and memory of kb beside SQLite FTS5, on generated corpora of several sizes.

    python bench/speed.py [--sizes 5k,200k,1m] [--queries 300] [--oneshot 15]

For each size it generates a Markdown corpus (bench/corpus_gen.py, fixed seed,
folders of 100 files, 25 passages a file) under bench/data/ (git-ignored;
``--clean`` deletes each corpus and its indexes after its row), then measures,
for kb (the tree this script lives in, run as ``python -m kb``) and for an
SQLite FTS5 table (standard library ``sqlite3``, porter stemming) over the same
passages and queries:

* full build, whole process, from the Markdown files to a searchable index:
  passages per second (wall clock, and per CPU-second of the process and its
  workers: on a shared machine the second is the steadier figure) and peak RSS
  (the largest sum of the RSS of the process and its children sampled every
  20 ms, i.e. workers included);
* incremental update: one file gets a new section, then ``kb index`` (whole
  process, median of 3);
* warm queries, in this process, through ``KnowledgeBase.search`` (10 hits with
  snippets) and an FTS5 ``MATCH ... ORDER BY rank LIMIT 10`` with ``snippet()``:
  p50/p95 per query type (one term, two-term OR, two-word phrase), each type
  ``--queries`` queries drawn from the corpus text with a fixed seed;
* one-shot search, whole process (start, import, open, search, print 10 hits to
  a pipe): median time and peak RSS over ``--oneshot`` queries.

Every kb figure is printed with its ratio to FTS5 (kb / FTS5: above 1 means kb
is slower or larger).  A Markdown table goes to stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from corpus_gen import generate  # noqa: E402

DATA = HERE / "data"
RESULTS = HERE / "results"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
STOP = set("""a an and are as at be by for from have if in is it of on or that the this to
us we with yet you your was were not but can its than their these those which has had
been also into more""".split())


def parse_size(s: str) -> int:
    s = s.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


# -------------------------------------------------------------------- processes


def _tree_rss(pid: int) -> int:
    """Sum of VmRSS (bytes) of ``pid`` and its descendants."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


#: CPU seconds (user + system, the process and the children it waited for) of the
#: last :func:`run`
LAST_CPU = [0.0]


def run(cmd: list[str], sample: bool = False) -> tuple[float, int, str]:
    """Run a command, stdout to a pipe; returns (seconds, peak RSS bytes, stdout).

    Peak RSS: the command's ``ru_maxrss`` from ``/usr/bin/time`` (the largest single
    process of the tree);
    with ``sample=True`` the largest sum over the process tree sampled every 20 ms,
    if that is larger (parallel workers count together).
    """
    import tempfile

    fd, rss_file = tempfile.mkstemp(prefix="kb-bench-rss-")
    os.close(fd)
    # /usr/bin/time reports the command's own peak RSS; wait4 on a child of this
    # (large) process would count the pages it inherited before exec
    full = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file, *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(full, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]
    stop = threading.Event()
    err: list[bytes] = []

    def sampler() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _tree_rss(p.pid))

    threads = [threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)]
    if sample:
        threads.append(threading.Thread(target=sampler, daemon=True))
    for th in threads:
        th.start()
    out = p.stdout.read()  # type: ignore[union-attr]
    p.wait()
    elapsed = time.perf_counter() - t0
    stop.set()
    try:
        kb_rss, user, sys_ = Path(rss_file).read_text().split()[-3:]
        maxrss = int(kb_rss) * 1024
        LAST_CPU[0] = float(user) + float(sys_)
    except (OSError, ValueError, IndexError):
        maxrss, LAST_CPU[0] = 0, float("nan")
    os.unlink(rss_file)
    for th in threads:
        th.join()
    if p.returncode not in (0, 1):
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                 f"{b''.join(err).decode()[-2000:]}")
    return elapsed, max(peak[0], maxrss), out.decode()


# -------------------------------------------------------------------- corpus + queries

_HEADING = re.compile(r"^## (.*)$", re.M)


def make_queries(corpus: Path, n: int, seed: int = 11) -> dict[str, list[str]]:
    """``n`` queries of each type drawn from the corpus text (fixed seed)."""
    rng = random.Random(seed)
    files = sorted(corpus.rglob("*.md"))
    words_of: list[list[str]] = []
    for path in rng.sample(files, min(len(files), 200)):
        for _d, _t, _s, body in read_passages_file(path, corpus):
            words_of.append(re.findall(r"[A-Za-z]+", body))

    def word() -> str:
        while True:
            w = rng.choice(rng.choice(words_of))
            if len(w) >= 4 and w.lower() not in STOP:
                return w.lower()

    def pair() -> tuple[str, str]:
        while True:
            ws = rng.choice(words_of)
            i = rng.randrange(len(ws) - 1)
            a, b = ws[i].lower(), ws[i + 1].lower()
            if len(a) >= 3 and len(b) >= 3 and a not in STOP and b not in STOP:
                return a, b

    return {
        "term": [word() for _ in range(n)],
        "or": [f"{word()} OR {word()}" for _ in range(n)],
        "phrase": ['"%s %s"' % pair() for _ in range(n)],
    }


def read_passages_file(path: Path, corpus: Path):  # type: ignore[no-untyped-def]
    text = path.read_text(encoding="utf-8")
    title = text.split("\n", 1)[0].lstrip("# ").strip()
    parts = _HEADING.split(text)
    for i in range(1, len(parts) - 1, 2):
        body = parts[i + 1].strip()
        if body:
            yield str(path.relative_to(corpus)), title, parts[i].strip(), body


def fts_query(q: str) -> str:
    if q.startswith('"'):
        return q
    return " OR ".join(f'"{w}"' for w in q.split(" OR "))


# -------------------------------------------------------------------- FTS5

FTS_BUILD = r"""
import re, sqlite3, sys, pathlib
corpus, db = pathlib.Path(sys.argv[1]), sys.argv[2]
H = re.compile(r"^## (.*)$", re.M)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=OFF"); con.execute("PRAGMA synchronous=OFF")
con.execute("CREATE VIRTUAL TABLE p USING fts5(doc UNINDEXED, title, section, text, "
            "tokenize='porter unicode61')")
def rows():
    for path in sorted(corpus.rglob("*.md")):
        t = path.read_text(encoding="utf-8")
        title = t.split("\n", 1)[0].lstrip("# ").strip()
        parts = H.split(t)
        doc = str(path.relative_to(corpus))
        for i in range(1, len(parts) - 1, 2):
            body = parts[i + 1].strip()
            if body:
                yield doc, title, parts[i].strip(), body
with con:
    con.executemany("INSERT INTO p VALUES (?,?,?,?)", rows())
con.execute("INSERT INTO p(p) VALUES('optimize')")
con.commit()
print(con.execute("SELECT count(*) FROM p").fetchone()[0])
"""

FTS_SQL = ("SELECT doc, title, section, snippet(p, 3, '[', ']', '…', 40) FROM p "
           "WHERE p MATCH ? ORDER BY bm25(p, 0, 0.5, 0.5, 1.0) LIMIT 10")

FTS_ONESHOT = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for i, r in enumerate(con.execute(%r, (sys.argv[2],)), 1):
    print(i, r[0], r[1], r[2], r[3], sep="  ")
""" % FTS_SQL


# -------------------------------------------------------------------- measuring


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def warm_kb(corpus: Path, index: Path, queries: dict[str, list[str]]) -> dict[str, tuple]:
    sys.path.insert(0, str(ROOT))
    from kb import KnowledgeBase

    out = {}
    with KnowledgeBase(corpus=corpus, index=index) as kb:
        kb.search("warmup")
        for kind, qs in queries.items():
            times = []
            for q in qs:
                t0 = time.perf_counter()
                kb.search(q, limit=10)
                times.append(time.perf_counter() - t0)
            out[kind] = (pct(times, 0.5), pct(times, 0.95))
    return out


def warm_fts(db: Path, queries: dict[str, list[str]]) -> dict[str, tuple]:
    con = sqlite3.connect(db)
    con.execute(FTS_SQL, ("warmup",)).fetchall()
    out = {}
    for kind, qs in queries.items():
        times = []
        for q in qs:
            t0 = time.perf_counter()
            con.execute(FTS_SQL, (fts_query(q),)).fetchall()
            times.append(time.perf_counter() - t0)
        out[kind] = (pct(times, 0.5), pct(times, 0.95))
    con.close()
    return out


def bench_size(n: int, a: argparse.Namespace) -> dict[str, float]:
    name = label(n)
    corpus = DATA / f"corpus-{name}"
    index = DATA / f"index-{name}"
    db = DATA / f"fts-{name}.db"
    if not (corpus / ".complete").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        t0 = time.perf_counter()
        generate(corpus, n)
        (corpus / ".complete").write_text("")
        log(f"[{name}] generated corpus in {time.perf_counter() - t0:.1f} s")
    r: dict[str, float] = {"passages": n}
    for old in PREVIOUS:
        if old.get("passages") == n:
            r.update(old)
    phases = set(a.phases.split(","))

    # full builds
    if "build" in phases:
        build(r, n, name, corpus, index, db)
    else:
        assert index.exists() and db.exists(), "--phases without build needs built indexes"

    if "incr" in phases:
        incremental(r, name, corpus, index)
    queries = make_queries(corpus, a.queries)
    if "warm" in phases:
        warm(r, name, corpus, index, db, queries)
    if "oneshot" in phases:
        oneshot(r, name, corpus, index, db, queries, a.oneshot)
    r["kb_index_mb"] = sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 2**20
    r["fts_db_mb"] = db.stat().st_size / 2**20
    if a.clean:
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)
        db.unlink(missing_ok=True)
    return r


def build(r: dict[str, float], n: int, name: str, corpus: Path, index: Path, db: Path) -> None:
    py = sys.executable
    shutil.rmtree(index, ignore_errors=True)
    t, rss, _ = run([py, "-m", "kb", "index", "--rebuild", "--corpus", str(corpus),
                     "--index", str(index)], sample=True)
    r["kb_build_s"], r["kb_build_rate"], r["kb_build_rss"] = t, n / t, rss
    r["kb_build_cpu"], r["kb_build_load"] = LAST_CPU[0], os.getloadavg()[0]
    log(f"[{name}] kb build {t:.1f} s = {n / t:,.0f} passages/s, peak RSS {rss / 2**20:.0f} MB, "
        f"{LAST_CPU[0]:.1f} CPU-s, load average {os.getloadavg()[0]:.1f}")
    db.unlink(missing_ok=True)
    t, rss, out = run([py, "-c", FTS_BUILD, str(corpus), str(db)], sample=True)
    assert int(out) == n, (out, n)
    r["fts_build_s"], r["fts_build_rate"], r["fts_build_rss"] = t, n / t, rss
    r["fts_build_cpu"] = LAST_CPU[0]
    log(f"[{name}] fts build {t:.1f} s = {n / t:,.0f} passages/s, peak RSS {rss / 2**20:.0f} MB")


def incremental(r: dict[str, float], name: str, corpus: Path, index: Path) -> None:
    """One file changed (kb only: FTS5 here has no file tracking)."""
    py = sys.executable
    target = sorted(corpus.rglob("*.md"))[len(list(corpus.rglob("*.md"))) // 2]
    original = target.read_bytes()
    inc = []
    for i in range(3):
        with open(target, "a", encoding="utf-8") as f:
            f.write(f"\n## Added section {i}\n\nA new paragraph about bystander training "
                    f"number {i} was added to this report for the benchmark run.\n")
        t, _, _ = run([py, "-m", "kb", "index", "--corpus", str(corpus), "--index", str(index)])
        inc.append(t)
    r["kb_incr_s"] = statistics.median(inc)
    t, _, _ = run([py, "-m", "kb", "index", "--corpus", str(corpus), "--index", str(index)])
    r["kb_noop_s"] = t
    target.write_bytes(original)  # the corpus stays as generated, for FTS5 and later runs
    run([py, "-m", "kb", "index", "--corpus", str(corpus), "--index", str(index)])
    log(f"[{name}] kb incremental {r['kb_incr_s']:.2f} s, no change {t:.2f} s")



def warm(r: dict[str, float], name: str, corpus: Path, index: Path, db: Path,
         queries: dict[str, list[str]]) -> None:
    wk = warm_kb(corpus, index, queries)
    wf = warm_fts(db, queries)
    for kind in queries:
        r[f"kb_{kind}_p50"], r[f"kb_{kind}_p95"] = wk[kind]
        r[f"fts_{kind}_p50"], r[f"fts_{kind}_p95"] = wf[kind]
        log(f"[{name}] warm {kind}: kb {wk[kind][0] * 1e3:.1f}/{wk[kind][1] * 1e3:.1f} ms, "
            f"fts {wf[kind][0] * 1e3:.1f}/{wf[kind][1] * 1e3:.1f} ms")



def oneshot(r: dict[str, float], name: str, corpus: Path, index: Path, db: Path,
            queries: dict[str, list[str]], count: int) -> None:
    py = sys.executable
    rng = random.Random(5)
    shots = [rng.choice(queries[k]) for k in ("term", "or", "phrase") for _ in range(count)]
    rng.shuffle(shots)
    shots = shots[:count]
    kt, kr, ft, fr = [], [], [], []
    for q in shots:
        t, rss, out = run([py, "-m", "kb", "search", q, "--corpus", str(corpus),
                                  "--index", str(index)])
        kt.append(t)
        kr.append(rss)
        t, rss, _ = run([py, "-c", FTS_ONESHOT, str(db), fts_query(q)])
        ft.append(t)
        fr.append(rss)
    r["kb_oneshot_s"], r["kb_oneshot_rss"] = statistics.median(kt), max(kr)
    r["fts_oneshot_s"], r["fts_oneshot_rss"] = statistics.median(ft), max(fr)
    log(f"[{name}] one-shot: kb {r['kb_oneshot_s'] * 1e3:.0f} ms {max(kr) / 2**20:.0f} MB, "
        f"fts {r['fts_oneshot_s'] * 1e3:.0f} ms {max(fr) / 2**20:.0f} MB")


PREVIOUS: list[dict[str, float]] = []


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def table(rows: list[dict[str, float]]) -> str:
    for r in rows:
        for k in ("kb", "fts"):
            if f"{k}_build_cpu" in r:
                r[f"{k}_build_cpu_rate"] = r["passages"] / r[f"{k}_build_cpu"]
    heads = " | ".join(label(int(r["passages"])) + " kb (÷ FTS5)" for r in rows)
    lines = [f"| measure | {heads} |", "|---|" + "---|" * len(rows)]

    def line(title: str, kb_key: str, fts_key: str | None, fmt) -> None:  # type: ignore[no-untyped-def]
        cells = []
        for r in rows:
            if kb_key not in r:
                cells.append("n/a")
                continue
            cell = fmt(r[kb_key])
            if fts_key and fts_key in r:
                cell += f" ({r[kb_key] / r[fts_key]:.2f}×)"
            cells.append(cell)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")

    ms = lambda s: f"{s * 1e3:.1f} ms"  # noqa: E731
    mb = lambda b: f"{b / 2**20:.0f} MB"  # noqa: E731
    line("build, passages/s", "kb_build_rate", "fts_build_rate", lambda x: f"{x:,.0f}")
    line("build, seconds", "kb_build_s", "fts_build_s", lambda x: f"{x:,.1f}")
    line("build, passages per CPU-second", "kb_build_cpu_rate", "fts_build_cpu_rate",
         lambda x: f"{x:,.0f}")
    line("build peak RSS (all processes)", "kb_build_rss", "fts_build_rss", mb)
    line("incremental, one file changed", "kb_incr_s", None, lambda x: f"{x:.2f} s")
    line("incremental, nothing changed", "kb_noop_s", None, lambda x: f"{x:.2f} s")
    for kind, what in (("term", "one term"), ("or", "two-term OR"), ("phrase", "two-word phrase")):
        line(f"warm p50, {what}", f"kb_{kind}_p50", f"fts_{kind}_p50", ms)
        line(f"warm p95, {what}", f"kb_{kind}_p95", f"fts_{kind}_p95", ms)
    line("one-shot search, median", "kb_oneshot_s", "fts_oneshot_s", lambda s: f"{s * 1e3:.0f} ms")
    line("one-shot peak RSS", "kb_oneshot_rss", "fts_oneshot_rss", mb)
    line("index size on disk", "kb_index_mb", "fts_db_mb", lambda x: f"{x:,.0f} MB")
    return "\n".join(lines)


def main() -> None:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5k,200k,1m")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--oneshot", type=int, default=15)
    ap.add_argument("--clean", action="store_true",
                    help="delete each corpus, index and FTS5 database after measuring it")
    ap.add_argument("--phases", default="build,incr,warm,oneshot",
                    help="what to measure; the other figures are taken from the last run's "
                         "bench/results/speed.json (e.g. --phases warm,oneshot re-measures "
                         "queries on the indexes already built)")
    ap.add_argument("--data", type=Path, default=DATA, help="where corpora and indexes go")
    a = ap.parse_args()
    DATA = a.data
    DATA.mkdir(parents=True, exist_ok=True)
    if (RESULTS / "speed.json").exists() and a.phases != ap.get_default("phases"):
        PREVIOUS.extend(json.loads((RESULTS / "speed.json").read_text()))
    rows = []
    for s in a.sizes.split(","):
        rows.append(bench_size(parse_size(s), a))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "speed.json").write_text(json.dumps(rows, indent=1))
        print(table(rows), flush=True)
    head = (f"kb vs SQLite FTS5 {sqlite3.sqlite_version}; {os.cpu_count()} cores; "
            f"python {sys.version.split()[0]}; {a.queries} queries per type; one-shot median "
            f"of {a.oneshot}")
    (RESULTS / "speed.md").write_text(head + "\n\n" + table(rows) + "\n")
    print("\n" + head)


if __name__ == "__main__":
    main()
