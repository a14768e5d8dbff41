"""Small PDF, DOCX and HTML documents built by the tests themselves, and the sample PDFs."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

#: the three sample UN PDFs, committed with the tests (tests/data/pdf/README.md credits them)
SAMPLE_PDF_DIR = Path(__file__).resolve().parent / "data" / "pdf"
RESOLUTION = "S_RES_2771 (2025).en.pdf"
UNW = "UNW_2025_1.en.pdf"
ICEF = "E_ICEF_2025_26.en.pdf"
SAMPLE_PDFS = (RESOLUTION, UNW, ICEF)


def copy_sample_pdfs(dest: Path) -> list[Path]:
    """Copy the sample PDFs into ``dest``; fails (never skips) when they are missing."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in SAMPLE_PDFS:
        src = SAMPLE_PDF_DIR / name
        assert src.is_file(), f"sample PDF missing: {src}"
        shutil.copy(src, dest / name)
        out.append(dest / name)
    return out


# --------------------------------------------------------------------------
# PDF: every line placed by hand, so line ends and hyphens are exactly as written

BODY, BOLD = "Times-Roman", "Times-Bold"


def make_pdf(pages: list[list[tuple[float, float, str, float, str]]], title: str = "",
             encrypt: str | None = None) -> bytes:
    """``pages``: per page, lines of (x, y, font, size, text); y from the bottom (points)."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(612, 792), encrypt=encrypt, invariant=1)
    if title:
        c.setTitle(title)
    for lines in pages:
        for x, y, font, size, text in lines:
            c.setFont(font, size)
            c.drawString(x, y, text)
        c.showPage()
    c.save()
    return buf.getvalue()


def un_report_pdf() -> bytes:
    """A three-page UN-style report: masthead, running header and footer, numbered
    paragraphs, a paragraph running over a page break, hyphens at line ends, a
    footnote, headings "I. Background" and "1. Key frameworks"."""
    sym = "A/TEST/2025/1"

    def furniture(n: int) -> list[tuple[float, float, str, float, str]]:
        return [(72, 740, BOLD, 8.5, sym), (72, 50, BOLD, 8.5, f"{n}/3"),
                (480, 50, BODY, 8.5, "25-01234")]

    p1 = [
        (72, 740, BODY, 14, f"United Nations {sym}"),
        (72, 715, BOLD, 20, "General Assembly"),
        (400, 715, BODY, 10, "Distr.: General"),
        (400, 703, BODY, 10, "3 March 2025"),
        (400, 691, BODY, 10, "Original: English"),
        (72, 60, BODY, 10, "25-01234 (E) 030325"),
        (72, 46, BOLD, 12, "*2501234*"),
        (72, 600, BOLD, 14, "Safe workplaces in field missions"),
        (72, 570, BOLD, 12, "I. Background"),
        (72, 550, BODY, 10, "1. The Secretary-General reported that the organization was"),
        (72, 538, BODY, 10, "committed to trust-building measures and to the well-being of all"),
        (72, 526, BODY, 10, "personnel serving in field missions in every region."),
        (72, 508, BODY, 10, "2. The Under-Secretary-General noted that the Secretary-"),
        (72, 496, BODY, 10, "General had launched a review of the reporting channels and of"),
        (72, 484, BODY, 10, "the trust-"),
        (72, 472, BODY, 10, "building work of the mission, with an organi-"),
        (72, 460, BODY, 10, "zation-wide plan for troop- and police-contributing countries."),
        (72, 442, BODY, 10, "(a) the first sub-paragraph of paragraph two, about reporting;"),
        (72, 424, BODY, 10, "3. A paragraph that runs over the end of the page continues on"),
        (72, 412, BODY, 10, "the next page, where it is still part of the same paragraph and"),
        (72, 100, BODY, 7, "1 See https://www.un.org/en/ethics/ for the ethics office."),
    ]
    p2 = furniture(2) + [
        (72, 700, BODY, 10, "is cited on the page where it starts, and its last words are"),
        (72, 688, BODY, 10, "found on the second page of this report."),
        (72, 660, BOLD, 12, "1. Key frameworks"),
        (72, 640, BODY, 10, "4. The framework on sexual exploitation and abuse sets out what"),
        (72, 628, BODY, 10, "managers do when a report is received, and it is reviewed every"),
        (72, 616, BODY, 10, "year by the working group in consultation with staff associations."),
    ]
    p3 = furniture(3) + [
        (72, 700, BOLD, 12, "II. Next steps"),
        (72, 680, BODY, 10, "5. The secretariat will report back to the working group at its"),
        (72, 668, BODY, 10, "next session on progress in every duty station."),
    ]
    return make_pdf([p1, p2, p3])


def scanned_pdf() -> bytes:
    """A page with a picture and no text layer."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(612, 792), invariant=1)
    c.rect(100, 100, 400, 600, fill=1)
    c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    return make_pdf([[(72, 700, BODY, 10, "A secret report that needs a password.")]],
                    encrypt="secret")


# --------------------------------------------------------------------------
# DOCX and HTML

LONG = ("peer support networks connect staff who experienced harassment with trained "
        "colleagues in twelve duty stations, and the network reports every year")


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = "Microsoft Word - draft3.docx"
    d.add_paragraph("Peer support in the field", style="Title")
    d.add_paragraph("New York, 3 March 2025")
    d.add_heading("I. Background", level=1)
    d.add_paragraph("The network began in 2019 as a pilot in two duty stations.")
    d.add_paragraph(f"7. The Committee notes that {LONG}.")
    d.add_paragraph("(a) the first sub-paragraph of paragraph seven, on reporting;")
    d.add_heading("Numbered paragraphs", level=2)
    d.add_paragraph(f"It welcomes that {LONG} to the Executive Board.", style="List Number")
    d.add_paragraph(f"It requests that {LONG} to the working group.", style="List Number")
    d.add_paragraph("bystander training", style="List Bullet")
    d.add_paragraph("confidential helplines", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Year", "Cases"
    t.cell(1, 0).text, t.cell(1, 1).text = "2023", "31"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Peer support | Example site</title>
<meta name="dcterms.date" content="2024-03-05">
<style>p {{ color: red }}</style><script>var tracker = "scriptword";</script></head>
<body>
<header>Site banner headerword</header>
<nav><a href="/">Home</a> navword</nav>
<main>
<h1>Peer support in the field</h1>
<p>Intro paragraph with <a href="https://example.org">a link</a> and <em>emph</em>asis.<br>
Second line of the intro.</p>
<h2>II. Background</h2>
<p>7. The Committee notes that {LONG}.</p>
<p>(a) the first sub-paragraph of paragraph seven, on reporting;</p>
<ol start="8">
<li>The Committee welcomes that {LONG} to the Executive Board.</li>
<li>The Committee requests that {LONG} to the working group.</li>
</ol>
<h3>Tools</h3>
<ul><li>bystander training<ul><li>nested item</li></ul></li><li><p>helplines</p></li></ul>
<table><tr><th>Year</th><th>Cases</th></tr><tr><td>2023</td><td>31</td></tr></table>
</main>
<footer>Footer footerword</footer>
</body></html>
"""
