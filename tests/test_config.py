from pathlib import Path

import pytest

from kb.config import read_toml, resolve
from kb.errors import ConfigError

CWD = Path("/work/here")


def test_defaults():
    s = resolve(environ={}, cwd=CWD, toml={})
    assert (s.corpus, s.index) == (CWD / "corpus", CWD / "index")
    assert (s.corpus_from, s.index_from) == ("default", "default")


def test_toml_beats_defaults_and_is_relative_to_its_folder():
    s = resolve(environ={}, cwd=CWD, toml={"corpus": "reports", "index": "/var/kb"})
    assert s.corpus == CWD / "reports" and s.index == Path("/var/kb")
    assert s.corpus_from == "kb.toml"


def test_env_beats_toml():
    s = resolve(environ={"KB_CORPUS": "envc"}, cwd=CWD, toml={"corpus": "tomlc", "index": "ti"})
    assert s.corpus == CWD / "envc" and s.corpus_from == "env"
    assert s.index == CWD / "ti"


def test_flags_beat_everything():
    s = resolve("flagc", "flagi", environ={"KB_CORPUS": "e", "KB_INDEX": "e"}, cwd=CWD,
                toml={"corpus": "t", "index": "t"})
    assert (s.corpus, s.index) == (CWD / "flagc", CWD / "flagi")
    assert (s.corpus_from, s.index_from) == ("flag", "flag")


def test_read_toml(tmp_path):
    (tmp_path / "kb.toml").write_text('corpus = "docs"\nindex = ".kb"\n')
    assert read_toml(tmp_path / "kb.toml") == {"corpus": "docs", "index": ".kb"}
    assert read_toml(tmp_path / "missing.toml") == {}
    (tmp_path / "bad.toml").write_text("corpus = [1, 2]\n")
    with pytest.raises(ConfigError):
        read_toml(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text("corpus = \n")
    with pytest.raises(ConfigError):
        read_toml(tmp_path / "broken.toml")


def test_resolve_reads_kb_toml_from_cwd(tmp_path):
    (tmp_path / "kb.toml").write_text('corpus = "docs"\n')
    s = resolve(environ={}, cwd=tmp_path)
    assert s.corpus == tmp_path / "docs"
