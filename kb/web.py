"""``kb serve``: the search as a local web page and an HTTP API.

A thin layer over :class:`kb.api.KnowledgeBase`, like the CLI: it parses the
request, calls the library and renders (Jinja2 templates in ``kb/templates``,
one CSS and one small script in ``kb/static``; nothing from a CDN).  The page
works without JavaScript (everything is rendered on the server); the script
only adds the ``/`` shortcut and the annex panel (chosen passages kept in the
browser's localStorage, downloaded through ``/api/export?ids=…``).

Routes (README "Web page"): ``/``, ``/?q=…``, ``/passage/{id}``, ``/file/{doc id}``,
``/status``, ``/annex``; ``/api/search``, ``/api/passage/{id}``, ``/api/docs``,
``/api/status``, ``/api/export``.  The JSON is that of ``--format json``.

Security (it is a server; README "Web page"): requests must name a served host
(``Host`` header, against DNS rebinding: 400), only GET and HEAD are answered
(405), with a token every request must carry it (``?token=`` once, which sets
an HttpOnly SameSite=Strict cookie, or ``Authorization: Bearer``: else 401),
files are served by document id only, from inside the corpus folder; every
response carries a Content-Security-Policy that allows no inline script;
errors are a short page or ``{"error": …}``, never a traceback (the log has it).

Heavy modules (Starlette, Jinja2) are imported here only: ``import kb`` and
``kb search`` never load this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request, cookie_parser
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .annex import CHOSEN_TITLE, MAX_TITLE, clean_title
from .errors import AmbiguousReference, KbError, PassageNotFound, QueryError
from .export import ANNEX_FORMATS
from .render import header, human_size, json_text, safe, safe_line, section_label

if TYPE_CHECKING:
    from .api import KnowledgeBase
    from .models import Facets, SearchResult

log = logging.getLogger("kb.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: hits on a page of the web search
PAGE_SIZE = 10
#: the most hits ``/api/search`` returns at once (``/api/export`` returns them all)
MAX_LIMIT = 1000
#: the most neighbouring passages ``/passage/{id}`` shows on each side
MAX_CONTEXT = 20
DEFAULT_CONTEXT = 2
#: the facets list this many documents, those with the most matches (every match is
#: counted, by the same pass over the ranking arrays that ranks them)
FACET_DOCS = 12
#: how long the page header reuses the index summary when the index's update time
#: cannot be read (else it is read again exactly when the index changes)
SUMMARY_TTL = 60.0
#: the hosts a server bound to loopback answers to (``Host`` header)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
COOKIE = "kb_token"
#: an access token: long enough not to be guessed, safe in a URL and in a cookie
TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,200}")

CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
#: an HTML document of the corpus is shown with its scripts off, in an origin of its own
CSP_SANDBOX = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
ALLOWED_METHODS = ("GET", "HEAD")

#: export formats -> content type of the download
CONTENT_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
#: corpus files: how they are sent (text formats decoded and sent as UTF-8 text)
FILE_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html; charset=utf-8",
}

T = TypeVar("T")


class BadRequest(Exception):
    """A parameter the route cannot use: 400 with this message."""


# --------------------------------------------------------------------------- the engine


#: a search from the page or the API may run this long, an export this long; past
#: it, or when the client goes away, it stops (:class:`kb.models.Budget`)
SEARCH_SECONDS = 5.0
EXPORT_SECONDS = 60.0
#: an export from the web holds at most this many passages (``kb export`` has no limit)
WEB_EXPORT_MAX = 5_000
#: searches and exports run at most this many at once (the cores: more threads add
#: no throughput under the GIL, only latency); a slow one holds one slot, not all
SEARCH_SLOTS = max(2, os.cpu_count() or 2)


class Engine:
    """The one place that touches the shared :class:`KnowledgeBase`.

    Starlette runs the routes in a thread pool; a ``KnowledgeBase`` serves the
    threads at once (each holds the generation it reads until it is done), so
    there is no lock: one slow request does not hold the others.  Every search
    runs under the budget of its request (:meth:`budget`): a deadline, and a flag
    that the request's client went away (:meth:`Web.guarded` watches for that)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._local = threading.local()
        self._slots = threading.BoundedSemaphore(SEARCH_SLOTS)

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def budget(self) -> Any:
        """The budget of the request this thread serves (none outside a request)."""
        from .models import Budget

        return getattr(self._local, "budget", None) or Budget()

    def run(self, budget: Any, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in this thread, under ``budget``, in one of the
        :data:`SEARCH_SLOTS` (waiting for one counts against the budget)."""
        while not self._slots.acquire(timeout=0.05):
            budget.check()
        try:
            self._local.budget = budget
            return fn(*args)
        finally:
            self._local.budget = None
            self._slots.release()


# --------------------------------------------------------------------------- parameters


def _int(params: Any, name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {shorten(raw)!r}") from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name} must be from {lo:,} to {hi:,}")
    return n


def _flag(params: Any, name: str) -> bool:
    return (params.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _date(params: Any, name: str, end: bool) -> dt.date | None:
    from .search import parse_date

    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return parse_date(raw, end)
    except ValueError as e:
        raise BadRequest(f"{name}: {e}") from None


def shorten(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


class Query:
    """The search a request asks for: the query and the filters, as given."""

    FIELDS = ("q", "doc", "section", "since", "until")

    def __init__(self, params: Any) -> None:
        self.raw = {k: (params.get(k) or "").strip() for k in self.FIELDS}
        self.q = self.raw["q"]
        self.doc = self.raw["doc"] or None
        self.section = self.raw["section"] or None
        self.since = _date(params, "since", end=False)
        self.until = _date(params, "until", end=True)
        self.group = _flag(params, "group")
        self.correct = (params.get("correct") or "1") != "0"

    def filters(self) -> dict[str, Any]:
        return {"doc": self.doc, "section": self.section, "since": self.since,
                "until": self.until}

    def url(self, **changes: Any) -> str:
        """This search's page with some parameters changed (None removes one)."""
        p: dict[str, Any] = {k: v for k, v in self.raw.items() if v}
        if self.group:
            p["group"] = "1"
        p.update(changes)
        return "/?" + urlencode({k: v for k, v in p.items() if v not in (None, "")})


def split_ids(query_string: bytes, name: str = "ids", keep_empty: bool = False) -> list[str]:
    """The ``ids`` of ``/api/export?ids=A,B&ids=C``: commas separate ids; a comma that
    is part of an id (a file name with a comma) is sent encoded, as ``%2C``.  ``name``:
    another list parameter written the same way (``queries``); ``keep_empty``: keep the
    empty entries (``queries=a,,b``: the second id was picked from no search)."""
    out: list[str] = []
    for pair in query_string.decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) != name:
            continue
        for part in value.split(","):
            ref = unquote_plus(part, encoding="utf-8", errors="replace").strip()
            if ref or keep_empty:
                out.append(ref)
    return out


