"""The README is part of the interface: it must match the commands and CI."""

from pathlib import Path

from click.testing import CliRunner

from kb.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_has_help_and_is_in_readme():
    for name, cmd in cli.commands.items():
        assert cmd.help, f"{name} has no help text"
        assert f"`kb {name}" in README, f"kb {name} is not documented in README.md"
        r = CliRunner().invoke(cli, [name, "--help"])
        assert r.exit_code == 0


def test_ci_runs_the_readme_test_command():
    """`.ci/run` takes its test command from the README (one copy of it) and runs it
    on Python 3.11 and 3.13."""
    import subprocess

    r = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print-command"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    command = r.stdout.strip()
    assert command == ("python3 -m venv .venv && . .venv/bin/activate && "
                       "pip install -q -e '.[test]' && python -m pytest")
    assert f"```sh\n{command}\n```" in README
    assert "\nPYTHONS=(3.11 3.13)\n" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_set_up_commands_are_single_lines():
    assert "pip install -q -e . && kb search \"bystander intervention\"" in README


def test_tests_need_nothing_outside_the_repository():
    """A fresh clone with no shared folder beside it passes (issue 18): the fixtures the
    tests read are committed, and `.ci/run` runs the tests in a clone of HEAD in a
    temporary folder, where there is none."""
    import re

    from .fixtures import SAMPLE_PDF_DIR, SAMPLE_PDFS

    assert SAMPLE_PDF_DIR.is_relative_to(ROOT)
    assert all((SAMPLE_PDF_DIR / name).is_file() for name in SAMPLE_PDFS)
    outside = re.compile(r"\.\." + r"/shared|/work/" + r"shared|parents\[" + r"2\]")
    for f in (ROOT / "tests").glob("*.py"):
        assert not outside.search(f.read_text(encoding="utf-8")), f.name
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'git clone -q . "$WORK/kb"' in ci and 'cd "$WORK/kb"' in ci
