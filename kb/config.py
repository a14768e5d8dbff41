"""Where the corpus and the index are: one pure function decides.

Order of precedence, highest first:

1. command-line flags ``--corpus`` / ``--index``;
2. environment variables ``KB_CORPUS`` / ``KB_INDEX``;
3. ``kb.toml``, looked up from the working directory upwards (see
   :func:`find_config`), top-level keys (:data:`KEYS`); relative paths are
   taken from the file's folder;
4. defaults ``./corpus`` and ``./index``.

A leading ``~`` is expanded in all three.  Unknown keys in ``kb.toml`` are
returned as warnings (:attr:`Settings.warnings`); nothing here prints.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .corpus import text_name
from .errors import ConfigError

CONFIG_FILE = "kb.toml"

#: The keys ``kb.toml`` may hold, and the type of each value.  A new setting is
#: one line here (and a field of :class:`Settings`).
KEYS: dict[str, type] = {
    "corpus": str,  # the folder of reports
    "index": str,  # the index folder
    "auto_update": bool,  # `kb search` brings a slightly stale index up to date first
}

_EXAMPLES = {str: '"./{key}"', bool: "true"}


@dataclass(frozen=True, slots=True)
class Settings:
    corpus: Path
    index: Path
    corpus_from: str  #: "flag", "env", "kb.toml" or "default"
    index_from: str
    #: how citations name the corpus folder ("" for the working directory, else
    #: ending in "/"); see :func:`shown_prefix`
    corpus_prefix: str = ""
    config: Path | None = None  #: the kb.toml that was read, if any
    warnings: tuple[str, ...] = ()  #: one line each (unknown keys in kb.toml)
    #: ``kb search``/``export`` bring a stale index up to date first when that is
    #: cheap (kb.toml ``auto_update = false`` turns it off)
    auto_update: bool = True


def find_config(cwd: Path) -> Path | None:
    """The ``kb.toml`` that applies in ``cwd``: in ``cwd`` or the nearest folder above.

    The search stops at the root of the git repository (a folder holding
    ``.git``) that ``cwd`` is in, so a ``kb.toml`` outside a project never
    applies inside it; outside any repository it goes up to the filesystem root.
    """
    for folder in (cwd, *cwd.parents):
        path = folder / CONFIG_FILE
        if os.path.lexists(path):
            return path
        if os.path.lexists(folder / ".git"):
            return None
    return None


def read_toml(path: Path) -> dict[str, object]:
    """Read ``kb.toml``; a malformed file or a value of the wrong type is a :class:`ConfigError`."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}; fix or remove the file") \
            from None
    import tomllib  # only when there is a kb.toml (a one-shot search need not pay for it)

    try:
        with f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}; fix or remove the file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: it is not UTF-8 text; fix or remove the file") \
            from None
    for key, kind in KEYS.items():
        if key in data and not isinstance(data[key], kind):
            what = "a string path" if kind is str else "true or false"
            raise ConfigError(f"{path}: '{key}' must be {what}, e.g. "
                              f"{key} = {_EXAMPLES[kind].format(key=key)}")
    return data


