"""Compare PDF text extractors on the sample UN documents.

    python bench/pdf_extractors.py [PDF_DIR]      # default: ../shared/corpus-pdf

For each extractor: pages per second (best of 3 runs over all PDFs), reading
order (anchor phrases found in document order), and text quality (line-end
hyphens kept or recoverable, spurious double spaces).  The figures are in
bench/README.md ("PDF extractors").
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT.parent / "shared" / "corpus-pdf"

#: phrases in document order: reading order is the share found in that order.
ANCHORS = {
    "S_RES_2771 (2025).en.pdf": [
        "The Security Council,", "Welcoming the report of the Secretary-General",
        "1. Reaffirms all its relevant resolutions", "6. Recalls its resolution 2723",
        "(c) strengthen efforts to promote peace education",
        "7. Regrets the ongoing lack of full", "Technical Committee on Gender Equality",
        "19. Requests the Secretary-General", "20. Urges troop- and police-contributing",
        "24. Decides to remain seized of the matter.",
    ],
    "UNW_2025_1.en.pdf": [
        "I. Election of the Bureau", "1. On 10 January 2025", "II. Organizational matters",
        "7. Discussing the current financial situation", "IV. Audit matters",
        "VII. Risk management", "X. Closing", "Annex I", "2025/4", "Risk management",
    ],
    "E_ICEF_2025_26.en.pdf": [
        "Compendium of decisions", "2025/8", "1. Takes note of the annual report",
        "2025/11", "Update on protection from sexual exploitation and abuse",
        "7. Recalls paragraphs 8 and 9", "2025/16", "2025/18",
        "subject to external audit",
    ],
}
#: words broken by a hyphen at a line end in the sample PDFs: is the hyphen kept?
HYPHENATED = ["trust-building", "Under-Secretary-General", "anti-racism", "UN-Women"]


def ex_pypdfium2(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    out = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            tp = page.get_textpage()
            # get_text_range keeps a line-end hyphen as U+FFFE; get_text_bounded drops it
            out.append(tp.get_text_range().replace("\ufffe", "-\n"))
            tp.close()
            page.close()
    finally:
        pdf.close()
    return out


def ex_pypdf(path: Path) -> list[str]:
    import pypdf

    reader = pypdf.PdfReader(str(path))
    return [p.extract_text() for p in reader.pages]


def ex_pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    pages = []
    for layout in extract_pages(str(path)):
        pages.append("".join(el.get_text() for el in layout if isinstance(el, LTTextContainer)))
    return pages


def ex_pdfplumber(path: Path) -> list[str]:
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        return [p.extract_text() or "" for p in pdf.pages]


EXTRACTORS = {
    "pypdfium2": ex_pypdfium2,
    "pypdf": ex_pypdf,
    "pdfminer.six": ex_pdfminer,
    "pdfplumber": ex_pdfplumber,
}


def _flat(text: str) -> str:
    text = text.replace("\r", "")
    text = re.sub(r"(\w) ?-\n(\w)", r"\1-\2", text)  # keep line-end hyphens
    return " ".join(text.split())


def reading_order(text: str, anchors: list[str]) -> tuple[int, int]:
    flat = _flat(text)
    pos, ok = 0, 0
    for a in anchors:
        i = flat.find(a, pos)
        if i >= 0:
            ok += 1
            pos = i + len(a)
    return ok, len(anchors)


def main(argv: list[str]) -> int:
    pdf_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    files = sorted(pdf_dir.glob("*.pdf"))
    if not files:
        print(f"no PDFs in {pdf_dir}", file=sys.stderr)
        return 2
    print(f"{len(files)} PDFs in {pdf_dir}")
    print("| extractor | pages/s | s for all | reading order | hyphens kept | double spaces /1000 words |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, fn in EXTRACTORS.items():
        fn(files[0])  # warm-up: imports, caches
        best = float("inf")
        texts: dict[str, list[str]] = {}
        for _ in range(3):
            t0 = time.perf_counter()
            for f in files:
                texts[f.name] = fn(f)
            best = min(best, time.perf_counter() - t0)
        pages = sum(len(v) for v in texts.values())
        ok = total = 0
        for fname, anchors in ANCHORS.items():
            if fname in texts:
                a, b = reading_order("\n".join(texts[fname]), anchors)
                ok, total = ok + a, total + b
        alltext = "\n".join("\n".join(v) for v in texts.values())
        flat = _flat(alltext)
        kept = sum(1 for w in HYPHENATED if w in flat)
        words = len(flat.split())
        doubles = len(re.findall(r"\S  +\S", alltext))
        print(f"| {name} | {pages / best:.0f} | {best:.2f} | {ok}/{total} | "
              f"{kept}/{len(HYPHENATED)} | {1000 * doubles / max(words, 1):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
