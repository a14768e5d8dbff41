"""`kb serve` under load: end-to-end latency over loopback, and 20 clients during an update.

    python bench/serve.py                          # 200k passages: both parts (the issue's targets)
    python bench/serve.py --size 20k --duration 15 # a quick check
    python bench/serve.py --skip-load              # latency only
    python bench/serve.py --skip-latency --update watcher

Corpus and index: those of ``bench/engines.py`` (``--data``, default
``bench/data/engines/<size>/``: the UN documents of ``../shared/bench-corpus/docs``
hard-linked as ``copy1/``, ``copy2/``, … until kb's passage count reaches the size);
built here when missing, and brought up to date with ``kb index`` (an index of an
older schema is rebuilt).  Queries: ``bench/queries-realistic.json``, the 240 queries
``bench/engines.py`` times (40 each of topics, questions, phrases, wildcards, fuzzy
words and ``date:``/``doc:`` filters; ``--queries N`` takes N of each type).

(a) Latency.  ``kb serve --no-watch`` in a subprocess (this tree's kb) over the corpus;
one keep-alive ``http.client`` connection; after a warm-up pass over every query,
each query in turn (``--rounds`` times): ``KnowledgeBase.search(q, limit=10)`` in
this process (the library, warm), ``GET /api/search?q=…`` (JSON, 10 hits with
snippets, read to the end) and ``GET /?q=…`` (the results page, read to the end).
p50 / p95 / max per query type and overall, and the HTTP overhead (each query's
API time minus its in-process time).  The API's hits are checked against the
library's.

(b) Concurrency.  A private copy of the corpus (hard links; files are only ever
replaced, never written through) and of the index, served by ``kb serve``
(``--update kb-index``: with ``--no-watch``, the update is a separate ``kb index``
process and the server switches to the new generation; ``--update watcher``: the
server's own watcher sees the files change).  ``--clients`` threads (default 20),
each with its own keep-alive connection, search for ``--duration`` seconds
(default 60), alternating ``/api/search`` and ``/?q=``.  A third of the way in, 3
files are added, 3 changed and 3 removed (each added or changed file carries a
made-up word of its own); two thirds of the way in, all of that is undone.  The
expected answers (total and the 10 ids in order; ids only for the page) are
computed beforehand, on a second copy taken through the same two updates with
``kb index``: for each query the answer before, after the first update and after
the second; a response must equal one of them (for most queries the three are the
same).  Counted: failed requests (an exception or a status other than 200) and
wrong results (an answer that is none of these).

Results: a table on stdout, ``bench/results/serve-<size>.md`` and ``.json``
(git-ignored).  The machine and its load average are part of the report: on a
shared 2-core machine the clients and the server compete for the same cores.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import engines  # noqa: E402 - the corpus, the queries, the helpers

RESULTS = HERE / "results"
TYPES = engines.TYPES
log = engines.log
load = engines.load
MARKERS = ("quorvexalpha", "quorvexbravo", "quorvexcharlie",
           "quorvexdelta", "quorvexecho", "quorvexfoxtrot")
_HIT_ID = re.compile(r'<li\b[^>]*\bclass="[^"]*\bhit\b[^"]*"[^>]*>', re.S)
_DATA_ID = re.compile(r'\bdata-id="([^"]*)"')


def ms(x: float) -> str:
    x *= 1000
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def pct(xs: list[float], q: float) -> float:
    return engines.pct(xs, q)


def three(xs: list[float]) -> str:
    return f"{ms(pct(xs, 0.5))} / {ms(pct(xs, 0.95))} / {ms(max(xs))}" if xs else "-"


def machine() -> dict[str, str]:
    mem = "?"
    try:
        kb_ = int(open("/proc/meminfo").readline().split()[1])
        mem = f"{kb_ / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    from importlib.metadata import version

    def v(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "?"
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "nproc": str(os.cpu_count()),
            "cpu": engines.cpu_model(), "memory": mem, "python": platform.python_version(),
            "uvicorn": v("uvicorn"), "starlette": v("starlette"),
            "commit": engines.kb_commit()}


# ======================================================================= data


def prepare(a: argparse.Namespace) -> tuple[Path, Path, int]:
    """The size's corpus (built if missing) and an up-to-date index; the passage count."""
    n = engines.parse_size(a.size)
    d = a.data / engines.label(n)
    corpus, index = d / "corpus", d / "index"
    engines.DATA = a.data  # calibration() keeps its file there
    counts = engines.calibration(a.source)
    d.mkdir(parents=True, exist_ok=True)
    engines.make_corpus(corpus, n, a.source, counts)
    fixed = engines.pristine(corpus, a.source)
    if fixed:
        log(f"put back {len(fixed)} corpus files changed by an interrupted run")
    log(f"kb index over {corpus} (load {load()})")
    t0 = time.perf_counter()
    r = subprocess.run(engines.kb_cmd("index", "--corpus", str(corpus), "--index", str(index)),
                       env=engines.env(), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"kb index failed:\n{r.stderr[-3000:]}")
    log(f"index ready in {time.perf_counter() - t0:.1f} s: {r.stderr.strip().splitlines()[-1:]}")
    from kb import KnowledgeBase

    with KnowledgeBase(corpus, index) as k:
        passages = k.status().passages
    return corpus, index, passages


