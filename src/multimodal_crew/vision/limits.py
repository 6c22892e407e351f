"""What offline mode cannot see, said per question.

Offline mode reads text (OCR), measures bar and line charts, table grids, diagrams and scenes
drawn in flat colours (vision/shapes.py). It does not see objects in photos, and counts of
overlapping shapes of one colour are estimates.
A question of those kinds still gets one of its choices, but with low confidence and a note
saying why, instead of a guess presented as an answer.
"""

from __future__ import annotations

import re

__all__ = ["offline_limit"]

_THINGS = (
    r"circles?|squares?|triangles?|rectangles?|shapes?|stars?|dots?|hearts?|diamonds?|objects?|people|persons?"
    r"|cars?|animals?|balls?|birds?|trees?|cats?|dogs?|faces?|figures?|blocks?|boxes|icons?"
)
_COUNT = re.compile(rf"\bhow many\b(?:\s+\w+){{0,3}}\s+(?:{_THINGS})\b", re.I)
_COUNT_ZH = re.compile(r"(几个|多少个|多少只|几只|几辆|多少辆|多少人|几人|几颗)")
_WHERE = re.compile(
    r"\b(left of|right of|to the (?:left|right)|on the (?:left|right)|above the|below the|under the|on top of"
    r"|next to|beside|behind|in front of|closest to|nearest to|farthest from|overlap\w*|inside the|outside the)\b",
    re.I,
)
_WHERE_ZH = re.compile(r"(左边|右边|左侧|右侧|上方|下方|旁边|后面|前面|里面|重叠|之间的位置)")

NOTE = (
    "Offline mode reads text and measures charts, tables, diagrams and shapes drawn in flat colours; it "
    "found none of those here, and it does not see shapes in photos, count objects or judge positions in "
    "a picture, so this answer is a guess. A vision model "
    "(MMCREW_VISION_MODEL=ollama/<vlm>) can see such things."
)


UNSURE = (
    "Offline mode measured the shapes, but some of them overlap in one colour, so the count is an "
    "estimate: {notes}. A vision model (MMCREW_VISION_MODEL=ollama/<vlm>) may count them better."
)


def offline_limit(question: str, tables: list[dict], evidence: str = "") -> str:
    """The note to attach when the question asks what offline mode cannot see, else ``""``.
    A chart, table or diagram found in the image answers "how many"/"above" questions about it;
    shapes measured in a drawn scene answer them too, except a count the reader marked uncertain."""
    counting = _COUNT.search(question) or _COUNT_ZH.search(question)
    unsure = [n for t in tables if t["type"] == "shapes" for n in t.get("uncertain", [])]
    if tables:
        return UNSURE.format(notes="; ".join(unsure)) if counting and unsure else ""
    where = _WHERE.search(question) or _WHERE_ZH.search(question)
    return NOTE if counting or where else ""
