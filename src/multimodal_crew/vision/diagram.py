"""Labelled diagrams read as graphs: the boxes, and the lines and arrows between them.

1. A box is the region of one colour around a piece of OCR text that is enclosed (it does not
   reach the image's edge): the inside of a drawn rectangle, rounded box or diamond, or a band
   of colour. Its name is the text inside it.
2. Strokes are the dark or coloured pixels left when text, boxes and their borders are taken
   away. Each connected stroke is a connector; the boxes it touches (or, for an arrow standing
   free, the boxes nearest its two ends) are what it joins.
3. Arrowheads are the parts of a stroke thicker than its line (what survives an opening with a
   square a little wider than the line): the box at an arrowhead is where the arrow points. A
   connector without arrowheads joins the box above to the boxes below it (an org chart).
4. Short free text next to a connector ("Yes", "No") is that connector's label.

Two other layouts without connectors: a timeline (years on one row, each event the text nearest
its year) and a stack of bands (layers, named top to bottom).

The result is a list of nodes and edges (`Diagram.as_dict()`, type ``"diagram"``); `diagram_facts`
and `diagram_question_facts` turn it into sentences the text model can use: what follows what,
who is above whom, where a flowchart's answers lead, what a year on a timeline holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .reading import loose_key, text_rows

__all__ = ["Diagram", "read_diagram", "diagram_text", "diagram_facts", "diagram_question_facts", "diagram_used"]

_MAX_COLOURS = 12  # distinct box colours looked at before the image is taken for something else
_MAX_STROKES = 300  # connected strokes, likewise
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})(年)?$")


@dataclass
class Node:
    name: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    pieces: int = 1  # OCR text boxes inside

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


@dataclass
class Edge:
    source: str
    target: str
    how: str  # "arrow" (points at target) or "line" (from the box above to the box below)
    label: str = ""


@dataclass
class Diagram:
    kind: str  # "graph", "timeline" or "layers"
    nodes: list[Node]
    edges: list[Edge] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # timeline: (year, event)

    def as_dict(self) -> dict:
        return {
            "type": "diagram",
            "kind": self.kind,
            "nodes": [n.name for n in self.nodes],
            "boxes": [list(n.box) for n in self.nodes],
            "edges": [{"from": e.source, "to": e.target, "how": e.how, "label": e.label} for e in self.edges],
            "events": [list(e) for e in self.events],
        }


# -- reading ---------------------------------------------------------------------------------------
def _background(rgb: np.ndarray) -> np.ndarray:
    q = (rgb[::4, ::4] // 8).reshape(-1, 3)
    vals, counts = np.unique(q, axis=0, return_counts=True)
    return vals[counts.argmax()].astype(int) * 8 + 4


def _text_mask(shape, lines, pad: int = 2) -> np.ndarray:
    m = np.zeros(shape[:2], dtype=bool)
    for t in lines:
        m[max(0, t.y - pad) : t.y + t.h + pad, max(0, t.x - pad) : t.x + t.w + pad] = True
    return m


def _regions(rgb: np.ndarray, text: np.ndarray, lines) -> tuple[list[Node], np.ndarray, list]:
    """The enclosed one-colour region around each text line; text lines outside any are free."""
    import cv2

    h, w = text.shape
    nodes: dict[int, list] = {}
    masks: dict[int, np.ndarray] = {}
    free = []
    cache: dict[tuple, tuple[np.ndarray, int]] = {}
    for t in lines:
        x0, y0, x1, y1 = max(0, t.x - 5), max(0, t.y - 5), min(w, t.x + t.w + 5), min(h, t.y + t.h + 5)
        ring = ~text[y0:y1, x0:x1]
        if ring.sum() < 4:
            free.append(t)
            continue
        colour = np.median(rgb[y0:y1, x0:x1][ring], axis=0).astype(int)
        key = tuple(int(c) // 6 for c in colour)
        if key not in cache and len(cache) >= _MAX_COLOURS:  # a photo or a busy page, not a diagram
            free.append(t)
            continue
        if key not in cache:
            same = (np.abs(rgb.astype(int) - colour).max(axis=2) <= 18) | text
            n, labels = cv2.connectedComponents(same.astype(np.uint8), connectivity=4)
            cache[key] = (labels, n)
        labels, _ = cache[key]
        ids = labels[y0:y1, x0:x1][ring]
        ids = ids[ids > 0]
        if not len(ids):
            free.append(t)
            continue
        lab = int(np.bincount(ids).argmax())
        region = labels == lab
        ys, xs = np.nonzero(region)
        touches = xs.min() == 0 or ys.min() == 0 or xs.max() == w - 1 or ys.max() == h - 1
        if touches or region.sum() > 0.4 * h * w:
            free.append(t)
            continue
        k = hash((key, lab))
        nodes.setdefault(k, []).append(t)
        masks[k] = region
    out, inside = [], np.zeros((h, w), dtype=bool)
    for k, ts in nodes.items():
        ys, xs = np.nonzero(masks[k])
        name = " ".join(" ".join(u.text for u in row) for row in text_rows(ts))
        out.append(Node(name, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())), len(ts)))
        inside |= masks[k]
    return out, inside, free


def _near(node: Node, x: float, y: float) -> float:
    x0, y0, x1, y1 = node.box
    dx = max(x0 - x, 0, x - x1)
    dy = max(y0 - y, 0, y - y1)
    return float(np.hypot(dx, dy))


def _graph(rgb, text, nodes, inside, free, bg) -> list[Edge]:
    import cv2

    ink = np.abs(rgb.astype(int) - bg).sum(axis=2) > 90
    grown = cv2.dilate(inside.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0  # the boxes' borders too
    stroke = ink & ~grown & ~_text_mask(rgb.shape, free, 1)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(stroke.astype(np.uint8), connectivity=8)
    dist = cv2.distanceTransform(stroke.astype(np.uint8), cv2.DIST_L2, 3)
    half = float(np.percentile(dist[stroke], 75)) if stroke.any() else 1.0
    k = max(4, int(2 * round(half) + 2))
    # arrowheads: what is thicker than the lines, looked for before the boxes' borders are taken away
    # (a head's tip reaches into the border), in strokes outside the boxes and the text
    body = (ink & ~inside & ~text).astype(np.uint8)
    heads_mask = cv2.morphologyEx(body, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    hn, hlabels, hstats, hcent = cv2.connectedComponentsWithStats(heads_mask, connectivity=8)
    head_at = [(float(hcent[h][0]), float(hcent[h][1])) for h in range(1, hn) if hstats[h, cv2.CC_STAT_AREA] >= 4]
    big = [c for c in range(1, n) if stats[c, cv2.CC_STAT_AREA] >= 15]
    if len(big) > _MAX_STROKES or len(head_at) > _MAX_STROKES // 4:  # texture or a photo, not connectors
        return []
    reach = k + 6
    strokes_at = []  # the strokes within reach of each head
    for hx, hy in head_at:
        win = labels[max(0, int(hy) - reach) : int(hy) + reach + 1, max(0, int(hx) - reach) : int(hx) + reach + 1]
        strokes_at.append(set(np.unique(win).tolist()) - {0})
    edges: list[Edge] = []
    comps: list[tuple[np.ndarray, list[Edge]]] = []
    for c in big:
        x, y, bw, bh = (int(v) for v in stats[c, :4])
        ys, xs = np.nonzero(labels[y : y + bh, x : x + bw] == c)
        ys, xs = ys + y, xs + x
        touched = [nd for nd in nodes if _touches(nd, xs, ys)]
        heads = [(hx, hy) for (hx, hy), near in zip(head_at, strokes_at, strict=True)
                 if c in near and float(np.min(np.hypot(xs - hx, ys - hy))) <= reach]  # fmt: skip
        targets, sources = [], []
        for hx, hy in heads:
            far = int(np.argmax((xs - hx) ** 2 + (ys - hy) ** 2))
            tail = (float(xs[far]), float(ys[far]))
            u = np.array([hx - tail[0], hy - tail[1]])
            u = u / (np.linalg.norm(u) or 1.0)
            best = _ahead(nodes, (hx, hy), u, touched, 25 + k)
            if best is not None and best not in targets:
                targets.append(best)
            if not [nd for nd in touched if nd is not best]:  # an arrow standing free: it starts at its tail
                src = _ahead(nodes, tail, -u, [], 0)
                if src is not None and src is not best and src not in sources:
                    sources.append(src)
        made: list[Edge] = []
        if targets:
            sources = [nd for nd in touched if nd not in targets] or sources
            made = [Edge(s.name, t.name, "arrow") for s in sources for t in targets]
        elif len(touched) >= 2:
            top = min(touched, key=lambda nd: nd.box[1])
            below = [nd for nd in touched if nd is not top and nd.box[1] >= top.box[3] - 2]
            made = [Edge(top.name, b.name, "line") for b in below]
        if made:
            comps.append((np.stack([xs, ys], axis=1), made))
            edges += made
    for t in free:  # short free text next to a connector is its label
        if len(t.text) > 24 or len(t.text.split()) > 3 or not comps:
            continue
        cx, cy = t.x + t.w / 2, t.y + t.h / 2
        d = [float(np.min(np.hypot(p[:, 0] - cx, p[:, 1] - cy))) for p, _ in comps]
        j = int(np.argmin(d))
        if d[j] <= 30 + max(t.w, t.h) / 2:
            for e in comps[j][1]:
                e.label = e.label or t.text
    return edges


def _ahead(nodes: list[Node], at, u, touched: list[Node], reach: float, free_reach: float = 120) -> Node | None:
    """The box an arrow's end points at: a touched box within ``reach``, else the nearest box in
    front of the end (in the direction ``u``) within ``free_reach``."""
    near = [nd for nd in touched if _near(nd, *at) <= reach]
    if near:
        return min(near, key=lambda nd: _near(nd, *at))
    ahead = [nd for nd in nodes if np.dot(np.array(nd.centre) - np.array(at), u) > 0 and _near(nd, *at) <= free_reach]
    return min(ahead, key=lambda nd: _near(nd, *at)) if ahead else None


def _touches(nd: Node, xs: np.ndarray, ys: np.ndarray, reach: int = 9) -> bool:
    x0, y0, x1, y1 = nd.box
    return bool(np.any((xs >= x0 - reach) & (xs <= x1 + reach) & (ys >= y0 - reach) & (ys <= y1 + reach)))


def _timeline(free) -> list[tuple[str, str]]:
    years = [t for t in free if _YEAR.match(t.text.strip())]
    if len(years) < 3:
        return []
    ys = sorted(t.y + t.h / 2 for t in years)
    mid = ys[len(years) // 2]
    row = sorted([t for t in years if abs(t.y + t.h / 2 - mid) <= 15], key=lambda t: t.x)
    if len(row) < 3:
        return []
    gaps = [b.x - a.x for a, b in zip(row, row[1:], strict=False)]
    spacing = sorted(gaps)[len(gaps) // 2]
    others = [t for t in free if t not in years and not _YEAR.match(t.text.strip())]
    out = []
    for yr in row:
        cx, cy = yr.x + yr.w / 2, yr.y + yr.h / 2
        near = [t for t in others if abs(t.x + t.w / 2 - cx) <= 0.45 * spacing and abs(t.y + t.h / 2 - cy) <= 90]
        if near:
            ev = min(near, key=lambda t: abs(t.y + t.h / 2 - cy))
            out.append((yr.text.strip(), ev.text))
    return out if len(out) >= 3 else []


def _layers(nodes: list[Node], width: int) -> list[Node]:
    bands = [n for n in nodes if n.box[2] - n.box[0] >= 0.5 * width and n.pieces <= 2]  # a table's row has cells
    if len(bands) < 3 or len(bands) < len(nodes):
        return []
    bands.sort(key=lambda n: n.box[1])
    for a, b in zip(bands, bands[1:], strict=False):
        if b.box[1] - a.box[3] > 8 or abs(a.box[0] - b.box[0]) > 12:
            return []
    return bands


def read_diagram(image, lines) -> Diagram | None:
    """The diagram's graph, timeline or layers, or ``None`` when the image holds none of them."""
    rgb = np.asarray(image.image.convert("RGB"))
    lines = [t for t in lines if t.text.strip()]
    if len(lines) < 3:
        return None
    text = _text_mask(rgb.shape, lines)
    bg = _background(rgb)
    nodes, inside, free = _regions(rgb, text, lines)
    events = _timeline(free)
    if events and len(nodes) < 2:
        return Diagram("timeline", [], events=events)
    bands = _layers(nodes, image.width)
    if bands:
        return Diagram("layers", bands)
    if len(nodes) < 2:
        return None
    edges = _graph(rgb, text, nodes, inside, free, bg)
    if not edges:
        return None
    seen = set()
    unique = []
    for e in edges:
        if (e.source, e.target) not in seen and e.source != e.target:
            seen.add((e.source, e.target))
            unique.append(e)
    return Diagram("graph", nodes, unique)