def link_copy(src: Path, dest: Path) -> None:
    """``dest``: the corpus tree ``src`` as hard links (copies where links fail)."""
    for p in sorted(src.rglob("*")):
        q = dest / p.relative_to(src)
        if p.is_dir():
            q.mkdir(parents=True, exist_ok=True)
        elif p.is_file():
            q.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(p, q)
            except OSError:
                shutil.copy2(p, q)


def private_copy(corpus: Path, index: Path, dest: Path) -> tuple[Path, Path]:
    shutil.rmtree(dest, ignore_errors=True)
    c, i = dest / "corpus", dest / "index"
    link_copy(corpus, c)
    shutil.copytree(index, i, ignore=shutil.ignore_patterns("kb.lock"))
    return c, i


class Update:
    """3 files added, 3 changed (each with a made-up word), 3 removed; and undone.
    Every write goes to a new file moved into place: the corpus's hard links (to the
    shared documents) are never written through."""

    def __init__(self, corpus: Path, seed: int = 5) -> None:
        self.corpus = corpus
        files = sorted(p for p in corpus.glob("copy*/*.txt"))
        rng = random.Random(seed)
        pick = rng.sample(files, 9)
        self.source = pick[:3]  # the text of the added files
        self.changed = pick[3:6]
        self.removed = pick[6:9]
        self.added = [corpus / "serve-bench" / f"added-{k}.txt" for k in range(3)]
        self.rel = lambda p: str(p.relative_to(corpus))
        self.saved = corpus.parent / (corpus.name + ".saved")
        self.markers = {MARKERS[k]: self.rel(self.added[k]) for k in range(3)}
        self.markers.update({MARKERS[3 + k]: self.rel(self.changed[k]) for k in range(3)})

    def apply(self) -> None:
        self.saved.mkdir(exist_ok=True)
        staged = []
        for k, p in enumerate(self.added):
            body = self.source[k].read_text(encoding="utf-8")
            staged.append((p, body + f"\n\nThe {MARKERS[k]} review was added for the "
                                     "server benchmark and names no real programme.\n"))
        for k, p in enumerate(self.changed):
            body = p.read_text(encoding="utf-8")
            staged.append((p, body + f"\n\nThe {MARKERS[3 + k]} note was appended for the "
                                     "server benchmark and names no real programme.\n"))
        for p in self.changed + self.removed:
            save = self.saved / self.rel(p).replace("/", "__")
            if not save.exists():
                os.link(p, save)
        self.added[0].parent.mkdir(exist_ok=True)
        tmps = []
        for dest, text in staged:  # write first, then move all into place at once
            tmp = dest.with_name(dest.name + ".tmp-serve")
            tmp.write_text(text, encoding="utf-8")
            tmps.append((tmp, dest))
        for tmp, dest in tmps:
            os.replace(tmp, dest)
        for p in self.removed:
            p.unlink()

    def undo(self) -> None:
        for p in self.added:
            p.unlink(missing_ok=True)
        for p in self.changed + self.removed:
            save = self.saved / self.rel(p).replace("/", "__")
            tmp = p.with_name(p.name + ".tmp-serve")
            tmp.unlink(missing_ok=True)
            os.link(save, tmp)
            os.replace(tmp, p)
        shutil.rmtree(self.saved, ignore_errors=True)
        try:
            self.added[0].parent.rmdir()
        except OSError:
            pass