def annex_title(params: Any) -> str | None:
    """The ``title=`` of an annex (the annex panel's title box): None when it is not
    given or blank (the default title then); else on one line.

    :raises BadRequest: it holds a control character or is too long.
    """
    raw = params.get("title") or ""
    if not raw.strip():
        return None
    try:
        return clean_title(raw, "title=")
    except ValueError as e:
        raise BadRequest(str(e)) from None


def default_annex_title(queries: list[str]) -> str:
    """What the title box shows when it is empty: the query the chosen passages were
    picked from, when they share one, else "Chosen passages" (as :func:`kb.annex.build`)."""
    distinct = list(dict.fromkeys(" ".join(q.split()) for q in queries if q.strip()))
    return distinct[0] if len(distinct) == 1 else CHOSEN_TITLE


def passage_url(pid: str, context: int | None = None) -> str:
    url = "/passage/" + quote(pid, safe="")
    return url + (f"?context={context}" if context is not None else "")


def file_url(doc: str, page: int | None = None) -> str:
    return "/file/" + quote(doc, safe="/") + (f"#page={page}" if page else "")


def export_url(ids: list[str], fmt: str, queries: list[str] | None = None,
               title: str | None = None) -> str:
    """The download of chosen passages; an annex's also carries the query each was
    picked from (``queries``, one per id, "" for none) and the title."""
    url = "/api/export?ids=" + ",".join(quote(i, safe="") for i in ids)
    if fmt in ANNEX_FORMATS:
        if queries and any(queries):
            url += "&queries=" + ",".join(quote(q, safe="") for q in queries)
        if title:
            url += "&title=" + quote(title, safe="")
    return url + f"&format={fmt}"


def annex_url(ids: list[str], queries: list[str], title: str | None) -> str:
    """The ``/annex`` page of these passages (the page without JavaScript)."""
    url = "/annex?ids=" + ",".join(quote(i, safe="") for i in ids)
    if any(queries):
        url += "&queries=" + ",".join(quote(q, safe="") for q in queries)
    return url + ("&title=" + quote(title, safe="") if title else "")


# --------------------------------------------------------------------------- rendering


