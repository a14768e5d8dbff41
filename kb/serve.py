"""``kb serve``: listening, the host names a server answers to, and running uvicorn.

The app itself is :func:`kb.web.create_app`; this module is the CLI's side: it
binds the socket first (so that "port in use" is a one-line error, never a
server log), works out the ``Host`` names requests may use, and runs uvicorn
in this process until Ctrl-C (or SIGTERM), which stop it cleanly (exit 0).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .api import display_prefix
from .errors import KbError

if TYPE_CHECKING:
    from .api import KnowledgeBase

__all__ = ["is_loopback", "bind", "url_for", "allowed_hosts", "run", "display_prefix"]

#: addresses that mean "every interface"
WILDCARDS = ("0.0.0.0", "::", "")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Does ``host`` (an address or a name) listen on this computer only?"""
    ip = _ip(host)
    if ip is not None:
        return ip.is_loopback
    if host.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addrs = {_ip(str(i[4][0]).split("%")[0]) for i in infos}
    return bool(addrs) and all(a is not None and a.is_loopback for a in addrs)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``.

    :raises KbError: the port is in use, not ours to take, or the address is not
        this computer's (one line, saying what to do).
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise KbError(f"cannot listen on {host!r}: {e.strerror}; give an address such as "
                      "127.0.0.1 or 0.0.0.0 with --host") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise KbError(f"port {port} is in use (another kb serve?); choose another with "
                          "--port, e.g. --port 8766") from None
        if e.errno == errno.EACCES:
            raise KbError(f"not allowed to listen on port {port}; choose a port above 1023 "
                          "with --port") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise KbError(f"{host} is not an address of this computer; use 127.0.0.1 (this "
                          "computer only) or 0.0.0.0 (every network) with --host") from None
        raise KbError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(False)
    return sock


def _primary_ip() -> str | None:
    """The address this computer is reached at on its network (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return str(s.getsockname()[0])
    except OSError:
        return None
    finally:
        s.close()


def url_for(host: str, port: int) -> str:
    """The address to open: for a server on every interface, this computer's
    network address (``0.0.0.0`` is not one a browser can open)."""
    shown = (_primary_ip() or "127.0.0.1") if host in WILDCARDS else host
    ip = _ip(shown)
    if ip is not None and ip.version == 6:
        shown = f"[{ip}]"
    return f"http://{shown}:{port}"


def allowed_hosts(host: str, extra: list[str]) -> list[str]:
    """The ``Host`` names requests may use: loopback names, the address listened on
    and, on every interface, this computer's names and addresses, and ``extra``
    (``--allow-host``): anything else is refused (DNS rebinding)."""
    from .web import LOOPBACK_HOSTS

    out = list(LOOPBACK_HOSTS)
    if host not in WILDCARDS:
        out.append(host.strip("[]"))
    else:
        names = {socket.gethostname(), socket.getfqdn(), _primary_ip() or ""}
        for name in list(names):
            try:
                for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM):
                    names.add(str(info[4][0]).split("%")[0])
            except OSError:
                pass
        out += sorted(n for n in names if n)
    out += extra
    seen: list[str] = []
    for h in out:
        h = h.lower().strip("[]").rstrip(".")
        if h and h not in seen:
            seen.append(h)
    return seen


class _SafeFormatter(logging.Formatter):
    """Log lines (with tracebacks) through :func:`kb.render.safe`: a query or a
    file name in a message never reaches the terminal as a control sequence."""

    def format(self, record: logging.LogRecord) -> str:
        from .render import safe

        return safe(super().format(record))


def _setup_logging() -> None:
    log = logging.getLogger("kb")
    if not any(getattr(h, "_kb_serve", False) for h in log.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(_SafeFormatter("%(asctime)s kb: %(levelname)s: %(message)s",
                                      "%H:%M:%S"))
        h._kb_serve = True  # type: ignore[attr-defined]
        log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False


def run(kb: KnowledgeBase, sock: socket.socket, *, token: str | None, hosts: list[str],
        watch: bool, open_url: str | None = None) -> int:
    """Serve ``kb`` on the listening ``sock`` until Ctrl-C or SIGTERM; returns 0."""
    import uvicorn

    from .web import create_app

    _setup_logging()
    app = create_app(kb, token=token, allowed_hosts=hosts, watch=watch)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            proxy_headers=False, lifespan="on", timeout_graceful_shutdown=3)

    class Server(uvicorn.Server):
        """Ctrl-C and SIGTERM stop the server, and that is all: uvicorn would raise the
        signal again once it has shut down (a KeyboardInterrupt inside asyncio's loop)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            old = {sig: signal.signal(sig, self.handle_exit)
                   for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    server = Server(config)
    try:
        if open_url is not None:
            import webbrowser

            webbrowser.open(open_url)  # the socket listens: the request waits for the server
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C before uvicorn took the signal over
        from .cli import _Interrupt

        _Interrupt.seen = False  # the way to stop: a later error is not a Ctrl-C
    print("Stopped.", file=sys.stderr)
    return 0