def kb_index(corpus: Path, index: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(engines.kb_cmd("index", "--corpus", str(corpus), "--index", str(index)),
                       env=engines.env(), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"kb index failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def answers(corpus: Path, index: Path, queries: list[str]) -> dict[str, tuple[int, tuple[str, ...]]]:
    from kb import KnowledgeBase

    with KnowledgeBase(corpus, index) as k:
        out = {}
        for q in queries:
            res = k.search(q, limit=10)
            out[q] = (res.total, tuple(h.id for h in res.hits))
        return out


# ======================================================================= server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``kb serve`` in a subprocess (this tree's kb), stopped with SIGINT (Ctrl-C)."""

    def __init__(self, corpus: Path, index: Path, watch: bool, name: str) -> None:
        self.port = free_port()
        e = engines.env()
        e["KB_CORPUS"], e["KB_INDEX"] = str(corpus), str(index)
        cmd = engines.kb_cmd("serve", "--port", str(self.port))
        if not watch:
            cmd.append("--no-watch")
        self.log_path = RESULTS / f"serve-server-{name}.log"  # the server's own log
        RESULTS.mkdir(exist_ok=True)
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=e, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     cwd=corpus.parent)
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"kb serve exited ({self.proc.returncode}):\n"
                         f"{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/api/status")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                sys.exit("kb serve did not answer within 300 s")
            time.sleep(0.2)

    def rss(self) -> tuple[int, int]:
        """(current, peak) resident set of the server process, bytes."""
        cur = peak = 0
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        except OSError:
            pass
        return cur, peak

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: one fresh try, else fail
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("not reached")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def api_path(q: str) -> str:
    return "/api/search?" + urlencode({"q": q})


def page_path(q: str) -> str:
    return "/?" + urlencode({"q": q})


def api_answer(body: bytes) -> tuple[int, tuple[str, ...]]:
    d = json.loads(body)
    return int(d["total"]), tuple(r["id"] for r in d["results"])


def page_ids(body: bytes) -> tuple[str, ...]:
    text = body.decode("utf-8")
    out = []
    for m in _HIT_ID.finditer(text):
        idm = _DATA_ID.search(m.group(0))
        if idm:
            out.append(html.unescape(idm.group(1)))
    return tuple(out)


# ======================================================================= (a) latency


