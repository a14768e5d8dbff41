"""Shared fixtures: isolated environment, tiny corpora, the bundled sample report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "corpus" / "making-zero-tolerance-a-reality-2022.txt"
SAMPLE_ID = SAMPLE.name

NESTED_MD = """\
# Guidelines on safe workplaces

Intro text before the first section explains the purpose of these guidelines
for all personnel in field locations.

## Reporting

### Informal channels

Personnel may raise concerns with a focal point. **\\$Y!Ri6wN** is the code
of the [reporting hotline](https://example.org/hotline) <!-- internal note -->
and \\(SEAH\\) cases are escalated.

### Formal investigation

A formal complaint starts an investigation by the responsible office.

## Prevention

Bystander training teaches staff to intervene safely.
"""

PLAIN_TXT = """\
CONCEPT NOTE

Peer support networks in the field

3 March 2021

Background

Peer support networks connect staff who experienced harassment with trained
colleagues. The network began in 2019 and now covers twelve duty stations, looking

at how the organisation can scale the programme further.

Next steps

The secretariat will report back to the working group.
"""


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KB_CORPUS", "KB_INDEX", "KB_DEBUG", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture()
def sample_corpus(tmp_path: Path) -> Path:
    """A corpus folder holding the bundled sample report."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    return corpus


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    """Three small documents: nested Markdown, plain text with a page break, the sample."""
    corpus = tmp_path / "corpus"
    (corpus / "guides").mkdir(parents=True)
    (corpus / "guides" / "safe-workplaces.md").write_text(NESTED_MD, encoding="utf-8")
    (corpus / "peer-support.txt").write_text(PLAIN_TXT, encoding="utf-8")
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    return corpus
