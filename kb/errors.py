"""Errors a user can act on.  Every message ends with what to do next.

The CLI turns each :class:`KbError` into a one-line message on stderr and
exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations


class KbError(Exception):
    """Base class: a problem the user can fix.  Exit code 2."""

    exit_code = 2


class CorpusNotFound(KbError):
    """The corpus folder does not exist or is not a folder."""


class CorpusMismatch(KbError):
    """The index was built from another corpus folder (one that holds other files)."""


class IndexMissing(KbError):
    """There is no index yet."""


class IndexIncompatible(KbError):
    """The index was built by another schema version or with other settings."""


class IndexLocked(KbError):
    """Another ``kb index`` is updating this index."""


class IndexCorrupt(KbError):
    """The index folder exists but cannot be read."""


class NotAnIndex(KbError):
    """The index folder holds something that kb did not create."""


class QueryError(KbError):
    """The query cannot be understood."""


class SearchTooCostly(QueryError):
    """The search ran past its time budget, or its client went away: stopped."""


class PassageNotFound(KbError):
    """No passage has that id."""


class OutputExists(KbError):
    """The export target exists and ``--force`` was not given."""


class OutputError(KbError):
    """The export target cannot be written."""


class ConfigError(KbError):
    """kb.toml or an environment variable is malformed."""


class IndexWriteFailed(KbError):
    """Writing the index failed (full disk, read-only folder); the previous index is intact."""


class AmbiguousReference(KbError):
    """A reference (a short ref, a citation) names passages in more than one place."""