# -- what the text model gets ----------------------------------------------------------------------
def diagram_used(d: dict) -> set[str]:
    """The OCR text this diagram already holds (its nodes, labels and events)."""
    out = set(d["nodes"]) | {e["label"] for e in d["edges"] if e["label"]}
    for y, ev in d["events"]:
        out |= {y, ev}
    return out


def diagram_text(d: dict) -> str:
    if d["kind"] == "timeline":
        return "Timeline read from the image (year: the event written at it):\n" + "\n".join(
            f"- {y}: {ev}" for y, ev in d["events"]
        )
    if d["kind"] == "layers":
        return "Layers read from the image, from top to bottom: " + " / ".join(d["nodes"]) + "."
    out = ["Diagram read as a graph (boxes, and the arrows or lines joining them):"]
    out.append("Boxes: " + "; ".join(d["nodes"]) + ".")
    for e in d["edges"]:
        label = f" [{e['label']}]" if e["label"] else ""
        if e["how"] == "arrow":
            out.append(f"- arrow{label}: {e['from']} → {e['to']}")
        else:
            out.append(f"- line{label}: {e['from']} (above) — {e['to']} (below)")
    return "\n".join(out)


def _children(d: dict, name: str) -> list[str]:
    return [e["to"] for e in d["edges"] if e["from"] == name]


