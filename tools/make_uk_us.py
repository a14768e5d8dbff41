#!/usr/bin/env python3
"""Regenerate ``kb/data/uk_us.tsv``: British -> American spelling pairs from SCOWL.

Source: SCOWL (Spell Checker Oriented Word Lists) by Kevin Atkinson, as packaged
by Debian (package ``scowl``, version 2020.12.07).  SCOWL's lists are free to
use, copy, modify, distribute and sell (an MIT-like notice, reproduced in the
header of the generated file).  SCOWL separates the words whose spelling is
British only (``british-words.*``, ``british_variant_*-words.*``) from those
whose spelling is American only (``american-words.*``) and those common to both
(``english-words.*``).

A pair is made when a British-only word turns into an American or common word
by the regular British -> American spelling changes (``our``->``or``,
``tre``->``ter``, ``ise``->``ize``, ``yse``->``yze``, ``ae``/``oe``->``e``,
``ence``->``ense``, ``practise``->``practice``, ``ogue``->``og``, ``ll``->``l``, ``l``->``ll``,
``mme``->``m``, ...; at most two changes per word), so every pair is attested
in both of SCOWL's spelling lists.  Words with several candidates are dropped.

Collisions: kb also maps British *stems* to American stems (so inflections not
in the list follow).  A pair whose British stem is also the stem of a word
spelled the same in both varieties (``analyse`` -> ``analyze``: the stem
``analys`` is also that of ``analyses``, plural of ``analysis``) is marked ``word`` in a third
column: kb then maps the listed words only, not the stem.

Usage (Debian/Ubuntu)::

    apt-get download scowl && dpkg-deb -x scowl_*_all.deb /tmp/scowl
    python tools/make_uk_us.py --scowl /tmp/scowl/usr/share/dict/scowl > kb/data/uk_us.tsv

(``apt-get install scowl`` puts the lists in ``/usr/share/dict/scowl``, the default.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SIZES = (10, 20, 35, 40, 50, 55, 60)  # up to SCOWL size 60 (rarer words add mostly noise)

#: British -> American substitutions, tried at every position.
RULES: tuple[tuple[str, str], ...] = (
    ("our", "or"),
    ("tre", "ter"),
    ("tred", "tered"),
    ("tring", "tering"),
    ("bre", "ber"),
    ("bred", "bered"),
    ("vre", "ver"),
    ("vred", "vered"),
    ("vring", "vering"),
    ("grey", "gray"),
    ("ise", "ize"),
    ("isa", "iza"),
    ("isi", "izi"),
    ("practis", "practic"),  # practise -> practice
    ("ys", "yz"),
    ("ae", "e"),
    ("oe", "e"),
    ("ence", "ense"),
    ("ogue", "og"),
    ("ll", "l"),
    ("l", "ll"),
    ("mme", "m"),
    ("eing", "ing"),
    ("dgement", "dgment"),
    ("que", "ck"),
    ("oul", "ol"),  # mould, smoulder, moult
    ("eable", "able"),
    ("ette", "et"),
)

#: Pairs the rules find that are different words, not spelling variants.
EXCLUDE = frozenset({
    ("prise", "prize"), ("prised", "prized"), ("prises", "prizes"), ("prising", "prizing"),
    ("dependant", "dependent"), ("dependants", "dependents"),
    ("storey", "story"), ("storeys", "storys"),
    ("filets", "fillets"), ("escaloped", "escalloped"), ("escaloping", "escalloping"),
})

LICENCE = """\
# Copyright 2000-2020 by Kevin Atkinson
#   Permission to use, copy, modify, distribute and sell these word lists, the
#   associated scripts, the output created from the scripts, and its
#   documentation for any purpose is hereby granted without fee, provided that
#   the above copyright notice appears in all copies and that both that
#   copyright notice and this permission notice appear in supporting
#   documentation. Kevin Atkinson makes no representations about the
#   suitability of this array for any purpose. It is provided "as is" without
#   express or implied warranty."""


