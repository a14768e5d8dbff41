"""Every request has a budget (issue 19): wildcard and fuzzy words are capped, a
search stops past its time or when its client goes away, web exports are capped,
streamed and one at a time per client, and no lock holds every user."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.errors import QueryError, SearchTooCostly
from kb.models import Budget

from .conftest import SAMPLE, SAMPLE_ID
from .test_web import BASE, TestClient


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("budget")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE_ID)
    kb = KnowledgeBase(corpus, root / "index")
    kb.update()
    yield kb
    kb.close()


def many_wildcards(n: int) -> str:
    pairs = [f"*{a}{b}*" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
    return " ".join(pairs[:n])


def test_too_many_wildcard_or_fuzzy_words_is_one_line(sample):
    t0 = time.perf_counter()
    with pytest.raises(QueryError, match="600 wildcard or fuzzy words; at most 20"):
        sample.search(many_wildcards(600))
    assert time.perf_counter() - t0 < 1  # refused before any look-up
    sample.search(many_wildcards(20))  # the limit itself is fine
    r = CliRunner().invoke(cli, ["search", many_wildcards(600), "--corpus", str(sample.corpus),
                                 "--index", str(sample.index)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1


def test_a_wildcard_matching_too_many_words_searches_the_most_frequent(sample, monkeypatch):
    import kb.engine.ranker as kr

    monkeypatch.setattr(kr, "MAX_EXPANSION", 5)
    sample.close()  # a new reader: nothing expanded before
    r = sample.search("s*", limit=None)
    assert r.notes == ("s* matches more than 5 words: the 5 most frequent are searched",)
    assert 0 < len({t for t in r.terms if t.startswith("s")}) <= 5
    res = CliRunner().invoke(cli, ["search", "s*", "--corpus", str(sample.corpus),
                                   "--index", str(sample.index)])
    assert "Note: s* matches more than 5 words" in res.stderr


def test_a_search_stops_past_its_budget_or_when_cancelled(sample):
    with pytest.raises(SearchTooCostly, match="took more than"):
        sample.search("harassment training", budget=Budget.of(0.0))
    gone = threading.Event()
    gone.set()
    with pytest.raises(SearchTooCostly, match="client went away"):
        sample.search("harassment training", budget=Budget(None, gone))
    assert sample.search("harassment training", budget=Budget.of(30)).total


def _app(kb: KnowledgeBase):
    from kb.web import create_app

    return create_app(kb)


def test_the_page_and_api_answer_a_search_past_its_budget_with_a_400(sample, monkeypatch):
    import kb.web as web

    monkeypatch.setattr(web, "SEARCH_SECONDS", 0.0)
    with TestClient(_app(sample), base_url=BASE) as c:
        r = c.get("/api/search?q=harassment")
        assert r.status_code == 400 and "took more than" in r.json()["error"]
        r = c.get("/?q=harassment")
        assert r.status_code == 400 and "took more than" in r.text


def test_a_search_stops_when_its_client_goes_away(sample, monkeypatch):
    """The client disconnects while its search runs: the search sees it within a
    moment and stops, instead of running on for nobody (the server's threads)."""
    import kb.web as web
    from kb.models import Budget as B

    stopped: list[float] = []

    def slow_search(*a, budget: B, **k):
        t0 = time.perf_counter()
        while True:  # a search that would run for minutes, checking its budget
            try:
                budget.check()
            except SearchTooCostly:
                stopped.append(time.perf_counter() - t0)
                raise
            time.sleep(0.01)

    monkeypatch.setattr(web, "SEARCH_SECONDS", 60.0)
    monkeypatch.setattr(sample, "search", slow_search)
    app = _app(sample)

    async def go() -> None:
        sent: list[dict] = []
        calls = [0]
        start = time.monotonic()

        async def receive() -> dict:
            calls[0] += 1
            if calls[0] == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            if time.monotonic() - start > 0.3:  # the client hung up a moment later
                return {"type": "http.disconnect"}
            await asyncio.sleep(3600)  # nothing yet (a server's receive waits)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": "/api/search",
                 "raw_path": b"/api/search", "query_string": b"q=harassment",
                 "headers": [(b"host", b"127.0.0.1:8765")], "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 8765), "root_path": ""}
        await asyncio.wait_for(app(scope, receive, send), timeout=10)

    t0 = time.perf_counter()
    asyncio.run(go())
    assert stopped and stopped[0] < 2 and time.perf_counter() - t0 < 5


def test_web_exports_are_capped_and_streamed(sample, monkeypatch):
    import kb.web as web

    monkeypatch.setattr(web, "WEB_EXPORT_MAX", 3)
    with TestClient(_app(sample), base_url=BASE) as c:
        r = c.get("/api/export?q=harassment&format=jsonl")
        assert r.status_code == 200
        assert len(r.text.splitlines()) == 3
        assert r.headers["x-kb-capped"].startswith("3 of ")
        ids = ",".join(h.id for h in sample.search("harassment", limit=4).hits)
        r = c.get(f"/api/export?ids={ids.replace('#', '%23')}&format=md")
        assert r.status_code == 400 and "at most 3" in r.json()["error"]


def test_one_export_at_a_time_per_client(sample, monkeypatch):
    import kb.export as ex

    real = ex.write
    started = threading.Event()

    def slow(*a, **k):
        started.set()
        time.sleep(1.0)
        return real(*a, **k)

    monkeypatch.setattr(ex, "write", slow)
    codes: list[int] = []
    with TestClient(_app(sample), base_url=BASE) as c:
        t = threading.Thread(target=lambda: codes.append(
            c.get("/api/export?q=harassment&format=md").status_code))
        t.start()
        assert started.wait(10)
        second = c.get("/api/export?q=training&format=md")
        t.join()
    assert codes == [200] and second.status_code == 429
    assert "still being made" in second.json()["error"]


def test_budget_check_costs_little():
    b = Budget.of(10)
    t0 = time.perf_counter()
    for _ in range(100_000):
        b.check()
    assert time.perf_counter() - t0 < 1


def test_no_lock_holds_every_user_while_one_search_is_slow(sample, monkeypatch):
    """One client's slow search (1 s) does not hold another's quick one."""
    import kb.web as web

    real = sample.search

    def search(q, *a, **k):
        if q == "slow":
            time.sleep(1.0)
        return real("harassment" if q == "slow" else q, *a, **k)

    monkeypatch.setattr(web, "SEARCH_SECONDS", 30.0)
    monkeypatch.setattr(sample, "search", search)
    with TestClient(_app(sample), base_url=BASE) as c:
        t = threading.Thread(target=lambda: c.get("/api/search?q=slow"))
        t.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
        assert c.get("/api/search?q=training").status_code == 200
        quick = time.perf_counter() - t0
        t.join()
    assert quick < 0.7, quick


def test_the_export_streams_in_pieces(sample, monkeypatch):
    """A large export is not one string in memory: the body comes in blocks."""
    import kb.web as web

    monkeypatch.setattr(web, "WEB_EXPORT_MAX", 5000)
    with TestClient(_app(sample), base_url=BASE) as c:
        with c.stream("GET", "/api/export?q=harassment&format=md") as r:
            assert r.status_code == 200
            body = b"".join(r.iter_bytes())
    assert body.startswith(b"# harassment")