def diagram_facts(d: dict) -> list[str]:
    """Facts that do not depend on the question (the graph's text lists every arrow already)."""
    if d["kind"] != "graph":
        return []
    out = []
    lines = [e for e in d["edges"] if e["how"] == "line"]
    for parent in dict.fromkeys(e["from"] for e in lines):
        kids = [e["to"] for e in lines if e["from"] == parent]
        out.append(f"{parent} is the box directly above, joined by lines to: {', '.join(kids)} "
                   f"(in an organisation chart, {parent} is their direct manager)")  # fmt: skip
    return out


_AFTER = re.compile(r"\b(after|next|follows?|following (?:step|stage)|then)\b|之后|以后|下一", re.I)
_BEFORE = re.compile(r"\b(before|precedes?|preceding|previous)\b|之前|以前|上一", re.I)
_ABOVE = re.compile(r"\b(above|over|manager|boss|reports? to|supervisor|head of)\b|上方|上面|上级|领导", re.I)
_BELOW = re.compile(r"\b(below|beneath|under(?:neath)?|subordinates?|direct reports)\b|下方|下面|下属", re.I)


def _mentions(name: str, q: str) -> int:
    k = loose_key(name)
    return loose_key(q).find(k) if k else -1


_ANSWERS = {"yes": "yes", "no": "no", "是": "yes", "否": "no", "true": "yes", "false": "no"}