def latency(a: argparse.Namespace, corpus: Path, index: Path,
            queries: list[tuple[str, str]]) -> dict[str, Any]:
    from kb import KnowledgeBase

    log(f"latency: starting kb serve --no-watch (load {load()})")
    t0 = time.perf_counter()
    srv = Server(corpus, index, watch=False, name="latency")
    r: dict[str, Any] = {"server_start_s": time.perf_counter() - t0}
    kb = KnowledgeBase(corpus, index)
    c = Client(srv.port)
    times: dict[str, dict[str, list[float]]] = {k: {} for k in ("lib", "api", "page")}
    mismatch: list[str] = []
    sizes = {"api": [], "page": []}  # type: dict[str, list[int]]
    try:
        log(f"warm-up: {len(queries)} queries x (library, API, page)")
        for _t, q in queries:
            kb.search(q, limit=10)
            c.get(api_path(q))
            c.get(page_path(q))
        r["load_before"] = load()
        log(f"timing: {len(queries)} queries x {a.rounds} round(s) (load {load()})")
        for _round in range(a.rounds):
            for _t, q in queries:
                t0 = time.perf_counter()
                res = kb.search(q, limit=10)
                t1 = time.perf_counter()
                st, body = c.get(api_path(q))
                t2 = time.perf_counter()
                st2, body2 = c.get(page_path(q))
                t3 = time.perf_counter()
                if st != 200 or st2 != 200:
                    mismatch.append(f"{q!r}: status {st} / {st2}")
                    continue
                times["lib"].setdefault(q, []).append(t1 - t0)
                times["api"].setdefault(q, []).append(t2 - t1)
                times["page"].setdefault(q, []).append(t3 - t2)
                sizes["api"].append(len(body))
                sizes["page"].append(len(body2))
                want = (res.total, tuple(h.id for h in res.hits))
                if api_answer(body) != want:
                    mismatch.append(f"{q!r}: API {api_answer(body)[:1]} != library {want[:1]}")
                elif page_ids(body2) != want[1]:
                    mismatch.append(f"{q!r}: page ids differ from the library's")
        r["load_after"] = load()
        r["server_rss"] = srv.rss()
    finally:
        c.close()
        kb.close()
        srv.stop()
    per = {k: {q: statistics.median(v) for q, v in times[k].items()} for k in times}
    r["per_query"] = per
    r["mismatch"] = mismatch
    r["bytes"] = {k: statistics.median(v) if v else 0 for k, v in sizes.items()}
    summ: dict[str, dict[str, list[float]]] = {}
    for t in (*TYPES, "all"):
        qs = [q for tt, q in queries if (t == "all" or tt == t) and q in per["api"]]
        summ[t] = {k: [per[k][q] for q in qs] for k in per}
        summ[t]["overhead"] = [per["api"][q] - per["lib"][q] for q in qs]
        summ[t]["page_overhead"] = [per["page"][q] - per["lib"][q] for q in qs]
    r["summary"] = {t: {k: [pct(v, 0.5), pct(v, 0.95), max(v) if v else float("nan")]
                        for k, v in d.items()} for t, d in summ.items()}
    for t in (*TYPES, "all"):
        d = summ[t]
        log(f"  {t:8} library {three(d['lib'])}  API {three(d['api'])}  page {three(d['page'])}")
    if mismatch:
        log(f"  {len(mismatch)} answers differ from the library's: {mismatch[:3]}")
    return r


# ======================================================================= (b) load