def read_lists(folder: Path, category: str) -> set[str]:
    words: set[str] = set()
    for size in SIZES:
        path = folder / f"{category}.{size}"
        if not path.exists():
            continue
        for line in path.read_text(encoding="latin-1").splitlines():
            w = line.strip()
            if w and w.isalpha() and w.islower() and w.isascii():
                words.add(w)
    return words


def _allowed(w: str, i: int, uk: str) -> bool:
    """Positions where a digraph is not a spelling variant: Latin plurals (areolae),
    -oed/-oes endings (bunkoed), the prefix aer- (aerogenic)."""
    rest = w[i + len(uk):]
    if uk == "ae":
        return rest not in ("", "s") and not (i == 0 and rest.startswith("r"))
    if uk == "oe":
        return rest not in ("", "s", "d", "r")
    return True


def candidates(word: str, depth: int = 2) -> set[str]:
    out: set[str] = set()
    frontier = {word}
    for _ in range(depth):
        nxt: set[str] = set()
        for w in frontier:
            for uk, us in RULES:
                i = w.find(uk)
                while i >= 0:
                    if _allowed(w, i, uk):
                        nxt.add(w[:i] + us + w[i + len(uk):])
                    i = w.find(uk, i + 1)
        out |= nxt
        frontier = nxt
    out.discard(word)
    return out


def build(folder: Path) -> tuple[list[tuple[str, str, bool]], dict[str, int]]:
    import Stemmer

    british = set()
    for cat in ("british-words", "british_variant_1-words", "british_variant_2-words"):
        british |= read_lists(folder, cat)
    american = read_lists(folder, "american-words")
    common = read_lists(folder, "english-words")
    targets = american | common
    british -= american | common  # spelled the same in both: not a variant

    pairs: list[tuple[str, str]] = []
    ambiguous = 0
    for uk in sorted(british):
        found = sorted(c for c in candidates(uk) if c in targets and c not in british)
        # prefer an American-only spelling over a common word
        am = [c for c in found if c in american]
        found = am or found
        if len(found) != 1:
            ambiguous += len(found) > 1
            continue
        if (uk, found[0]) in EXCLUDE:
            continue
        pairs.append((uk, found[0]))

    stem = Stemmer.Stemmer("english").stemWord
    # stems of words spelled alike in both varieties (and of American words)
    shared_stems: dict[str, str] = {}
    for w in common | american:
        shared_stems.setdefault(stem(w), w)
    us_words = {us for _, us in pairs}
    out: list[tuple[str, str, bool]] = []
    collisions = 0
    for uk, us in pairs:
        a, b = stem(uk), stem(us)
        other = shared_stems.get(a)
        word_only = a != b and other is not None and other not in us_words
        collisions += word_only
        out.append((uk, us, word_only))
    return out, {"british": len(british), "american": len(american), "ambiguous": ambiguous,
                 "collisions": collisions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scowl", type=Path, default=Path("/usr/share/dict/scowl"),
                    help="folder of SCOWL final word lists (default /usr/share/dict/scowl)")
    args = ap.parse_args(argv)
    if not (args.scowl / "british-words.10").exists():
        print(f"no SCOWL lists in {args.scowl}; see --help", file=sys.stderr)
        return 2
    pairs, stats = build(args.scowl)
    print("# British<TAB>American spelling variants, one pair a line; a third column")
    print("# 'word' means: map these words only, not their stem (the British stem is")
    print("# also the stem of another word, e.g. analyse/analyses).")
    print("# Source: SCOWL 2020.12.07 (Debian package 'scowl'), sizes up to 60: pairs of")
    print("# a British-only and an American-only (or common) spelling in SCOWL's lists.")
    print("# Generated by tools/make_uk_us.py; do not edit by hand.")
    print(f"# {len(pairs)} pairs, {stats['collisions']} word-only. SCOWL licence:")
    print(LICENCE)
    for uk, us, word_only in pairs:
        print(f"{uk}\t{us}\tword" if word_only else f"{uk}\t{us}")
    print(f"{len(pairs)} pairs ({stats['british']} British-only words, "
          f"{stats['ambiguous']} ambiguous, {stats['collisions']} word-only)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
