"""Check the SEC / Chinese question sets in this folder against the PDFs.

Run:  .venv/bin/python bench/data/rag/sec/check.py   (from /work/main)

For every line of the four JSONL files it checks that
  * the line is valid JSON with the expected keys, and `kind` is table / narrative / unanswerable;
  * every cited file exists (SEC filings in <data>/sec10q, Northwind PDFs in <data>/northwind)
    and every cited page is inside the PDF (page_1based = PyMuPDF page index + 1);
  * every fact string occurs on at least one gold page, after whitespace normalisation
    (the required check), and also on every gold page (the gold pages were chosen that way);
  * unanswerable lines have no citations and no facts, and none of the probe patterns
    below (the evidence that was searched for when the question was judged unanswerable)
    occurs anywhere in the PDFs they apply to;
  * no question is repeated across the four files or copied from ../northwind_zh.jsonl.
The data folder defaults to /work/shared/data/rag; set RAG_DATA to use another one.
Exit status 0 when everything passes, 1 otherwise.
"""

import fnmatch
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import fitz  # PyMuPDF

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("RAG_DATA", "/work/shared/data/rag"))
DIRS = [DATA / "sec10q", DATA / "northwind"]
FILES = ["sec_dev.jsonl", "sec_holdout.jsonl", "zh_dev.jsonl", "zh_holdout.jsonl"]
KINDS = {"table", "narrative", "unanswerable"}

# Unanswerable question -> [(file glob, regex that must NOT occur on any page of those PDFs)].
PROBES = {
    "What was Microsoft's Azure revenue growth in the quarter ended March 31, 2023?": [
        ("*", r"Azure revenue"),
        ("*", r"Microsoft Cloud revenue"),
        ("*", r"Intelligent Cloud"),
    ],
    "What were Apple's total net sales for the three months ended September 30, 2023 (Q4 of fiscal 2023)?": [
        ("*AAPL*", r"September 30, 2023"),
        ("*AAPL*", r"fourth quarter of 2023"),
    ],
    "How many Prime members did Amazon have as of June 30, 2023?": [
        ("*AMZN*", r"\d[^.]{0,30}Prime members"),
        ("*AMZN*", r"Prime members[^.]{0,30}\d"),
    ],
    "What was NVIDIA's revenue for the fourth quarter of fiscal 2024, the quarter ended January 28, 2024?": [
        ("*NVDA*", r"January 28, 2024"),
        ("*NVDA*", r"Fourth Quarter of Fiscal Year 2024 Summary"),
    ],
    "How many iPhone units did Apple sell in the quarter ended April 1, 2023?": [
        ("*AAPL*", r"iPhone units"),
        ("*AAPL*", r"units of iPhone"),
        ("*AAPL*", r"unit sales"),
    ],
    "What net-sales guidance did Amazon give for the first quarter of 2024?": [
        ("*AMZN*", r"First Quarter 2024"),
        ("*AMZN*", r"first quarter 2024"),
    ],
    "How many full-time employees did NVIDIA have in total as of July 30, 2023?": [
        ("*NVDA*", r"[\d,]{4,} (?:full-time |total )?employees(?! in the region)")
    ],
    "What was Tesla's automotive revenue in the quarter ended September 30, 2023?": [("*", r"Tesla")],
    "What was Alphabet's Google advertising revenue in the second quarter of 2023?": [
        ("*", r"Alphabet"),
        ("*", r"Google advertising"),
        ("*", r"Google Services"),
    ],
    "What were Apple's Services net sales for the quarter ended December 30, 2023?": [
        ("*AAPL*", r"December 30, 2023"),
        ("*AAPL*", r"first quarter of 2024"),
    ],
    "How many active AWS customers did Amazon report as of September 30, 2023?": [
        ("*AMZN*", r"active customers"),
        ("*AMZN*", r"\d[\d,.]* (?:million )?AWS customers"),
    ],
    "What U.S. retail price did Apple set for the Apple Vision Pro headset?": [
        ("*AAPL*", r"Vision Pro[^.]{0,80}\$\d"),
        ("*AAPL*", r"3,499"),
    ],
    "How much Data Center revenue did NVIDIA earn from customers in Saudi Arabia in the third quarter of fiscal 2024?": [
        ("*NVDA*", r"Saudi Arabia[^.]{0,80}(?:revenue|\$\d)"),
        ("*NVDA*", r"(?:revenue|\$\d)[^.]{0,80}Saudi Arabia"),
    ],
    "What was Amazon's total employee headcount as of March 31, 2023?": [
        ("*AMZN*", r"[\d,]{4,} (?:full-time|part-time|employees)"),
        ("*AMZN*", r"headcount of"),
    ],
    "What were Apple's total net sales for the full fiscal year 2021 (year ended September 25, 2021)?": [
        ("*AAPL*", r"365,817"),
        ("*AAPL*", r"fiscal year 2021 net sales"),
    ],
    "What was Intel's total revenue in the quarter ended September 30, 2023?": [("*", r"\bIntel\b")],
    "Meta（Facebook 母公司）2023年第三季度的广告收入是多少？": [
        ("*", r"\bMeta\b"),
        ("*", r"Facebook[^.]{0,60}revenue"),
    ],
    "Northwind Health Plus 计划每月的保费是多少钱？": [
        ("Northwind*", r"premium[^.]{0,60}\$\d"),
        ("Northwind*", r"\$\d[^.]{0,60}premium"),
    ],
    "英伟达在2024财年第三季度一共出货了多少块 H100 GPU？": [
        ("*NVDA*", r"H100[^.]{0,60}units"),
        ("*NVDA*", r"units[^.]{0,60}H100"),
        ("*NVDA*", r"shipped [\d,.]+ (?:million )?H100"),
    ],
    "Northwind Health Plus 每年可以报销多少健身房会员费？": [
        ("Northwind*", r"(?i)\bgym\b"),
        ("Northwind*", r"(?i)fitness"),
    ],
}


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


