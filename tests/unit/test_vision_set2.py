"""The held-out vision set 2 generator (bench/make_vision_set2.py): shape and counts, no model."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "bench" / "make_vision_set2.py"
ZH_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

pytestmark = pytest.mark.skipif(not ZH_FONT.exists(), reason="needs fonts-wqy-zenhei for the Chinese items")


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_vision_set2", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("vision_new")
    assert _load_generator().main(["--out", str(out)]) == 0
    lines = (out / "items.jsonl").read_text(encoding="utf-8").splitlines()
    return out, [json.loads(line) for line in lines]


def test_counts(built) -> None:
    _, items = built
    n = Counter(it["category"] for it in items)
    assert len(items) >= 110
    assert n["bar_chart"] + n["bar_chart_zh"] >= 22
    assert n["line_chart"] + n["line_chart_zh"] >= 14
    assert n["table"] + n["table_zh"] >= 18
    text_kinds = ("receipt", "sign", "form", "diagram")
    assert sum(n[k] + n[f"{k}_zh"] for k in text_kinds) >= 28
    for k in text_kinds:
        assert n[k] + n[f"{k}_zh"] >= 5, k
    zh = {c: m for c, m in n.items() if c.endswith("_zh")}
    assert sum(zh.values()) >= 20
    for k in ("bar_chart_zh", "line_chart_zh", "table_zh", "receipt_zh", "sign_zh"):
        assert zh.get(k, 0) >= 1, k
    assert n["perception_count"] + n["perception_spatial"] >= 8


def test_items_are_well_formed(built) -> None:
    out, items = built
    base = {"bar_chart", "line_chart", "table", "receipt", "sign", "form", "diagram"}
    base |= {"perception_count", "perception_spatial"}
    images = set()
    for it in items:
        assert it["category"].removesuffix("_zh") in base, it["category"]
        assert isinstance(it["question"], str) and it["question"].strip()
        ch = it["choices"]
        assert 3 <= len(ch) <= 4, it
        assert all(isinstance(c, str) and c.strip() for c in ch), it
        assert len(set(ch)) == len(ch), it
        assert isinstance(it["answer"], int) and 0 <= it["answer"] < len(ch), it
        assert it["image"].startswith("images/") and it["image"] not in images
        images.add(it["image"])
        path = out / it["image"]
        assert path.is_file(), path
        with Image.open(path) as im:
            im.verify()
    assert {p.name for p in (out / "images").glob("*.png")} == {Path(i).name for i in images}


def test_chart_truth_is_consistent(built) -> None:
    _, items = built
    charts = [it for it in items if it["category"].removesuffix("_zh") in ("bar_chart", "line_chart")]
    assert charts
    for it in charts:
        t = it["truth"]
        assert t["kind"] == ("bar" if it["category"].startswith("bar") else "line")
        assert t["orientation"] in ("vertical", "horizontal")
        assert isinstance(t["stacked"], bool)
        cats = t["categories"]
        assert cats and len(set(cats)) == len(cats)
        assert t["series"]
        for name, vals in t["series"].items():
            assert isinstance(name, str)
            assert len(vals) == len(cats), (it["image"], name)
            assert all(isinstance(v, (int, float)) for v in vals)
    kinds = Counter((it["truth"]["kind"], it["truth"]["orientation"], it["truth"]["stacked"]) for it in charts)
    assert kinds[("bar", "vertical", False)] and kinds[("bar", "horizontal", False)]
    assert kinds[("bar", "vertical", True)] + kinds[("bar", "horizontal", True)] >= 2
    assert sum(1 for it in charts if len(it["truth"]["series"]) > 1) >= 8
    assert all("truth" not in it for it in items if it not in charts)


def test_deterministic(built, tmp_path) -> None:
    """A second build gives the same items (the images are checked through a sample)."""
    out, items = built
    again = _load_generator().build(tmp_path)
    assert again == items
    for it in items[::9]:
        assert (tmp_path / it["image"]).read_bytes() == (out / it["image"]).read_bytes()
