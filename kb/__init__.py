"""kb: search a folder of reports and get ranked, cited passages.

``from kb import KnowledgeBase`` is the whole API; see :mod:`kb.api`.
Names are imported lazily so that ``import kb`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["KnowledgeBase", "Document", "Passage", "Hit", "SearchResult", "IndexReport",
           "KbError", "__version__"]

if TYPE_CHECKING:
    from .api import KnowledgeBase
    from .errors import KbError
    from .models import Document, Hit, IndexReport, Passage, SearchResult

_LAZY = {
    "KnowledgeBase": "api",
    "KbError": "errors",
    "Document": "models",
    "Passage": "models",
    "Hit": "models",
    "SearchResult": "models",
    "IndexReport": "models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
