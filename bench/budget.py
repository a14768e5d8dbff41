"""Worst-case requests beside normal traffic (issue 19): does one costly request
stall `kb serve` for everyone?

    python bench/budget.py                      # 200k passages (the issue's target)
    python bench/budget.py --size 20k --seconds 10

Corpus and index: ``bench/engines.py``'s (``bench/serve.py``'s ``prepare``). ``kb serve
--no-watch`` in a subprocess.  A *normal* client (one keep-alive connection) sends the
240 realistic queries of ``bench/queries-realistic.json`` to ``/api/search`` in turn
and times each; first alone (the baseline), then while an *attacker* thread sends one
kind of worst-case request over and over, for ``--seconds`` each:

* ``wildcards-1000``: ``/api/search?q=*aa* *ab* … `` with 1,000 patterns (under the
  5,000-character limit): 132 s before issue 19, everyone else waiting;
* ``wildcards-20``: the 20 distinct ``*xy*`` patterns kb now allows;
* ``unknown-600``: 600 made-up words (spelling correction for each, before);
* ``export-ion``: ``/api/export?q=*ion&format=docx`` (104,887 passages, 2.2 GB a
  request, before; now at most 5,000 passages, one export at a time per client);
* ``dropped``: three 750-character wildcard queries whose connection is closed at
  once (the search used to run on for nobody);
* ``question-5000``: a pasted 5,000-character question.

Reported per kind: the normal client's p50 / p95 / max, how many attacker requests
were answered and how (status codes), and the server's peak RSS.  Target: the normal
client's p95 stays under 200 ms at 200k.  ``bench/results/budget-<size>.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import serve  # noqa: E402 - the corpus, the server, the client
from serve import Client, Server, engines, log, ms, pct  # noqa: E402

PAIRS = [f"*{a}{b}*" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]


def attacks() -> dict[str, list[str]]:
    rnd = random.Random(19)
    words = ["".join(rnd.choice("bcdfghjklmnpqrstvwxz") for _ in range(9)) for _ in range(600)]
    q1000 = " ".join((PAIRS * 2)[:1000])[:4990]
    question = ("what has the general assembly said about the protection of civilians in "
                "armed conflict and the role of peacekeeping operations ") * 40
    return {
        "wildcards-1000": ["/api/search?" + urlencode({"q": q1000})],
        "wildcards-20": ["/api/search?" + urlencode({"q": " ".join(PAIRS[:20])})],
        "unknown-600": ["/api/search?" + urlencode({"q": " ".join(words)[:4990]})],
        "export-ion": ["/api/export?" + urlencode({"q": "*ion", "format": "docx"})],
        "dropped": ["/api/search?" + urlencode({"q": " ".join(PAIRS[200:300])[:750]})],
        "question-5000": ["/api/search?" + urlencode({"q": question[:4990]})],
    }


def attacker(port: int, kind: str, paths: list[str], stop: threading.Event,
             out: dict[str, Any]) -> None:
    codes: dict[str, int] = {}
    times: list[float] = []
    while not stop.is_set():
        for p in paths:
            t0 = time.perf_counter()
            if kind == "dropped":  # send the request, close at once, three at a time
                for _ in range(3):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                    s.close()
                codes["sent"] = codes.get("sent", 0) + 3
                stop.wait(1.0)
                continue
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                c.request("GET", p)
                r = c.getresponse()
                r.read()
                c.close()
                codes[str(r.status)] = codes.get(str(r.status), 0) + 1
            except OSError as e:
                codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1
            times.append(time.perf_counter() - t0)
    out["codes"] = codes
    out["times"] = times


def normal(port: int, queries: list[str], seconds: float) -> list[float]:
    c = Client(port)
    lat: list[float] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        q = queries[i % len(queries)]
        i += 1
        t0 = time.perf_counter()
        status, _ = c.get("/api/search?" + urlencode({"q": q}))
        lat.append(time.perf_counter() - t0)
        if status != 200:
            lat[-1] = float("inf")
    c.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="200k")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--data", type=Path, default=engines.DATA)
    ap.add_argument("--source", type=Path, default=engines.SOURCE)
    a = ap.parse_args()
    corpus, index, passages = serve.prepare(a)
    queries = [q for _, q in engines.read_queries(40)]
    server = Server(corpus, index, watch=False, name=f"budget-{a.size}")
    rows = []
    try:
        c = Client(server.port)
        for q in queries:  # warm up
            c.get("/api/search?" + urlencode({"q": q}))
        c.close()
        log(f"baseline: {a.seconds:.0f} s of normal queries (load {engines.load()})")
        base = normal(server.port, queries, a.seconds)
        rows.append(("none (baseline)", base, {}, None))
        for kind, paths in attacks().items():
            log(f"{kind}: normal queries beside it for {a.seconds:.0f} s (load {engines.load()})")
            stop = threading.Event()
            out: dict[str, Any] = {}
            t = threading.Thread(target=attacker, args=(server.port, kind, paths, stop, out))
            t.start()
            time.sleep(0.5)
            lat = normal(server.port, queries, a.seconds)
            stop.set()
            t.join(timeout=600)
            rows.append((kind, lat, out.get("codes", {}), out.get("times", [])))
        rss = server.rss()
    finally:
        server.stop()
    lines = [f"# Worst-case requests beside normal traffic, {passages:,} passages", "",
             f"`python bench/budget.py --size {a.size} --seconds {a.seconds:g}`; "
             f"{serve.machine()}", "",
             "| attacker | normal client p50 / p95 / max, ms | normal requests | "
             "attacker's answers | attacker's time p50 / max, s |",
             "|---|---|---|---|---|"]
    for kind, lat, codes, times in rows:
        ok = [x for x in lat if x != float("inf")]
        failed = len(lat) - len(ok)
        tt = f"{statistics.median(times):.2f} / {max(times):.2f}" if times else "-"
        lines.append(f"| {kind} | {ms(pct(ok, 0.5))} / {ms(pct(ok, 0.95))} / {ms(max(ok))} | "
                     f"{len(lat):,}{f' ({failed} failed)' if failed else ''} | "
                     f"{', '.join(f'{k}: {v}' for k, v in sorted(codes.items())) or '-'} | {tt} |")
    lines += ["", f"Server RSS at the end: {rss[0] / 2**20:.0f} MB, peak {rss[1] / 2**20:.0f} MB."]
    text = "\n".join(lines) + "\n"
    print(text)
    serve.RESULTS.mkdir(exist_ok=True)
    (serve.RESULTS / f"budget-{a.size}.md").write_text(text)
    (serve.RESULTS / f"budget-{a.size}.json").write_text(json.dumps(
        {"rows": [(k, lat, codes, times) for k, lat, codes, times in rows],
         "rss": rss}, default=str))


if __name__ == "__main__":
    main()
