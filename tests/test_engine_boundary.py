"""The engine seam: Whoosh is used only inside ``kb/engine/``, and nothing outside
it reaches for the engine's private names."""

from __future__ import annotations

import ast
from pathlib import Path

KB = Path(__file__).resolve().parent.parent / "kb"


def _outside_engine() -> list[Path]:
    return [p for p in sorted(KB.rglob("*.py")) if "engine" not in p.relative_to(KB).parts]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in the file, lazy ones included; a
    relative module is made absolute (``kb.engine``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ["kb", *path.relative_to(KB).parts[:-1]]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                mod = ".".join(base + ([mod] if mod else []))
            out.append((node.lineno, mod, [a.name for a in node.names]))
    return out


def test_no_module_outside_the_engine_imports_whoosh():
    bad = [f"{p.relative_to(KB.parent)}:{line} imports {mod}"
           for p in _outside_engine() for line, mod, _ in _imports(p)
           if mod == "whoosh" or mod.startswith("whoosh.")]
    assert bad == []


def test_no_module_outside_the_engine_imports_its_private_names():
    bad = []
    for p in _outside_engine():
        for line, mod, names in _imports(p):
            if mod != "kb.engine" and not mod.startswith("kb.engine."):
                continue
            parts = mod.split(".") + names
            if any(n.startswith("_") for n in parts):
                bad.append(f"{p.relative_to(KB.parent)}:{line} imports {mod} {names}")
    assert bad == []


def test_the_check_sees_lazy_and_relative_imports():
    found = _imports(KB / "api.py")
    mods = {mod for _, mod, _ in found}
    assert ("kb", ["store"]) in [(m, n) for _, m, n in found]  # ``from . import store``
    assert "kb.search" in mods  # ``from .search import ...`` inside a method: lazy
    assert {"whoosh.query", "whoosh.index"} <= {
        mod for _, mod, _ in _imports(KB / "engine" / "whoosh_engine.py")}