def concurrency(a: argparse.Namespace, corpus: Path, index: Path,
                queries: list[tuple[str, str]]) -> dict[str, Any]:
    work = a.data / "serve-work"
    log(f"concurrency: private copies of the corpus and index in {work}")
    c_a, i_a = private_copy(corpus, index, work / "served")
    c_b, i_b = private_copy(corpus, index, work / "expected")
    upd_b = Update(c_b)
    qs = [q for _t, q in queries] + list(upd_b.markers)
    log(f"expected answers: {len(qs)} queries before, after the update and after undoing it")
    states = [answers(c_b, i_b, qs)]
    upd_b.apply()
    r: dict[str, Any] = {"update_offline_s": [kb_index(c_b, i_b)]}
    states.append(answers(c_b, i_b, qs))
    upd_b.undo()
    r["update_offline_s"].append(kb_index(c_b, i_b))
    states.append(answers(c_b, i_b, qs))
    shutil.rmtree(work / "expected", ignore_errors=True)
    accept = {q: {s[q] for s in states} for q in qs}
    accept_ids = {q: {ans[1] for ans in accept[q]} for q in qs}
    changing = sorted(q for q in qs if len(accept[q]) > 1)
    for m, f in upd_b.markers.items():
        assert states[0][m] != states[1][m], f"the marker {m} ({f}) is found before the update"
    r["queries"] = len(qs)
    r["changing"] = len(changing)
    log(f"  {len(changing)} of {len(qs)} queries answer differently across the updates")

    upd = Update(c_a)
    srv = Server(c_a, i_a, watch=a.update == "watcher", name="load")
    stop = threading.Event()
    lock = threading.Lock()
    stats: dict[str, Any] = {"ok": 0, "failed": 0, "wrong": 0, "lat": [], "lat_api": [],
                             "lat_page": [], "errors": [],
                             "wrong_examples": [], "by_state": [0, 0, 0]}
    events: list[tuple[float, str]] = []
    t_start = time.perf_counter()

    def client(k: int) -> None:
        rng = random.Random(100 + k)
        c = Client(srv.port)
        order = qs[:]
        i = 0
        while not stop.is_set():
            if i % len(order) == 0:
                rng.shuffle(order)
            q = order[i % len(order)]
            page = (i + k) % 2 == 1
            i += 1
            t0 = time.perf_counter()
            try:
                st, body = c.get(page_path(q) if page else api_path(q))
            except Exception as exc:  # any failure of the request counts
                with lock:
                    stats["failed"] += 1
                    stats["errors"].append(f"{time.perf_counter() - t_start:.1f}s "
                                           f"{'page' if page else 'api'} {q!r}: {exc!r}")
                c.close()
                c = Client(srv.port)
                continue
            dt = time.perf_counter() - t0
            if st != 200:
                with lock:
                    stats["failed"] += 1
                    stats["errors"].append(f"{time.perf_counter() - t_start:.1f}s "
                                           f"{'page' if page else 'api'} {q!r}: HTTP {st} "
                                           f"{body[:200]!r}")
                continue
            try:
                if page:
                    got: Any = page_ids(body)
                    good = got in accept_ids[q]
                else:
                    got = api_answer(body)
                    good = got in accept[q]
            except Exception as exc:
                got, good = repr(exc), False
            with lock:
                stats["lat"].append(dt)
                stats["lat_page" if page else "lat_api"].append(dt)
                if good:
                    stats["ok"] += 1
                else:
                    stats["wrong"] += 1
                    if len(stats["wrong_examples"]) < 20:
                        stats["wrong_examples"].append(
                            f"{time.perf_counter() - t_start:.1f}s {'page' if page else 'api'} "
                            f"{q!r}: got {str(got)[:300]}; expected one of "
                            f"{[str(x)[:200] for x in (accept_ids if page else accept)[q]]}")
        c.close()

    def updater() -> None:
        try:
            for when, what in ((a.duration / 3, "apply"), (2 * a.duration / 3, "undo")):
                while time.perf_counter() - t_start < when:
                    if stop.wait(0.05):
                        return
                getattr(upd, what)()
                t0 = time.perf_counter()
                events.append((t0 - t_start, f"files {'changed' if what == 'apply' else 'put back'}"))
                if a.update == "kb-index":
                    kb_index(c_a, i_a)
                    events.append((time.perf_counter() - t_start,
                                   f"kb index done ({time.perf_counter() - t0:.1f} s)"))
                # the update is visible when every marker answers as expected
                state = states[1] if what == "apply" else states[2]
                probe = Client(srv.port)
                while not stop.is_set():
                    if all(api_answer(probe.get(api_path(m))[1]) == state[m] for m in upd.markers):
                        events.append((time.perf_counter() - t_start,
                                       f"server answers from the {'updated' if what == 'apply' else 'restored'} index "
                                       f"({time.perf_counter() - t0:.1f} s after the change)"))
                        break
                    time.sleep(0.1)
                probe.close()
        except Exception as exc:
            events.append((time.perf_counter() - t_start, f"updater failed: {exc!r}"))

    loads = []
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(a.clients)]
    up = threading.Thread(target=updater, daemon=True)
    r["load_before"] = load()
    log(f"{a.clients} clients for {a.duration:.0f} s, update mode {a.update} (load {load()})")
    t_start = time.perf_counter()
    for th in threads:
        th.start()
    up.start()
    while time.perf_counter() - t_start < a.duration:
        time.sleep(1)
        loads.append(os.getloadavg()[0])
    stop.set()
    for th in threads:
        th.join(timeout=120)
    up.join(timeout=300)
    elapsed = time.perf_counter() - t_start
    r["server_rss"] = srv.rss()
    srv.stop()
    r["load_after"] = load()
    r["load_1min_max"] = max(loads) if loads else float("nan")
    # put the private copy back and check the server's last state was the restored one
    shutil.rmtree(work, ignore_errors=True)
    lat = stats["lat"]
    r.update({
        "mode": a.update, "clients": a.clients, "duration_s": elapsed,
        "requests": stats["ok"] + stats["failed"] + stats["wrong"],
        "ok": stats["ok"], "failed": stats["failed"], "wrong": stats["wrong"],
        "errors": stats["errors"][:20], "wrong_examples": stats["wrong_examples"],
        "latency": [pct(lat, 0.5), pct(lat, 0.95), max(lat) if lat else float("nan")],
        "latency_api": [pct(stats["lat_api"], 0.5), pct(stats["lat_api"], 0.95),
                        max(stats["lat_api"], default=float("nan"))],
        "latency_page": [pct(stats["lat_page"], 0.5), pct(stats["lat_page"], 0.95),
                         max(stats["lat_page"], default=float("nan"))],
        "requests_api": len(stats["lat_api"]), "requests_page": len(stats["lat_page"]),
        "events": events,
    })
    r["rps"] = r["requests"] / elapsed
    log(f"  {r['requests']} requests ({r['rps']:.1f}/s): {r['failed']} failed, "
        f"{r['wrong']} wrong; latency {three(lat)} ms")
    for t, e in events:
        log(f"  {t:6.1f} s  {e}")
    return r


