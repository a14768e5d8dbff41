"""Synthetic corpora for the safety tests and ``bench/stress_kill.py``.

Deterministic (seeded) Markdown reports of realistic shape: headings,
paragraphs of 40-120 words, a date near the top.  Every file contains the
words "harassment" and "prevention", so a search for them always has
results whichever state the corpus is in.
"""

from __future__ import annotations

import random
from pathlib import Path

WORDS = """policy staff report training mission field office harassment prevention
victim survivor support network focal point investigation complaint bystander
intervention culture leadership accountability workplace safety review guidance
country team member states secretariat resolution agenda gender equality
inclusion protection abuse exploitation response mechanism confidential
hotline reporting data survey outcome recommendation implementation budget
capacity coordination partner agency regional global local community dialogue
awareness campaign module learning session participant facilitator panel""".split()

EXTRA = "zebra quartz walnut saffron lantern meadow cobalt ember harbor velvet".split()


def _sentence(rng: random.Random, vocab: list[str]) -> str:
    n = rng.randint(8, 18)
    words = [rng.choice(vocab) for _ in range(n)]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _paragraph(rng: random.Random, vocab: list[str]) -> str:
    text = " ".join(_sentence(rng, vocab) for _ in range(rng.randint(4, 7)))
    return text + " Harassment prevention matters."


def report(rng: random.Random, n: int, sections: int = 8, paras: int = 6,
           variant: int = 0) -> str:
    vocab = WORDS + EXTRA[: 3 + variant % 7]
    lines = [f"# Report {n} on workplace safety, variant {variant}", "",
             f"{rng.randint(1, 28)} May {2015 + n % 9}", ""]
    for s in range(sections):
        lines += [f"## Section {s + 1}: {rng.choice(WORDS)} {rng.choice(WORDS)}", ""]
        for _ in range(paras):
            lines += [_paragraph(rng, vocab), ""]
    return "\n".join(lines)


def make_corpus(root: Path, files: int = 60, sections: int = 8, paras: int = 6,
                seed: int = 0, variant: int = 0) -> Path:
    """Write ``files`` reports (about ``sections * paras`` passages each) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        rng = random.Random(seed * 100_003 + i)
        sub = root / f"area{i % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"report-{i:03d}.md").write_text(report(rng, i, sections, paras, variant),
                                                encoding="utf-8")
    return root


def mutate(root: Path, step: int, fraction: float = 0.3) -> None:
    """Change about ``fraction`` of the files, delete a few and add a few (deterministic)."""
    rng = random.Random(10_000 + step)
    files = sorted(root.rglob("*.md"))
    for f in rng.sample(files, max(1, int(len(files) * fraction))):
        f.write_text(report(random.Random(rng.random()), step, variant=step), encoding="utf-8")
    for f in rng.sample(files, max(1, len(files) // 20)):
        if f.exists():
            f.unlink()
    for k in range(max(1, len(files) // 20)):
        (root / f"new-{step}-{k}.md").write_text(
            report(random.Random(step * 7 + k), 1000 + k, variant=step), encoding="utf-8")