def marked(text: str, spans: Any = ()) -> Markup:
    """Document text as HTML: escaped, control characters shown visibly (as on the
    terminal: :func:`kb.render.safe`), the ``spans`` (offsets into ``text``) in ``<mark>``."""
    out: list[Markup] = []
    pos = 0
    for s, e in sorted(spans):
        s = max(s, pos)
        if e <= s:
            continue
        out.append(escape(safe(text[pos:s])))
        out.append(Markup("<mark>%s</mark>") % safe(text[s:e]))
        pos = e
    out.append(escape(safe(text[pos:])))
    return Markup("").join(out)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def exact(value: str | None) -> Markup:
    """A value the page must keep exactly (a passage id in ``data-id``, the query in the
    search box) for an attribute: escaped, and its control characters written as
    character references, so that no raw control character is in the page while
    the browser still reads the value as it is."""
    return Markup(_CONTROL.sub(lambda m: f"&#x{ord(m.group()):x};", str(escape(value or ""))))


def _ago(t: float | None, now: float | None = None) -> str:
    if not t:
        return "never"
    secs = max(0, int((now or time.time()) - t))
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= n:
            k = secs // n
            return f"{k} {unit}{'s' * (k != 1)} ago"
    return "just now"


def _hhmm(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        return dt.datetime.fromisoformat(iso).strftime("%H:%M")
    except ValueError:
        return None


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      auto_reload=False, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["text"] = lambda s: safe(s or "")  # document text (escaped by Jinja)
    env.filters["line"] = lambda s: safe_line(s or "")  # names, ids, citations, queries
    env.filters["exact"] = exact  # ids and values the page hands back
    env.globals.update(marked=marked, passage_url=passage_url, file_url=file_url,
                       export_url=export_url, section_label=section_label,
                       max_title=MAX_TITLE, chosen_title=CHOSEN_TITLE,
                       version=__version__)
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)  # compiled once, here
    return env


# --------------------------------------------------------------------------- facets


def facets(counted: Facets, query: Query) -> dict[str, Any]:
    """Counts by document and by year (:class:`kb.models.Facets`: every match,
    each text once, in the document whose passage stands for it), each with the
    link that narrows the search to it.  ``more_docs``: how many other documents
    match."""
    from .search import exact_doc_pattern

    ids = [d.doc for d in counted.docs]
    docs = []
    for d in counted.docs:
        # the id itself as the pattern when no other listed document's path holds it
        # (readable in the filter box), else the exact pattern
        plain = not any(c in d.doc for c in "*?[") and \
            not any(d.doc in other for other in ids if other != d.doc)
        pattern = d.doc if plain else exact_doc_pattern(d.doc)
        docs.append({"doc": d.doc, "title": d.title, "count": d.count,
                     "url": query.url(doc=pattern, offset=None)})
    by_year = [{"year": y, "count": n, "url": query.url(since=y, until=y, offset=None)}
               for y, n in counted.years]
    return {"docs": docs, "more_docs": max(0, counted.documents - len(docs)),
            "years": by_year, "undated": counted.undated}


# --------------------------------------------------------------------------- security


