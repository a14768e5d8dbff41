import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb import config
from kb.config import read_toml, resolve
from kb.errors import ConfigError

from .conftest import SAMPLE, SAMPLE_ID

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


# ------------------------------------------------------- issue 10: finding and reading kb.toml


def _project(tmp_path: Path, toml: str) -> Path:
    """tmp/proj with kb.toml, reports/<sample>, and notes/deep/ to run from."""
    proj = tmp_path / "proj"
    (proj / "reports").mkdir(parents=True)
    (proj / "notes" / "deep").mkdir(parents=True)
    (proj / "reports" / SAMPLE_ID).write_bytes(SAMPLE.read_bytes())
    (proj / "kb.toml").write_text(toml)
    return proj


def _search_json(*args: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    r = CliRunner().invoke(cli, ["search", "bystander", "--format", "json", *args],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r.stderr


def test_kb_toml_is_found_from_a_subfolder_and_paths_start_at_its_folder(tmp_path, monkeypatch):
    proj = _project(tmp_path, 'corpus = "reports"\nindex = ".kb/index"\n')
    monkeypatch.chdir(proj / "notes" / "deep")
    data, err = _search_json()
    assert err.startswith("No index yet: building it from ")
    assert (proj / ".kb" / "index" / "kb-index.json").exists()
    assert not (proj / "notes" / "deep" / ".kb").exists()
    # citations as written in kb.toml (relative to its folder): no ../, no absolute path
    hit = data["results"][0]
    assert hit["citation"].startswith(f"reports/{SAMPLE_ID}:")
    assert hit["path"] == f"reports/{SAMPLE_ID}"
    # inside the corpus, citations are relative to the working directory
    monkeypatch.chdir(proj / "reports")
    data, _ = _search_json()
    assert data["results"][0]["path"] == SAMPLE_ID
    r = CliRunner().invoke(cli, ["docs", "--format", "json"], catch_exceptions=False)
    assert json.loads(r.stdout)[0]["path"] == SAMPLE_ID
    # at the project root, as everywhere else
    monkeypatch.chdir(proj)
    data, _ = _search_json()
    assert data["results"][0]["path"] == f"reports/{SAMPLE_ID}"


def test_defaults_start_at_the_kb_toml_folder(tmp_path, monkeypatch):
    proj = _project(tmp_path, "auto_update = false\n")
    (proj / "reports").rename(proj / "corpus")
    monkeypatch.chdir(proj / "notes")
    data, err = _search_json()
    assert "Warning" not in err
    assert data["results"][0]["path"] == f"corpus/{SAMPLE_ID}"
    assert (proj / "index" / "kb-index.json").exists()


def test_kb_toml_lookup_stops_at_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / "kb.toml").write_text('corpus = "elsewhere"\n')
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / ".git").mkdir()
    assert config.find_config(repo / "sub") is None
    (repo / "kb.toml").write_text('corpus = "docs"\n')
    assert config.find_config(repo / "sub") == repo / "kb.toml"
    assert config.find_config(tmp_path) == tmp_path / "kb.toml"
    monkeypatch.chdir(repo / "sub")
    assert resolve(environ={}).corpus == repo / "docs"


def test_unknown_keys_are_one_warning_line_each(tmp_path, monkeypatch):
    proj = _project(tmp_path, 'Corpus = "nope"\ncorpus = "reports"\ncorpsu = "x"\n'
                              'auto_update = true\n[kb]\ncorpus = "other"\n')
    monkeypatch.chdir(proj)
    s = resolve(environ={})
    assert s.corpus == proj / "reports"
    assert s.warnings == (
        "kb.toml: unknown key 'Corpus' ignored (did you mean 'corpus'?); "
        "known keys: corpus, index, auto_update",
        "kb.toml: unknown key 'corpsu' ignored (did you mean 'corpus'?); "
        "known keys: corpus, index, auto_update",
        "kb.toml: the [kb] table is ignored: kb reads top-level keys "
        "(corpus, index, auto_update) written above any [table]",
    )
    _, err = _search_json()
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("Warning: ")] == \
        [f"Warning: {w}" for w in s.warnings]
    # from a subfolder the warning names the file it is about
    monkeypatch.chdir(proj / "notes")
    _, err = _search_json()
    assert f"Warning: {proj / 'kb.toml'}: unknown key 'Corpus' ignored" in err
    assert config.unknown_keys({"zzz": 1}) == ["kb.toml: unknown key 'zzz' ignored; "
                                        "known keys: corpus, index, auto_update"]


