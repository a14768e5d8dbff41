"""One-shot commands pay only for what they use: heavy modules load on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kb import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr))
{body}
"""

_CLI = """
sys.argv = ["kb"] + {args!r}
from kb.cli import main
try:
    main()
except SystemExit:
    pass
"""


def loaded(body: str, cwd: Path | None = None) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-c", _PROBE.format(body=body)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    line = [x for x in r.stderr.splitlines() if x.startswith("MODULES=")][-1]
    return set(json.loads(line[len("MODULES="):]))


def heavy(mods: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in prefixes or m in prefixes)


def test_import_kb_loads_no_whoosh_rich_or_markdown_it():
    mods = loaded("import kb")
    assert heavy(mods, ("whoosh", "rich", "markdown_it", "click", "numpy", "rapidfuzz")) == []


def test_help_loads_no_rich_markdown_it_or_whoosh_writing():
    for args in (["--help"], ["search", "--help"], ["index", "--help"]):
        mods = loaded(_CLI.format(args=args))
        assert heavy(mods, ("rich", "markdown_it", "whoosh.writing", "whoosh")) == [], args


def test_search_to_a_pipe_loads_no_rich_markdown_it_or_whoosh_writing(tiny_corpus, tmp_path):
    KnowledgeBase(tiny_corpus, tmp_path / "index").update()
    args = ["search", "harassment", "--corpus", str(tiny_corpus), "--index",
            str(tmp_path / "index")]
    mods = loaded(_CLI.format(args=args))
    assert "whoosh.searching" in mods  # it did search
    assert heavy(mods, ("rich", "markdown_it", "charset_normalizer", "whoosh.writing",
                        "whoosh.multiproc", "multiprocessing", "kb.engine.segwriter",
                        "kb.engine.parallel", "kb.export", "rapidfuzz")) == []