def diagram_question_facts(d: dict, question: str) -> list[str]:
    out: list[str] = []
    named = sorted([n for n in d["nodes"] if _mentions(n, question) >= 0], key=lambda n: _mentions(n, question))
    for y, ev in d["events"]:
        if y in question or y.rstrip("年") in question:
            out.append(f"the event at {y}: {ev}")
    after, before = _AFTER.search(question), _BEFORE.search(question)
    above, below = _ABOVE.search(question), _BELOW.search(question)
    if d["kind"] == "layers":  # the one the question asks for: above, below, or both
        order = d["nodes"]
        for n in named[:1]:
            i = order.index(n)
            if i + 1 < len(order) and (below or not above):
                out.append(f"the layer directly below {n}: {order[i + 1]}")
            if i > 0 and (above or not below):
                out.append(f"the layer directly above {n}: {order[i - 1]}")
        return out
    for n in named:
        ins = [e for e in d["edges"] if e["to"] == n]
        outs = [e for e in d["edges"] if e["from"] == n]
        for e in ins:
            if e["how"] == "line" and not (below and not above):
                out.append(f"the box directly above {n}, joined to it by a line: {e['from']} ({n}'s direct manager)")
            elif e["how"] == "arrow" and (before or not after):
                out.append(f"the arrow into {n} comes from: {e['from']}")
        if outs and all(e["how"] == "arrow" for e in outs) and (after or not before):
            out.append(f"the arrow(s) out of {n} lead to: " + ", ".join(
                e["to"] + (f" (answer {e['label']})" if e["label"] else "") for e in outs))  # fmt: skip
    path = _follow(d, question, named)
    if path:  # the question gives the answers: where they lead is what it asks, not each box's arrows
        return [f"the event at {y}: {ev}" for y, ev in d["events"] if y in question] + [
            "following the question's answers: " + path
        ]
    return out


