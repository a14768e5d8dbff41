"""Where the corpus and the index are: one pure function decides.

Order of precedence, highest first:

1. command-line flags ``--corpus`` / ``--index``;
2. environment variables ``KB_CORPUS`` / ``KB_INDEX``;
3. ``kb.toml`` in the working directory, top-level keys ``corpus`` and
   ``index``; relative paths are taken from the file's folder;
4. defaults ``./corpus`` and ``./index``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

CONFIG_FILE = "kb.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    corpus: Path
    index: Path
    corpus_from: str  #: "flag", "env", "kb.toml" or "default"
    index_from: str
    #: ``kb search``/``export`` bring a stale index up to date first when that is
    #: cheap (kb.toml ``auto_update = false`` turns it off)
    auto_update: bool = True


def read_toml(path: Path) -> dict[str, object]:
    """Read ``kb.toml``; a malformed file is a :class:`ConfigError`."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}; fix or remove the file") from None
    import tomllib  # only when there is a kb.toml (a one-shot search need not pay for it)

    try:
        with f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}; fix or remove the file") from None
    for key in ("corpus", "index"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{path}: '{key}' must be a string path, e.g. {key} = \"./{key}\"")
    if "auto_update" in data and not isinstance(data["auto_update"], bool):
        raise ConfigError(f"{path}: 'auto_update' must be true or false, e.g. auto_update = false")
    return data


def resolve(
    corpus: str | os.PathLike[str] | None = None,
    index: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    toml: Mapping[str, object] | None = None,
) -> Settings:
    """Resolve the corpus and index folders (pure when ``environ``, ``cwd`` and ``toml`` are given).

    :param corpus: the ``--corpus`` flag, if given.
    :param index: the ``--index`` flag, if given.
    :param environ: environment variables (default ``os.environ``).
    :param cwd: working directory (default the process's).
    :param toml: parsed ``kb.toml`` (default: read it from ``cwd``).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if toml is None:
        toml = read_toml(cwd / CONFIG_FILE)

    def pick(flag: str | os.PathLike[str] | None, env: str, key: str) -> tuple[Path, str]:
        if flag is not None and str(flag) != "":
            return (cwd / Path(flag)), "flag"
        if environ.get(env):
            return (cwd / Path(environ[env])), "env"
        value = toml.get(key)
        if isinstance(value, str) and value:
            return (cwd / Path(value)), CONFIG_FILE
        return cwd / key, "default"

    c, c_from = pick(corpus, "KB_CORPUS", "corpus")
    i, i_from = pick(index, "KB_INDEX", "index")
    return Settings(corpus=c, index=i, corpus_from=c_from, index_from=i_from,
                    auto_update=toml.get("auto_update", True) is not False)