# ======================================================================= report


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [f"# kb serve at {r['passages']:,} passages ({r['size']})", "",
           f"{m['date']}, {m['nproc']} cores ({m['cpu']}), {m['memory']}, Python {m['python']}, "
           f"uvicorn {m['uvicorn']}, Starlette {m['starlette']}, kb {m['commit']}.  "
           f"Command: `{' '.join(r['argv'])}`", ""]
    if "latency" in r:
        L = r["latency"]
        out += [f"## (a) Latency over loopback, ms p50 / p95 / max "
                f"({len(L['per_query']['api'])} queries, median of {r['rounds']} round(s) each; "
                f"load {L['load_before']} before, {L['load_after']} after)", "",
                "| query type | library (in process) | GET /api/search | GET /?q= (page) | API − library |",
                "|---|---|---|---|---|"]
        for t in (*TYPES, "all"):
            s = L["summary"][t]
            cell = lambda k: " / ".join(ms(x) for x in s[k])  # noqa: E731
            name = f"**{t}**" if t == "all" else t
            out.append(f"| {name} | {cell('lib')} | {cell('api')} | {cell('page')} | "
                       f"{ms(s['overhead'][0])} / {ms(s['overhead'][1])} |")
        out += ["", f"Server start to first answer: {L['server_start_s']:.1f} s; server RSS "
                f"{L['server_rss'][0] / 2**20:.0f} MB (peak {L['server_rss'][1] / 2**20:.0f} MB); "
                f"median response {L['bytes']['api'] / 1024:.1f} KB (API), "
                f"{L['bytes']['page'] / 1024:.1f} KB (page).  "
                f"Answers differing from the library's: {len(L['mismatch'])}.", ""]
        api95, page95 = L["summary"]["all"]["api"][1], L["summary"]["all"]["page"][1]
        out += [f"Target p95 < 50 ms: API {ms(api95)} ms ({'met' if api95 < 0.05 else 'missed'}), "
                f"page {ms(page95)} ms ({'met' if page95 < 0.05 else 'missed'}).", ""]
    if "concurrency" in r:
        C = r["concurrency"]
        out += [f"## (b) {C['clients']} clients for {C['duration_s']:.0f} s during an index update "
                f"({C['mode']})", "",
                "| requests | per second | failed | wrong results | latency p50 / p95 / max, ms: "
                "all | API | page |",
                "|---|---|---|---|---|---|---|",
                f"| {C['requests']:,} | {C['rps']:.1f} | {C['failed']} | {C['wrong']} | "
                f"{' / '.join(ms(x) for x in C['latency'])} | "
                f"{' / '.join(ms(x) for x in C['latency_api'])} | "
                f"{' / '.join(ms(x) for x in C['latency_page'])} |", "",
                f"{C['queries']} queries (the latency set and 6 made-up words of the changed "
                f"files); {C['changing']} of them answer differently before, between and "
                f"after the updates.  Offline, the same updates took "
                f"{' and '.join(f'{s:.1f} s' for s in C['update_offline_s'])} (`kb index`).  "
                f"Load average {C['load_before']} before, {C['load_after']} after "
                f"(1-minute peak {C['load_1min_max']:.2f}); server RSS "
                f"{C['server_rss'][0] / 2**20:.0f} MB (peak {C['server_rss'][1] / 2**20:.0f} MB).",
                "", "Timeline (the probe that sees the switch queues behind the clients):", ""]
        out += [f"- {t:.1f} s: {e}" for t, e in C["events"]]
        if C["errors"]:
            out += ["", "Failed requests (first 20):", ""] + [f"- {e}" for e in C["errors"]]
        if C["wrong_examples"]:
            out += ["", "Wrong results (first 20):", ""] + [f"- {e}" for e in C["wrong_examples"]]
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="200k", help="passages (bench/engines.py sizes: 20k, 200k, 1m)")
    ap.add_argument("--data", type=Path, default=engines.DATA,
                    help="where bench/engines.py keeps its corpora and indexes")
    ap.add_argument("--source", type=Path, default=engines.SOURCE, help="the UN documents folder")
    ap.add_argument("--queries", type=int, default=40, help="queries per type (max 40)")
    ap.add_argument("--rounds", type=int, default=3, help="latency rounds; each query's median")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of concurrent load")
    ap.add_argument("--update", choices=("kb-index", "watcher"), default="kb-index",
                    help="who updates the index during the load: a `kb index` process "
                         "(server with --no-watch), or the server's own watcher")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    a = ap.parse_args()
    queries = engines.read_queries(a.queries)
    corpus, index, passages = prepare(a)
    r: dict[str, Any] = {"size": a.size, "passages": passages, "machine": machine(),
                         "rounds": a.rounds, "argv": ["python", "bench/serve.py", *sys.argv[1:]]}
    if not a.skip_latency:
        r["latency"] = latency(a, corpus, index, queries)
    if not a.skip_load:
        r["concurrency"] = concurrency(a, corpus, index, queries)
    md = report(r)
    RESULTS.mkdir(exist_ok=True)
    lab = engines.label(engines.parse_size(a.size))
    (RESULTS / f"serve-{lab}.md").write_text(md)
    (RESULTS / f"serve-{lab}.json").write_text(json.dumps(r, indent=1, default=str))
    print(md, flush=True)
    bad = (r.get("concurrency", {}).get("failed", 0) + r.get("concurrency", {}).get("wrong", 0)
           + len(r.get("latency", {}).get("mismatch", [])))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