def unknown_keys(data: Mapping[str, object], name: str = CONFIG_FILE) -> list[str]:
    """One warning per key of ``data`` that kb does not read (``name`` is the file)."""
    known = ", ".join(KEYS)
    out = []
    for key, value in data.items():
        if key in KEYS:
            continue
        if isinstance(value, dict):
            out.append(f"{name}: the [{key}] table is ignored: kb reads top-level keys "
                       f"({known}) written above any [table]")
            continue
        close = [k for k in KEYS if k == key.lower().replace("-", "_")] or \
            difflib.get_close_matches(key.lower(), list(KEYS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        out.append(f"{name}: unknown key '{key}' ignored{hint}; known keys: {known}")
    return out


def expand_user(path: str, environ: Mapping[str, str] | None = None) -> str:
    """``~`` and ``~/…`` become the home folder ($HOME), ``~name`` that user's."""
    if not path.startswith("~"):
        return path
    home = (environ if environ is not None else os.environ).get("HOME")
    if home and path == "~":
        return home
    if home and path.startswith(("~/", "~" + os.sep)):
        return os.path.join(home, path[2:])
    return os.path.expanduser(path)


def _inside(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` when it is inside it (``"."`` for itself), else None."""
    try:
        rel = os.path.relpath(path, folder)
    except ValueError:  # another drive (Windows)
        return None
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel


def shown_prefix(corpus: Path, written: str | None = None, cwd: Path | None = None) -> str:
    """How citations name the corpus folder, so that they show no ``../`` and no
    absolute path the user did not write.

    * corpus in the working directory or below: relative to it
      (``""`` or ``"reports/"``);
    * else the path as the user wrote it (``written``: the flag, the
      environment variable or the ``kb.toml`` value, the latter relative to
      the folder holding ``kb.toml``), tidied (``./reports/`` -> ``reports/``);
    * else the absolute path.

    The result is valid text (bytes of a folder name that are not UTF-8 become
    ``\\ufffd``) and ends in ``/`` unless it is empty.
    """
    cwd = Path.cwd() if cwd is None else cwd
    rel = _inside(corpus, cwd)
    if rel is not None:
        shown = "" if rel == os.curdir else rel
    elif written:
        # "~/x/.." is not "x/..": a path starting with ~ is shown as written
        shown = written.rstrip("/" + os.sep) if written.startswith("~") else \
            os.path.normpath(written)
        shown = "" if shown == os.curdir else shown
    else:
        shown = str(corpus)
    shown = text_name(shown).replace(os.sep, "/")
    if not shown or shown.endswith("/"):  # the working directory, or "/"
        return shown
    return shown + "/"


def resolve(
    corpus: str | os.PathLike[str] | None = None,
    index: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    toml: Mapping[str, object] | None = None,
    config: Path | None = None,
) -> Settings:
    """Resolve the corpus and index folders (pure when ``environ``, ``cwd`` and ``toml`` are given).

    :param corpus: the ``--corpus`` flag, if given.
    :param index: the ``--index`` flag, if given.
    :param environ: environment variables (default ``os.environ``).
    :param cwd: working directory (default the process's).
    :param toml: parsed ``kb.toml`` (default: :func:`find_config` from ``cwd``, then read it).
    :param config: where ``toml`` came from: its relative paths are taken from this
        file's folder (default: ``cwd``).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if toml is None:
        config = find_config(cwd)
        toml = read_toml(config) if config is not None else {}
    # kb.toml marks the project's folder: its paths and the defaults start there
    base = cwd if config is None else config.parent
    shown_name = CONFIG_FILE
    if config is not None and config.parent != cwd:
        shown_name = str(config)
    warnings = tuple(unknown_keys(toml, shown_name))

    def pick(flag: str | os.PathLike[str] | None, env: str,
             key: str) -> tuple[Path, str, str | None]:
        """(path, where it came from, the path as the user wrote it)."""
        if flag is not None and str(flag) != "":
            written = os.fspath(flag)
            return cwd / expand_user(written, environ), "flag", written
        if environ.get(env):
            written = environ[env]
            return cwd / expand_user(written, environ), "env", written
        value = toml.get(key)
        if isinstance(value, str) and value:
            return base / expand_user(value, environ), CONFIG_FILE, value
        return base / key, "default", key

    c, c_from, c_written = pick(corpus, "KB_CORPUS", "corpus")
    i, i_from, _ = pick(index, "KB_INDEX", "index")
    c, i = Path(os.path.normpath(c)), Path(os.path.normpath(i))
    return Settings(corpus=c, index=i, corpus_from=c_from, index_from=i_from,
                    corpus_prefix=shown_prefix(c, c_written, cwd), config=config,
                    warnings=warnings, auto_update=toml.get("auto_update", True) is not False)