def test_auto_update_is_a_known_boolean_key(tmp_path):
    assert config.KEYS["auto_update"] is bool
    (tmp_path / "kb.toml").write_text("auto_update = false\n")
    assert read_toml(tmp_path / "kb.toml") == {"auto_update": False}
    assert resolve(environ={}, cwd=tmp_path).warnings == ()
    (tmp_path / "kb.toml").write_text('auto_update = "no"\n')
    with pytest.raises(ConfigError, match="'auto_update' must be true or false"):
        read_toml(tmp_path / "kb.toml")


def test_tilde_is_expanded_in_kb_toml_env_and_flags(tmp_path, monkeypatch):
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    s = resolve(environ=env, cwd=CWD, toml={"corpus": "~/reports", "index": "~"})
    assert (s.corpus, s.index) == (home / "reports", home)
    s = resolve(environ={**env, "KB_CORPUS": "~/envc"}, cwd=CWD, toml={})
    assert s.corpus == home / "envc"
    s = resolve("~/flagc", "~/flagi/", environ=env, cwd=CWD, toml={})
    assert (s.corpus, s.index) == (home / "flagc", home / "flagi")
    assert s.corpus_prefix == "~/flagc/"  # as typed
    assert config.expand_user("~", env) == str(home) and config.expand_user("a/~", env) == "a/~"
    # end to end: the corpus under a quoted ~ is found and cited as written
    (home / "reports").mkdir(parents=True)
    (home / "reports" / SAMPLE_ID).write_bytes(SAMPLE.read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    (work / "kb.toml").write_text('corpus = "~/reports"\nindex = "~/kbindex"\n')
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    data, _ = _search_json()
    assert data["results"][0]["path"] == f"~/reports/{SAMPLE_ID}"
    assert (home / "kbindex" / "kb-index.json").exists()
    data, _ = _search_json("--corpus", "~/reports", "--index", "~/kbindex")
    assert data["results"][0]["path"] == f"~/reports/{SAMPLE_ID}"


def test_shown_prefix_never_shows_paths_the_user_did_not_write():
    cwd = Path("/home/u/proj/notes")
    assert config.shown_prefix(cwd, None, cwd) == ""
    assert config.shown_prefix(cwd / "reports", "/home/u/proj/notes/reports", cwd) == "reports/"
    assert config.shown_prefix(Path("/home/u/proj/reports"), "reports", cwd) == "reports/"
    assert config.shown_prefix(Path("/home/u/proj/reports"), "../reports/", cwd) == "../reports/"
    assert config.shown_prefix(Path("/home/u/proj/reports"), "./reports/", cwd) == "reports/"
    assert config.shown_prefix(Path("/home/u/proj"), ".", cwd) == ""
    assert config.shown_prefix(Path("/data/reports"), "/data/reports/", cwd) == "/data/reports/"
    assert config.shown_prefix(Path("/data/reports"), None, cwd) == "/data/reports/"
    assert config.shown_prefix(Path("/"), "/", cwd) == "/"
    assert config.shown_prefix(cwd / "..x", None, cwd) == "..x/"  # a name starting with ".."
    assert config.shown_prefix(Path(os.fsdecode(b"/data/r\xe9ports")), None, cwd) == "/data/r\ufffdports/"


def test_flag_outside_the_working_folder_is_cited_as_typed(tmp_path, monkeypatch):
    proj = _project(tmp_path, "")
    monkeypatch.chdir(proj / "notes")
    data, _ = _search_json("--corpus", "../reports", "--index", "../idx")
    assert data["results"][0]["path"] == f"../reports/{SAMPLE_ID}"
    monkeypatch.setenv("KB_CORPUS", str(proj / "reports"))
    data, _ = _search_json("--index", "../idx")
    assert data["results"][0]["path"] == f"{proj}/reports/{SAMPLE_ID}"