def _host_name(value: str | None) -> str | None:
    """The host of a ``Host`` header, without port or brackets, lower case."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        if end < 0 or (v[end + 1:] and not (v[end + 1] == ":" and v[end + 2:].isdigit())):
            return None
        return v[1:end]
    name, _, port = v.rpartition(":") if ":" in v else (v, "", "")
    if port and not port.isdigit():
        return None
    name = name.rstrip(".")
    if not name or any(c in name for c in "/\\@ ?#"):
        return None
    return name


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode("utf-8", "surrogatepass"),
                                  b.encode("utf-8", "surrogatepass"))


class Guard:
    """The outer layer of every request (pure ASGI): the security headers on every
    response, then the ``Host`` check (400), the method check (405), the token
    (401); and any error that escapes a route is logged with its traceback and
    answered with a short page or JSON error (500), never the traceback."""

    def __init__(self, app: ASGIApp, *, token: str | None, hosts: list[str],
                 error_page: Callable[[int, str, bool], Response]) -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower().strip("[]").rstrip(".") for h in hosts}
        self.any_host = "*" in self.hosts
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie: str | None = None
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                hs = list(message.get("headers", []))
                names = {k.lower() for k, _ in hs}
                if b"content-security-policy" not in names:
                    hs.append((b"content-security-policy", CSP.encode()))
                hs += [h for h in SECURITY_HEADERS if h[0] not in names]
                if cookie is not None:
                    hs.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": hs}
            await send(message)

        path = scope.get("path", "")
        api = path.startswith("/api/")
        headers = Headers(scope=scope)
        try:
            host = _host_name(headers.get("host"))
            if not self.any_host and host not in self.hosts:
                await self.error_page(400, "This server does not answer to that host name "
                                           "(Host header).", api)(scope, receive,
                                                                   send_with_headers)
                return
            if scope["method"] not in ALLOWED_METHODS:
                r = self.error_page(405, "Only GET and HEAD requests are answered here.", api)
                r.headers["allow"] = ", ".join(ALLOWED_METHODS)
                await r(scope, receive, send_with_headers)
                return
            public = path.startswith("/static/") and ".." not in path  # no data in it
            if self.token is not None and not public:
                ok, from_query = self._authorized(scope, headers)
                if not ok:
                    await self.error_page(
                        401, "This kb server needs its access token: open the link "
                             "`kb serve` printed (it ends in ?token=…), or send "
                             "Authorization: Bearer TOKEN.", api)(scope, receive,
                                                                  send_with_headers)
                    return
                if from_query:
                    cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await self.app(scope, receive, send_with_headers)
        except Exception:  # noqa: BLE001 - a bug: logged, answered, never shown
            log.exception("error while answering %s %s", scope.get("method"),
                          safe_line(path))
            if not started:
                await self.error_page(500, "Something went wrong on the server; the "
                                           "server's log says what.", api)(
                    scope, receive, send_with_headers)

    def _authorized(self, scope: Scope, headers: Headers) -> tuple[bool, bool]:
        """(token given and right, given as ``?token=``)."""
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), self.token):
            return True, False
        value = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        if value is not None and _same(value, self.token):
            return True, False
        qs = scope.get("query_string", b"").decode("latin-1")
        for k, v in parse_qsl(qs, keep_blank_values=True):
            if k == "token" and _same(v, self.token):
                return True, True
        return False, False


# --------------------------------------------------------------------------- the app


class Web:
    """The routes of one app, over one :class:`KnowledgeBase`."""

    def __init__(self, kb: KnowledgeBase, watch: bool) -> None:
        self.kb = kb
        self.engine = Engine(kb)
        self.env = _environment()
        self.want_watch = watch
        self.watcher: Any = None
        self.watch_note: str | None = None
        #: (when read, the summary, the index's update time then)
        self._summary: tuple[float, dict[str, Any], Any] | None = None
        #: clients (by address) with an export under way: one at a time each
        self._exporting: set[str] = set()
        self._exporting_lock = threading.Lock()

    def guarded(self, handler: Callable[[Request], Response], seconds: float,
                one_per_client: bool = False) -> Callable[[Request], Any]:
        """``handler`` as an endpoint that runs in a worker thread under a budget of
        ``seconds`` (:class:`kb.models.Budget`): the search stops past it, or as soon
        as the client goes away (the connection closed: checked every 50 ms), instead
        of running on for nobody.  ``one_per_client``: a client already waiting for
        one (exports) is told to wait (429)."""
        import anyio
        import anyio.to_thread

        from .models import Budget

        async def endpoint(request: Request) -> Any:
            client = request.client.host if request.client else ""
            if one_per_client:
                with self._exporting_lock:
                    if client in self._exporting:
                        return self.error_page(429, "An export for you is still being made: "
                                               "wait for it, then ask again.",
                                               request.url.path.startswith("/api/"))
                    self._exporting.add(client)
            gone = threading.Event()
            budget = Budget.of(seconds, gone)
            done = anyio.Event()

            async def watch() -> None:
                while not done.is_set():
                    if await request.is_disconnected():
                        gone.set()
                        return
                    with anyio.move_on_after(0.05):
                        await done.wait()

            outcome: list[Any] = []

            async def answer() -> None:
                try:
                    outcome.append(await anyio.to_thread.run_sync(
                        self.engine.run, budget, handler, request))
                except Exception as e:  # noqa: BLE001 - raised below, outside the group
                    outcome.append(e)
                finally:
                    done.set()

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch)
                    tg.start_soon(answer)
                if isinstance(outcome[0], Exception):
                    raise outcome[0]
                return outcome[0]
            finally:
                if one_per_client:
                    with self._exporting_lock:
                        self._exporting.discard(client)

        endpoint.__name__ = getattr(handler, "__name__", "endpoint")
        return endpoint

    # -- helpers ----------------------------------------------------------------

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("nav", "")
        context["summary"] = self.summary()
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def json(obj: Any, status: int = 200) -> Response:
        return Response(json_text(obj, indent=2) + "\n", status_code=status,
                        media_type="application/json")

    def error_page(self, status: int, message: str, api: bool) -> Response:
        if api:
            return self.json({"error": message}, status)
        html = self.env.get_template("error.html").render(status=status, message=message)
        return HTMLResponse(html, status_code=status)

    def watch_state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"enabled": self.watcher is not None, "running": False,
                              "last_update": None, "last_error": None}
        if self.watcher is not None:
            try:
                st.update(self.watcher.state)
            except Exception:  # noqa: BLE001 - the page must not fail for it
                log.exception("reading the watcher's state")
        elif self.watch_note:
            st["last_error"] = self.watch_note
        return st

    def summary(self) -> dict[str, Any]:
        """Documents, passages and when the index last changed, for every page: from
        :meth:`KnowledgeBase.status`, read again only when the index has changed since
        (:meth:`KnowledgeBase.last_updated`, a small read; ``status`` also checks every
        corpus file and costs tens of ms at 200k passages); when that cannot be read
        (a missing corpus folder), after :data:`SUMMARY_TTL` seconds."""
        now = time.monotonic()
        cached = self._summary
        try:
            changed: Any = self.engine(self.kb.last_updated) or 0.0
        except Exception:  # noqa: BLE001 - shown on /status; a page still renders
            changed = None
        if cached is None or (changed is None and now - cached[0] > SUMMARY_TTL) or \
                (changed is not None and changed != cached[2]):
            try:
                st = self.engine(self.kb.status)
                info = {"documents": st.documents, "passages": st.passages,
                        "updated": st.updated}
            except KbError as e:  # a damaged index, a missing corpus: /status says it
                log.error("reading the index status: %s", safe_line(str(e)))
                info = {"documents": 0, "passages": 0, "updated": None}
            except Exception:  # noqa: BLE001 - shown on /status; a page still renders
                log.exception("reading the index status")
                info = {"documents": 0, "passages": 0, "updated": None}
            cached = self._summary = (now, info, changed)
        info = dict(cached[1])
        w = self.watch_state()
        info["updating"] = bool(w.get("running"))
        when = _hhmm(w.get("last_update")) if w.get("last_update") else None
        if when is None and info["updated"]:
            when = dt.datetime.fromtimestamp(info["updated"]).strftime("%H:%M")
        info["updated_hhmm"] = when
        return info

    def on_update(self, *args: Any) -> None:
        """The watcher finished an update: the next page reads the summary again."""
        self._summary = None

    # -- pages ------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        params = request.query_params
        ctx: dict[str, Any] = {"nav": "search", "result": None, "error": None,
                               "facets": None, "form": {k: "" for k in Query.FIELDS},
                               "group": False}
        try:
            query = Query(params)
            offset = _int(params, "offset", 0, 0, 10_000_000)
        except BadRequest as e:
            ctx["form"] = {k: (params.get(k) or "") for k in Query.FIELDS}
            ctx["error"] = str(e)
            return self.page("index.html", 400, **ctx)
        ctx["form"] = query.raw
        ctx["group"] = query.group
        if not query.q:
            return self.page("index.html", **ctx)
        try:
            result = self.engine(self.kb.search, query.q, limit=PAGE_SIZE, offset=offset,
                                 group=query.group, correct=query.correct,
                                 facets=FACET_DOCS, budget=self.engine.budget(),
                                 **query.filters())
        except QueryError as e:
            ctx["error"] = str(e)
            return self.page("index.html", 400, **ctx)
        ctx.update(self._results(result, query))
        return self.page("index.html", **ctx)

    def _results(self, result: SearchResult, query: Query) -> dict[str, Any]:
        from .render import also_line
        from .search import exact_doc_pattern

        ctx: dict[str, Any] = {"result": result, "header": header(result)}
        ctx["facets"] = facets(result.facets, query) \
            if result.total and result.facets is not None else None
        ctx["also"] = {h.id: also_line(h) for h in result.hits if h.also_in}
        ctx["doc_urls"] = {h.id: query.url(doc=exact_doc_pattern(h.doc), group=None, offset=None)
                           for h in result.hits if h.more_in_doc}
        shown = result.offset + len(result.hits)
        ctx["prev_url"] = query.url(offset=max(0, result.offset - PAGE_SIZE) or None) \
            if result.offset > 0 else None
        listed = result.total + result.partial  # partial matches follow the full ones
        ctx["next_url"] = query.url(offset=shown) if shown < listed else None
        ctx["suggestion_url"] = query.url(q=result.suggestion, offset=None) \
            if result.suggestion else None
        ctx["original_url"] = query.url(correct="0", offset=None) \
            if result.corrected_query else None
        return ctx

    def passage(self, request: Request) -> Response:
        pid = request.path_params["pid"]
        context = _int(request.query_params, "context", DEFAULT_CONTEXT, 0, MAX_CONTEXT)
        shown = self.engine(self.kb.show, [pid], context)
        focus = {p.id for p in shown.named}
        hits = [self.kb.hit_for(p) for p in shown.passages]
        first = next(h for h in hits if h.id in focus)
        return self.page("passage.html", hits=hits, focus=focus, first=first,
                         context=context, q=request.query_params.get("q", ""))

    def status(self, request: Request) -> Response:
        st = self.engine(self.kb.status)
        self._summary = (time.monotonic(), {"documents": st.documents,
                                            "passages": st.passages, "updated": st.updated},
                         st.updated or 0.0)
        return self.page("status.html", nav="status", st=st, d=st.to_dict(),
                         watch=self.watch_state(), age=_ago(st.updated),
                         size=human_size(st.size_bytes))

    def annex(self, request: Request) -> Response:
        """The annex without JavaScript: the passages named in the address
        (``?ids=A,B&add=C``; ``queries=``: the query each was picked from, ``from=``:
        C's; ``title=``), with links to remove one and to download them."""
        params = request.query_params
        ids, queries = self._chosen_refs(request)
        add = params.get("add")
        if add and add not in ids:
            ids.append(add)
            queries.append((params.get("from") or "").strip())
        title = annex_title(params)
        # shown even when a passage changed since it was picked (marked on the page); the
        # downloads refuse it until it is removed or picked again
        result, picked = self._chosen(ids, queries, allow_changed=True) if ids else (None, {})
        hits = list(result.hits) if result else []
        chosen = [f"{h.id}@{h.ref}" if not h.changed else i
                  for h, i in zip(hits, ids if len(ids) == len(hits) else [h.id for h in hits])]
        picked_q = [picked.get(h.id, "") for h in hits]
        items = [{"hit": h, "query": q, "remove_url": annex_url(
            [i for i in chosen if i != c], [x for i, x in zip(chosen, picked_q) if i != c],
            title)} for h, q, c in zip(hits, picked_q, chosen)]
        return self.page("annex.html", nav="annex", items=items, ids=chosen, queries=picked_q,
                         title=title or "", default_title=default_annex_title(picked_q))

    @staticmethod
    def _chosen_refs(request: Request) -> tuple[list[str], list[str]]:
        """``ids=`` and ``queries=`` (one per id; all "" when not given)."""
        qs = request.scope.get("query_string", b"")
        ids = split_ids(qs)
        queries = split_ids(qs, "queries", keep_empty=True)
        if not queries:
            return ids, [""] * len(ids)
        if len(queries) != len(ids):
            raise BadRequest(f"queries= names the query each passage was picked from, one per "
                             f"id (\"\" for none): {len(queries)} for {len(ids)} ids")
        return ids, queries

    def _chosen(self, refs: list[str], queries: list[str], allow_changed: bool = False
                ) -> tuple[SearchResult, dict[str, str]]:
        """The chosen passages (a reference pinned to its text is checked: moved, it is
        found where it is now; changed, :class:`kb.refs.ReferenceChanged` unless
        ``allow_changed``), and by passage id the query it was picked from (a
        reference may name several passages: each was picked from its query)."""
        from .refs import split_pin

        result = self.engine(self.kb.chosen, refs, allow_changed=allow_changed)
        picked: dict[str, str] = {}
        for ref, q in zip(refs, queries):
            q = " ".join(q.split())
            if not q:
                continue
            try:
                ps = self.engine(self.kb.resolve_all, ref)
            except KbError:  # changed since picked (allowed): what stands there now
                try:
                    ps = self.engine(self.kb.resolve_all, split_pin(ref)[0])
                except KbError:
                    ps = []
            for p in ps:
                picked.setdefault(p.id, q)
        return result, picked

    def file(self, request: Request) -> Response:
        doc = request.path_params["doc"]
        docs = {d.id: d for d in self.engine(self.kb.documents)}
        info = docs.get(doc)
        path = source_file(self.kb.corpus, doc) if info is not None else None
        if info is None or path is None:
            raise HTTPException(404, "No indexed document has that id.")
        name = os.path.basename(doc)
        fmt = info.format
        if fmt in ("markdown", "text"):
            from .corpus import DecodeFailed, read_text

            try:
                text, _ = read_text(str(path))
            except (OSError, DecodeFailed):
                raise HTTPException(404, "The file cannot be read now.") from None
            return Response(text, media_type="text/plain; charset=utf-8", headers={
                "content-disposition": _disposition("inline", name)})
        media = FILE_TYPES.get(fmt, "application/octet-stream")
        headers = {}
        if fmt == "html":
            headers["content-security-policy"] = CSP_SANDBOX
        kind = "attachment" if fmt == "docx" else "inline"
        return FileResponse(path, media_type=media, headers=headers,
                            content_disposition_type=kind, filename=name)

    # -- the API ----------------------------------------------------------------

    def api_search(self, request: Request) -> Response:
        params = request.query_params
        query = Query(params)
        if not query.q:
            raise BadRequest("give a query: /api/search?q=words")
        limit = _int(params, "limit", 10, 1, MAX_LIMIT)
        offset = _int(params, "offset", 0, 0, 10_000_000)
        result = self.engine(self.kb.search, query.q, limit=limit, offset=offset,
                             group=query.group, correct=query.correct,
                             budget=self.engine.budget(), **query.filters())
        return self.json(result.to_dict())

    def api_passage(self, request: Request) -> Response:
        pid = request.path_params["pid"]
        context = _int(request.query_params, "context", 0, 0, MAX_CONTEXT)
        shown = self.engine(self.kb.show, [pid], context)
        named = [p.id for p in shown.named]
        return self.json({"id": named[0], "ids": named,
                          "passages": [self.kb.hit_for(p).to_dict() for p in shown.passages]})

    def api_docs(self, request: Request) -> Response:
        return self.json([d.to_dict() for d in self.engine(self.kb.documents)])

    def api_status(self, request: Request) -> Response:
        st = self.engine(self.kb.status)
        return self.json({**st.to_dict(), "watch": self.watch_state()})

    def api_export(self, request: Request) -> Response:
        from . import export as ex

        params = request.query_params
        fmt = (params.get("format") or "docx").strip().lower()
        if fmt not in ex.FORMAT:
            raise BadRequest(f"format must be one of {', '.join(ex.FORMATS)}")
        ids, queries = self._chosen_refs(request)
        query = Query(params)
        title = annex_title(params)
        if title and fmt not in ex.TITLE_FORMATS:
            raise BadRequest(f"title= names an annex ({', '.join(ex.ANNEX_FORMATS)}) or a "
                             f"json export; {fmt} is one hit per row, with no place for it")
        if ids and query.q:
            raise BadRequest("give either q= (a search) or ids= (chosen passages), not both")
        picked_from = None
        if ids:
            result, picked = self._chosen(ids, queries,
                                          allow_changed=params.get("allow_changed") == "1")
            if picked and fmt in ex.ANNEX_FORMATS:
                # the passages' matched words in bold: each query's terms, as its search
                # finds them now (the query is taken as the page showed it: no correction)
                terms = {q: self.engine(self.kb.query_terms, q) for q in set(picked.values())}
                picked_from = {pid: (q, terms[q]) for pid, q in picked.items()}
        elif query.q:  # an export holds the full matches (as `kb export QUERY`), capped
            result = self.engine(self.kb.search, query.q, limit=WEB_EXPORT_MAX, partial=False,
                                 correct=query.correct, budget=self.engine.budget(),
                                 **query.filters())
        else:
            raise BadRequest("give q= (export a search) or ids= (export chosen passages)")
        if len(ids) > WEB_EXPORT_MAX:
            raise BadRequest(f"{len(ids):,} passages chosen; the web page exports at most "
                             f"{WEB_EXPORT_MAX:,} at once (`kb export` has no limit)")
        now = dt.datetime.now()
        f = ex.FORMAT[fmt]
        options: dict[str, Any] = {"now": now, "chosen": bool(ids), "title": title,
                                   "picked_from": picked_from}
        # written to a spooled file (memory up to 8 MB, then disk) and streamed from it
        import tempfile

        from starlette.responses import StreamingResponse

        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        try:
            if f.binary:
                ex.write(result, fmt, spool, **options)
            else:
                import io

                text = io.TextIOWrapper(spool, encoding=f.encoding, newline="")
                ex.write(result, fmt, text, **options)
                text.flush()
                text.detach()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise

        def chunks() -> Any:
            try:
                while block := spool.read(1 << 16):
                    yield block
            finally:
                spool.close()

        name = f"kb-annex-{now:%Y%m%d-%H%M}.{fmt}"
        headers = {"content-disposition": f'attachment; filename="{name}"'}
        if result.total > len(result.hits) and not ids:
            headers["x-kb-capped"] = (f"{len(result.hits)} of {result.total} passages: the web "
                                      f"page exports at most {WEB_EXPORT_MAX}")
        return StreamingResponse(chunks(), media_type=CONTENT_TYPES[fmt], headers=headers)

    # -- errors -------------------------------------------------------------------

    def kb_error(self, request: Request, exc: Exception) -> Response:
        api = request.url.path.startswith("/api/")
        from .refs import ReferenceChanged

        if isinstance(exc, BadRequest | QueryError | AmbiguousReference):
            status = 400
        elif isinstance(exc, PassageNotFound):
            status = 404
        elif isinstance(exc, ReferenceChanged):
            # chosen passages whose text changed since they were picked: the annex is
            # not made (allow_changed=1 makes it with the current text, marked)
            return self.error_page(409, " · ".join(safe_line(x) for x in exc.lines), api)
        else:  # the index cannot be used now (missing corpus, another corpus's index …)
            status = 503
            log.error("%s", safe_line(str(exc)))
        return self.error_page(status, safe_line(str(exc)), api)

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        api = request.url.path.startswith("/api/")
        default = {404: "There is nothing at this address."}.get(exc.status_code, "")
        detail = exc.detail if exc.detail and exc.detail != _reason(exc.status_code) \
            else default or _reason(exc.status_code)
        return self.error_page(exc.status_code, detail, api)

    # -- watching -------------------------------------------------------------------

    def start_watching(self) -> None:
        if not self.want_watch:
            return
        try:
            from .watch import Watcher  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            self.watch_note = "this kb cannot watch the corpus (no kb.watch module)"
            log.warning("%s", self.watch_note)
            return
        try:
            w = Watcher(self.kb, debounce=1.0, on_update=self.on_update)
            w.start()
        except Exception as e:  # noqa: BLE001 - serve without watching, say why
            self.watch_note = f"cannot watch the corpus: {e}"
            log.exception("starting the watcher")
            return
        self.watcher = w

    def stop_watching(self) -> None:
        if self.watcher is not None:
            try:
                self.watcher.stop()
            finally:
                self.watcher = None


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _disposition(kind: str, name: str) -> str:
    q = quote(name, safe="")
    return f"{kind}; filename*=utf-8''{q}"


def source_file(corpus: Path, doc: str) -> Path | None:
    """The file of the indexed document ``doc`` (its id: the path relative to the
    corpus folder), or None when there is no such regular file inside the corpus
    folder now: a path that leaves it (``..``, an absolute path, a symlink pointing
    out) is refused whatever the id says."""
    if not doc or doc.startswith("/") or "\x00" in doc or (os.sep != "/" and os.sep in doc):
        return None
    parts = doc.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    root = os.path.realpath(corpus)
    path = os.path.join(root, *parts)
    if not os.path.lexists(path) and "\ufffd" in doc:
        path = _undecodable(root, parts) or path
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        return None
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            return None
    except OSError:
        return None
    return Path(real)


def _undecodable(root: str, parts: list[str]) -> str | None:
    """A path whose names were not UTF-8 (the id shows their bad bytes as U+FFFD):
    found by listing each folder (:func:`kb.corpus.text_name`)."""
    from .corpus import text_name

    path = root
    for part in parts:
        if "\ufffd" not in part:
            path = os.path.join(path, part)
            continue
        try:
            names = [n for n in os.listdir(path) if text_name(n) == part]
        except OSError:
            return None
        if len(names) != 1:
            return None
        path = os.path.join(path, names[0])
    return path


def create_app(kb: KnowledgeBase, *, token: str | None = None,
               allowed_hosts: list[str] | None = None, watch: bool = False) -> Starlette:
    """The web page and HTTP API over ``kb`` (opened once, shared by all requests).

    :param token: when given, every request must carry it (``?token=``, which sets a
        cookie, or ``Authorization: Bearer``); ``kb serve`` requires one for any
        address but loopback.
    :param allowed_hosts: the host names requests may address (``Host`` header);
        default the loopback names (:data:`LOOPBACK_HOSTS`); ``"*"`` allows any.
    :param watch: keep the index fresh while serving (``kb.watch.Watcher``, when
        this kb has it), started and stopped with the app.
    """
    if token is not None and not TOKEN_RE.fullmatch(token):
        raise ValueError("the token must be 16 to 200 letters, digits or - _ . ~ "
                         "(secrets.token_urlsafe() makes one)")
    web = Web(kb, watch)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(web.start_watching)
        try:
            yield
        finally:
            await run_in_threadpool(web.stop_watching)

    routes = [
        Route("/", web.guarded(web.home, SEARCH_SECONDS), methods=["GET"]),
        Route("/passage/{pid:path}", web.passage, methods=["GET"]),
        Route("/file/{doc:path}", web.file, methods=["GET"]),
        Route("/status", web.status, methods=["GET"]),
        Route("/annex", web.annex, methods=["GET"]),
        Route("/api/search", web.guarded(web.api_search, SEARCH_SECONDS), methods=["GET"]),
        Route("/api/passage/{pid:path}", web.api_passage, methods=["GET"]),
        Route("/api/docs", web.api_docs, methods=["GET"]),
        Route("/api/status", web.api_status, methods=["GET"]),
        Route("/api/export", web.guarded(web.api_export, EXPORT_SECONDS, one_per_client=True),
              methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    from starlette.middleware import Middleware

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token,  # type: ignore[arg-type]
                               hosts=list(allowed_hosts or LOOPBACK_HOSTS),
                               error_page=web.error_page)],
        exception_handlers={KbError: web.kb_error, BadRequest: web.kb_error,
                            HTTPException: web.http_error},
        lifespan=lifespan,
    )
    app.state.web = web
    return app
