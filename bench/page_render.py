"""Page image with a highlighted quote: milliseconds per image, against a plain render, same run.

The quotes are taken from the pages' own text: each crosses a line, and a
few cross a page break. Timings per (page, quote), in milliseconds:

  cold       the very first ``render_page`` of the process (module imported, nothing opened yet)
  baseline   a plain PyMuPDF render of the same page at the same zoom, PNG-encoded, document already open
  ours       ``render_page(pdf, page, quote)``: open, text stream, search, render, highlight, PNG

    python bench/page_render.py [--renders 30] [--zoom 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAG = ROOT.parent / "shared" / "data" / "rag"
PDFS = [
    ROOT / "knowledge" / "harbor_tower_maintenance_contract.pdf",
    RAG / "northwind" / "Northwind_Standard_Benefits_Details.pdf",
    RAG / "northwind" / "Northwind_Health_Plus_Benefits_Details.pdf",
    RAG / "sec10q" / "2023 Q1 AAPL.pdf",
    RAG / "sec10q" / "2023 Q2 NVDA.pdf",
]


def line_quote(text: str, rng: random.Random) -> str | None:
    """A few words either side of a line break inside a paragraph of ``text``."""
    lines = text.split("\n")
    pairs = [(a, b) for a, b in zip(lines, lines[1:], strict=False) if len(a.split()) >= 5 and len(b.split()) >= 5]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return " ".join(a.split()[-rng.randint(2, 5) :] + b.split()[: rng.randint(2, 5)])


def cases(n: int, rng: random.Random) -> list[tuple[Path, int, str]]:
    """``n`` (pdf, 1-based page, quote) with a line-crossing quote; every fifth one crosses a page break."""
    import pymupdf

    docs = {p: pymupdf.open(p) for p in PDFS if p.is_file()}
    out: list[tuple[Path, int, str]] = []
    while len(out) < n:
        path = rng.choice(list(docs))
        doc = docs[path]
        i = rng.randrange(doc.page_count)
        if len(out) % 5 == 4 and i + 1 < doc.page_count:
            end, start = doc[i].get_text().split(), doc[i + 1].get_text().split()
            if len(end) > 40 and len(start) > 40:
                out.append((path, i + 1, " ".join(end[-4:] + start[:4])))
            continue
        quote = line_quote(doc[i].get_text(), rng)
        if quote:
            out.append((path, i + 1, quote))
    for d in docs.values():
        d.close()
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", type=int, default=30)
    ap.add_argument("--zoom", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()

    t = time.perf_counter()
    import pymupdf

    from multimodal_crew.serve import pages

    imported = (time.perf_counter() - t) * 1000
    todo = cases(args.renders, random.Random(args.seed))

    path, page, quote = todo[0]
    t = time.perf_counter()
    first = pages.render_page(path, page, quote, zoom=args.zoom)
    cold = (time.perf_counter() - t) * 1000

    open_docs = {p: pymupdf.open(p) for p, _, _ in todo}
    baseline, ours, found, crossing, size = [], [], 0, 0, []
    for path, page, quote in todo:
        t = time.perf_counter()
        png = open_docs[path][page - 1].get_pixmap(matrix=pymupdf.Matrix(args.zoom, args.zoom)).tobytes("png")
        baseline.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        img = pages.render_page(path, page, quote, zoom=args.zoom)
        ours.append((time.perf_counter() - t) * 1000)
        found += img.found
        crossing += img.continues
        size.append(len(img.png) / 1024)
        assert len(png) > 0

    print(f"{len(todo)} page images at zoom {args.zoom} from {len({p for p, _, _ in todo})} PDFs; ", end="")
    print(
        f"quote found on {found}/{len(todo)} ({crossing} crossing a page break); PNG median {statistics.median(size):.0f} KB"
    )
    print(f"import of serve.pages: {imported:.0f} ms; cold first render: {cold:.0f} ms (found={first.found})")
    print(f"{'':10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, xs in (("baseline", baseline), ("ours", ours)):
        print(f"{name:10} {pct(xs, 0.5):8.1f} {pct(xs, 0.95):8.1f} {max(xs):8.1f}")
    print(
        f"ours / baseline: p50 x{pct(ours, 0.5) / pct(baseline, 0.5):.2f}, p95 x{pct(ours, 0.95) / pct(baseline, 0.95):.2f}"
        f"; goal < 300 ms per page image: {'met' if pct(ours, 0.95) < 300 else 'NOT met'} at p95"
    )


if __name__ == "__main__":
    main()
