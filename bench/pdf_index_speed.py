"""PDF indexing speed: pages per second, reading only and reading + indexing.

    python bench/pdf_index_speed.py [COPIES] [PDF_DIR]     # default 20 copies of the samples

Reading: ``kb.pdf.read_pdf`` + ``passages.split_document`` (extraction, layout repair,
passages) over the sample PDFs.  Indexing: ``kb index --rebuild`` (``kb.index.update``)
over a corpus of COPIES copies of each sample PDF, in a temporary folder.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DIR = ROOT.parent / "shared" / "corpus-pdf"


def main(argv: list[str]) -> int:
    import pypdfium2 as pdfium

    from kb.index import update
    from kb.passages import split_document
    from kb.pdf import read_pdf

    copies = int(argv[1]) if len(argv) > 1 else 20
    pdf_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_DIR
    files = sorted(pdf_dir.glob("*.pdf"))
    datas = [(f.name, f.read_bytes()) for f in files]
    pages = 0
    for _, data in datas:
        doc = pdfium.PdfDocument(data)
        pages += len(doc)
        doc.close()
    read_pdf(datas[0][1], datas[0][0])  # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for name, data in datas:
            split_document(read_pdf(data, name))
        best = min(best, time.perf_counter() - t0)
    print(f"read + layout + passages: {pages} pages in {best:.3f} s = {pages / best:.0f} pages/s")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        for k in range(copies):
            d = corpus / f"copy{k:03d}"
            d.mkdir(parents=True)
            for f in files:
                shutil.copy(f, d / f.name)
        t0 = time.perf_counter()
        report = update(Path(tmp) / "index", corpus, rebuild=True)
        dt = time.perf_counter() - t0
        n = pages * copies
        print(f"kb index --rebuild: {len(report.added)} files, {n} pages, "
              f"{report.passages_total} passages in {dt:.2f} s = {n / dt:.0f} pages/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