_docs: dict[str, list[str]] = {}


def pages_of(name: str) -> list[str] | None:
    """Normalised text of every page of the named PDF (cached), or None if it does not exist."""
    if name not in _docs:
        path = next((d / name for d in DIRS if (d / name).is_file()), None)
        if path is None:
            return None
        with fitz.open(path) as doc:
            _docs[name] = [norm(p.get_text()) for p in doc]
    return _docs[name]


def all_pdfs() -> list[str]:
    return sorted(p.name for d in DIRS for p in d.glob("*.pdf"))


def main() -> int:
    errors: list[str] = []
    questions: Counter = Counter()
    zh_old = HERE.parent / "northwind_zh.jsonl"
    old = {json.loads(line)["question"] for line in zh_old.open(encoding="utf-8")} if zh_old.exists() else set()
    totals = Counter()
    for fname in FILES:
        kinds = Counter()
        n_cites = n_facts = 0
        for i, line in enumerate((HERE / fname).open(encoding="utf-8"), 1):
            where = f"{fname}:{i}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: bad JSON ({e})")
                continue
            q, cites, kind = row.get("question"), row.get("citations"), row.get("kind")
            if not isinstance(q, str) or not q.strip() or not isinstance(cites, list) or kind not in KINDS:
                errors.append(f"{where}: needs question, citations list and kind in {sorted(KINDS)}")
                continue
            questions[q] += 1
            if q in old:
                errors.append(f"{where}: question copied from northwind_zh.jsonl")
            kinds[kind] += 1
            if kind == "unanswerable":
                if cites or row.get("facts"):
                    errors.append(f"{where}: unanswerable line must have no citations and no facts")
                if q not in PROBES:
                    errors.append(f"{where}: no absence probes recorded for this unanswerable question")
                for glob, pat in PROBES.get(q, []):
                    for name in all_pdfs():
                        if not fnmatch.fnmatch(name, glob):
                            continue
                        for pno, text in enumerate(pages_of(name), 1):
                            m = re.search(pat, text)
                            if m:
                                errors.append(
                                    f"{where}: probe {pat!r} found in {name} p{pno}: "
                                    f"...{text[max(0, m.start() - 60) : m.end() + 60]}..."
                                )
                continue
            facts = row.get("facts")
            if (
                not cites
                or not isinstance(facts, list)
                or not 1 <= len(facts) <= 3
                or not all(isinstance(f, str) and f.strip() for f in facts)
            ):
                errors.append(f"{where}: answerable line needs >=1 citation and 1-3 non-empty facts")
                continue
            gold = []
            for c in cites:
                name, page = c.get("file"), c.get("page_1based")
                texts = pages_of(name) if isinstance(name, str) else None
                if texts is None:
                    errors.append(f"{where}: file not found: {name!r}")
                    continue
                if not isinstance(page, int) or not 1 <= page <= len(texts):
                    errors.append(f"{where}: {name} has {len(texts)} pages, cited page {page!r}")
                    continue
                gold.append((name, page, texts[page - 1]))
            if len({(c.get("file"), c.get("page_1based")) for c in cites}) != len(cites):
                errors.append(f"{where}: duplicate citation")
            n_cites += len(cites)
            for fact in facts:
                nf = norm(fact)
                n_facts += 1
                on = [(n, p) for n, p, t in gold if nf in t]
                if not on:
                    errors.append(f"{where}: fact {fact!r} is on no gold page")
                elif len(on) != len(gold):
                    missing = [f"{n} p{p}" for n, p, t in gold if nf not in t]
                    errors.append(f"{where}: fact {fact!r} missing from gold page(s) {missing}")
        totals.update(kinds)
        print(
            f"{fname}: {sum(kinds.values())} lines  "
            + "  ".join(f"{k}={kinds[k]}" for k in ("table", "narrative", "unanswerable"))
            + f"  citations={n_cites} facts={n_facts}"
        )
    for q, n in questions.items():
        if n > 1:
            errors.append(f"question repeated {n} times: {q}")
    print(
        "total: "
        + "  ".join(f"{k}={totals[k]}" for k in ("table", "narrative", "unanswerable"))
        + f"  PDFs read={len(_docs)}"
    )
    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("OK: every file exists, every fact is on its gold page(s), no probe of an unanswerable question matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