def _answer_after(name: str, question: str) -> str:
    """The answer the question gives to a decision box ("... “Paid?” is Yes ..."), if any."""
    q = loose_key(question)
    at = q.find(loose_key(name))
    if at < 0:
        return ""
    rest = re.sub(r"^(的)?(回答|答案)(是|为)", "", q[at + len(loose_key(name)) : at + len(loose_key(name)) + 20])
    hits = [(rest.find(w), a) for w, a in _ANSWERS.items() if rest.find(w) >= 0]
    return min(hits)[1] if hits else ""


def _follow(d: dict, question: str, named: list[str]) -> str:
    """Walk a flowchart from the first decision the question answers, taking the edge labelled
    with its answer at each decision, until a box with no way out."""
    start = next((n for n in named if _answer_after(n, question)), None)
    if not start:
        return ""
    steps, node, seen = [start], start, {start}
    while True:
        outs = [e for e in d["edges"] if e["from"] == node and e["how"] == "arrow"]
        if not outs:
            break
        ans = _answer_after(node, question)
        pick = [e for e in outs if _ANSWERS.get(e["label"].strip().lower()) == ans] if ans else outs
        if len(pick) != 1:
            if ans:
                return ""  # the question answers this decision, but no branch says so
            if len(outs) > 1:
                break
            pick = outs
        e = pick[0]
        steps.append(f"—{e['label']}→ {e['to']}" if e["label"] else f"→ {e['to']}")
        node = e["to"]
        if node in seen:
            break
        seen.add(node)
    if len(steps) < 2:
        return ""
    return " ".join(steps) + f"; the outcome is {node}"
