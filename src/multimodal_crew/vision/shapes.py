"""Flat-colour drawn scenes read by measurement: each shape's kind, colour, box and centre.

1. The scene must be flat: most pixels sit in a patch of one colour (3x3 range small), and a few
   colours cover nearly all of those. Photos, gradients, charts with axes and text-heavy images
   give ``None`` (many small text-like parts, long thin lines, a frame around other parts).
2. Each flat colour but the background (the colour of the border) is split into connected parts;
   tiny parts (text, specks) and thin ones (outlines, lines) are not shapes.
3. Parts of one colour cut in two by a shape on top are joined again when the gap between them
   is covered by that shape.
4. Each part is classified from its outline: a circle when a fitted circle explains the outline,
   else a polygon from the vertex count of its approximation (triangle ... hexagon; four corners
   are a square, rectangle or diamond from the minimum-area rectangle), a star from its five deep
   concavities. Where another shape covers part of it, only the uncovered edges are used: their
   lines are extended and intersected to complete the polygon.
5. One region that is two shapes of the same colour overlapping is cut along its deepest
   concavities and the pieces classified; this is an estimate and is said so in ``uncertain``.

>>> s = read_shapes(load_image("scene.png"))            # doctest: +SKIP
>>> s.as_dict()["shapes"][0]                            # doctest: +SKIP
{'kind': 'circle', 'colour': 'red', 'x': 40, 'y': 52, 'w': 101, 'h': 100, 'cx': 90, 'cy': 102, 'area': 7850}
>>> shape_facts(s.as_dict(), "Which object is directly above the green square?")[0]  # doctest: +SKIP
'directly above the green square (centre 300,400): the red circle (centre 305,210), 190 px higher'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .reading import colour_name

__all__ = ["Shape", "Shapes", "read_shapes", "shape_facts"]

MAX_SIDE = 1000  # larger images are measured at this size, coordinates scaled back
FLAT_RANGE = 24  # a pixel is flat when its 3x3 neighbourhood varies less than this per channel
MERGE_DIST = 40.0  # colours closer than this (RGB distance) are one colour
MAX_COLOURS = 16


@dataclass
class Shape:
    kind: str  # circle, oval, square, rectangle, diamond, triangle, pentagon, hexagon, octagon, star, shape
    colour: str  # reading.colour_name of its mean colour
    x: int
    y: int
    w: int
    h: int
    cx: int
    cy: int
    area: int  # visible pixels
    covered: bool = False  # partly covered by another shape

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "colour": self.colour,
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "cx": self.cx,
            "cy": self.cy,
            "area": self.area,
        }


@dataclass
class Shapes:
    width: int
    height: int
    shapes: list[Shape]
    uncertain: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "type": "shapes",
            "width": self.width,
            "height": self.height,
            "shapes": [s.as_dict() for s in self.shapes],
            "uncertain": list(self.uncertain),
        }


# ---------------------------------------------------------------- segmentation


def _palette(rgb: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The scene's colours (k x 3) and the share of flat pixels each covers, or None if not flat."""
    px = rgb[flat].astype(np.int32)
    if len(px) < 100:
        return None
    bins = (px[:, 0] >> 4) * 256 + (px[:, 1] >> 4) * 16 + (px[:, 2] >> 4)
    counts = np.bincount(bins, minlength=4096)
    sums = np.stack([np.bincount(bins, weights=px[:, c], minlength=4096) for c in range(3)], 1)
    order = np.argsort(-counts)
    centres: list[np.ndarray] = []
    weights: list[float] = []
    min_px = max(20, 0.0002 * len(px))
    for b in order:
        n = counts[b]
        if n < min_px:
            break
        c = sums[b] / n
        for i, o in enumerate(centres):
            if np.linalg.norm(o - c) < MERGE_DIST:
                centres[i] = (o * weights[i] + c * n) / (weights[i] + n)
                weights[i] += n
                break
        else:
            centres.append(c)
            weights.append(float(n))
    covered = sum(weights) / len(px)
    if covered < 0.96 or len(centres) > MAX_COLOURS:
        return None
    return np.array(centres), np.array(weights) / len(px)


def _flat_mask(rgb: np.ndarray, cv2) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    rng = np.zeros(rgb.shape[:2], np.int16)
    for c in range(3):
        ch = np.ascontiguousarray(rgb[:, :, c])
        rng = np.maximum(rng, cv2.dilate(ch, k).astype(np.int16) - cv2.erode(ch, k).astype(np.int16))
    return rng < FLAT_RANGE


@dataclass
class _Part:
    colour: int
    mask: np.ndarray  # bool, full image
    area: int
    box: tuple[int, int, int, int]  # x, y, w, h
    rgb: np.ndarray


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


# ---------------------------------------------------------------- classification


def _fit_circle(pts: np.ndarray) -> tuple[float, float, float, float] | None:
    """Algebraic least-squares circle: (cx, cy, r, rms residual / r)."""
    if len(pts) < 8:
        return None
    x, y = pts[:, 0].astype(float), pts[:, 1].astype(float)
    a = np.stack([x, y, np.ones_like(x)], 1)
    b = x * x + y * y
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    r2 = sol[2] + cx * cx + cy * cy
    if r2 <= 0:
        return None
    r = math.sqrt(r2)
    res = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r
    return cx, cy, r, float(np.sqrt(np.mean(res**2)) / r)


def _quad_kind(poly: np.ndarray, cv2) -> str:
    (_, _), (rw, rh), angle = cv2.minAreaRect(poly.astype(np.float32))
    area = abs(cv2.contourArea(poly.astype(np.float32)))
    if rw * rh <= 0:
        return "shape"
    fill = area / (rw * rh)
    if fill > 0.85:
        tilt = abs(((angle % 90) + 90) % 90 - 45)  # 0 when turned 45 degrees
        aspect = max(rw, rh) / min(rw, rh)
        if aspect < 1.18:
            return "diamond" if tilt < 15 else "square"
        return "rectangle"
    # not a rectangle: a rhombus (diamond) has its corners on the middles of its box's sides
    x, y, w, h = cv2.boundingRect(poly.astype(np.int32))
    mids = np.array([[x + w / 2, y], [x + w, y + h / 2], [x + w / 2, y + h], [x, y + h / 2]])
    d = [min(np.linalg.norm(p - m) for p in poly) for m in mids]
    if max(d) < 0.15 * max(w, h):
        return "diamond"
    return "quadrilateral"


_BY_VERTICES = {3: "triangle", 5: "pentagon", 6: "hexagon", 8: "octagon"}


def _classify_full(cnt: np.ndarray, cv2) -> tuple[str, float]:
    """Kind of a complete outline (N x 2 int points), and a confidence in 0..1."""
    area = cv2.contourArea(cnt)
    hull = cv2.convexHull(cnt)
    hull_area = cv2.contourArea(hull)
    if hull_area <= 0 or area <= 0:
        return "shape", 0.0
    solidity = area / hull_area
    per = cv2.arcLength(hull, True)
    if solidity < 0.8:
        approx = cv2.approxPolyDP(cnt, 0.02 * cv2.arcLength(cnt, True), True)
        deep = _deep_defects(cnt, cv2, 0.12)
        if 0.3 < solidity < 0.8 and len(deep) == 5 and 8 <= len(approx) <= 12:
            return "star", 0.9
        if 0.3 < solidity < 0.8 and len(deep) in (4, 6) and 8 <= len(approx) <= 14:
            return "star", 0.6
        return "shape", 0.0
    if solidity < 0.97 and len(_deep_defects(cnt, cv2, 0.05)) >= 2:
        return "shape", 0.0  # notched on two sides: overlapping shapes, not one convex shape
    fit = _fit_circle(cnt.reshape(-1, 2))
    approx = cv2.approxPolyDP(hull, 0.02 * per, True).reshape(-1, 2)
    n = len(approx)
    if fit and fit[3] < 0.04 and not (n == 8 and fit[3] > 0.022):
        (_, _), (rw, rh), _ = cv2.minAreaRect(cnt)
        return ("oval" if max(rw, rh) > 1.25 * min(rw, rh) else "circle"), 0.9 if fit[3] < 0.03 else 0.7
    if n > 8:  # rounded: refit coarser
        approx = cv2.approxPolyDP(hull, 0.03 * per, True).reshape(-1, 2)
        n = len(approx)
    if n == 4:
        return _quad_kind(approx, cv2), 0.9 if solidity > 0.95 else 0.6
    if n in _BY_VERTICES:
        return _BY_VERTICES[n], 0.9 if solidity > 0.95 else 0.6
    if fit and fit[3] < 0.05:
        return "circle", 0.6
    return "shape", 0.2


def _deep_defects(cnt: np.ndarray, cv2, rel: float) -> list[tuple[int, float]]:
    """Convexity defects deeper than rel x sqrt(area): (contour index of the far point, depth px)."""
    try:
        hull_idx = cv2.convexHull(cnt, returnPoints=False)
        if hull_idx is None or len(hull_idx) < 3:
            return []
        defects = cv2.convexityDefects(cnt, hull_idx)
    except cv2.error:
        return []
    if defects is None:
        return []
    scale = math.sqrt(max(cv2.contourArea(cnt), 1.0))
    return [(int(f), d / 256.0) for _, _, f, d in defects.reshape(-1, 4) if d / 256.0 > max(3.0, rel * scale)]


def _line(p: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A total-least-squares line through points: (point, unit direction)."""
    if len(p) < 2:
        return None
    m = p.mean(0)
    _, _, vt = np.linalg.svd(p - m)
    return m, vt[0]


def _meet(a, b) -> np.ndarray | None:
    (p, u), (q, v) = a, b
    den = u[0] * v[1] - u[1] * v[0]
    if abs(den) < 1e-6:
        return None
    t = ((q[0] - p[0]) * v[1] - (q[1] - p[1]) * v[0]) / den
    return p + t * u


def _complete(cnt: np.ndarray, free: np.ndarray, cv2) -> tuple[str, np.ndarray | None, float]:
    """Kind of a partly covered outline from its uncovered points; the completed outline if found."""
    pts = cnt.reshape(-1, 2)
    if free.mean() < 0.25:
        return "shape", None, 0.0
    fit = _fit_circle(pts[free])
    if fit and fit[3] < 0.03:
        cx, cy, r, _ = fit
        box = pts.max(0) - pts.min(0)
        if 2 * r < 1.6 * max(box):  # a circle near the size of what is visible
            t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            circle = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.int32)
            return "circle", circle, 0.7
    approx_idx = cv2.approxPolyDP(cnt, 0.02 * cv2.arcLength(cnt, True), True).reshape(-1, 2)
    # indices of the approximation's vertices on the contour
    idx = [int(np.argmin(((pts - v) ** 2).sum(1))) for v in approx_idx]
    idx = sorted(set(idx))
    if len(idx) < 3:
        return "shape", None, 0.0
    edges = []  # (line, free?) in order round the outline
    for k, i in enumerate(idx):
        j = idx[(k + 1) % len(idx)]
        seg = np.arange(i, j + 1) if j > i else np.concatenate([np.arange(i, len(pts)), np.arange(0, j + 1)])
        if len(seg) < 4:
            continue
        core = seg[len(seg) // 5 : len(seg) - len(seg) // 5] if len(seg) > 10 else seg
        is_free = free[core].mean() > 0.7
        ln = _line(pts[core].astype(float))
        if ln:
            p0, u = ln
            if np.dot(u, pts[seg[-1]] - pts[seg[0]]) < 0:
                u = -u
            edges.append(((p0, u), is_free))
    turns = []  # turning angles between neighbouring uncovered edges: 360/n for a regular n-gon
    for k in range(len(edges)):
        (_, u), fa = edges[k - 1]
        (_, v), fb = edges[k]
        if fa and fb:
            t = math.degrees(math.acos(max(-1.0, min(1.0, float(np.dot(u, v))))))
            if t > 12:
                turns.append(t)
    lines = []
    for ln, is_free in edges:
        if not is_free:
            continue
        if lines:
            u, v = lines[-1][1], ln[1]
            if abs(u[0] * v[1] - u[1] * v[0]) < 0.2:  # nearly parallel neighbours: one edge
                continue
        lines.append(ln)
    if len(lines) > 2:
        u, v = lines[-1][1], lines[0][1]
        if abs(u[0] * v[1] - u[1] * v[0]) < 0.2:
            lines.pop()
    if len(lines) < 3:
        return "shape", None, 0.0
    corners = [_meet(lines[k - 1], lines[k]) for k in range(len(lines))]
    if any(c is None for c in corners):
        return "shape", None, 0.0
    poly = np.array(corners)
    lo, hi = pts.min(0), pts.max(0)
    span = max(hi - lo)
    if (poly < lo - span).any() or (poly > hi + span).any():
        return "shape", None, 0.0
    poly_i = poly.round().astype(np.int32).reshape(-1, 1, 2)
    if cv2.contourArea(poly_i) < 0.9 * cv2.contourArea(cnt):
        return "shape", None, 0.0
    kind, conf = _classify_full(poly_i, cv2)
    if (
        len(turns) >= 2
        and max(turns) - min(turns) < 15
        and kind in ("triangle", "pentagon", "hexagon", "quadrilateral")
    ):
        n_est = round(360 / (sum(turns) / len(turns)))
        if n_est in (3, 5, 6):
            kind = _BY_VERTICES[n_est]  # a hidden corner or edge changed the count; the angles did not
    return kind, poly_i, conf * 0.8


# ---------------------------------------------------------------- the reader


def read_shapes(image) -> Shapes | None:
    """The shapes of a flat-colour drawn scene (``image``: a ``CheckedImage``), or ``None``."""
    try:
        import cv2  # installed with rapidocr-onnxruntime (opencv-python)
    except ImportError:  # pragma: no cover
        return None
    img = image.image.convert("RGB")
    scale = 1.0
    if max(img.size) > MAX_SIDE:
        scale = max(img.size) / MAX_SIDE
        img = img.resize((round(img.size[0] / scale), round(img.size[1] / scale)))
    rgb = np.asarray(img)
    H, W = rgb.shape[:2]
    n_px = H * W
    flat = _flat_mask(rgb, cv2)
    if flat.mean() < 0.75:
        return None
    pal = _palette(rgb, flat)
    if pal is None:
        return None
    centres, shares = pal
    dist = np.stack([np.linalg.norm(rgb.astype(np.float32) - c.astype(np.float32), axis=2) for c in centres], 2)
    label = np.argmin(dist, 2)
    label[(dist.min(2) > MERGE_DIST) | ~flat] = -1
    border = np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]])
    border = border[border >= 0]
    if len(border) == 0:
        return None
    bg = int(np.bincount(border).argmax())
    if np.mean(border == bg) < 0.6:
        return None  # no plain background round the edge
    min_area = max(60, 0.00025 * n_px)
    parts: list[_Part] = []
    for c in range(len(centres)):
        if c == bg:
            continue
        m = (label == c).astype(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        for i in range(1, n):
            x, y, w, h, a = (int(v) for v in stats[i])
            if a < min_area:
                continue
            pm = lab[y : y + h, x : x + w] == i
            inner = cv2.distanceTransform(np.pad(pm, 1).astype(np.uint8), cv2.DIST_L2, 3).max()
            if inner < max(2.5, 0.015 * min(H, W)) or (a < 0.15 * w * h and inner < 6):
                continue  # thin: an outline, a line or a letter, judged below with the rest of the ink
            full = np.zeros((H, W), bool)
            full[y : y + h, x : x + w] = pm
            parts.append(_Part(c, full, a, (x, y, w, h), centres[c]))
    if not parts or len(parts) > 60:
        return None
    if _not_a_scene(rgb, centres[bg], parts, min_area, cv2):
        return None
    # a part covering most of the picture is a panel behind the scene
    parts = [p for p in parts if not (p.box[2] > 0.9 * W and p.box[3] > 0.9 * H)]
    owner = np.full((H, W), -1, np.int32)
    for i, p in enumerate(parts):
        owner[p.mask] = i
    parts = _rejoin(parts, owner, cv2)
    owner[:] = -1
    for i, p in enumerate(parts):
        owner[p.mask] = i
    shapes: list[Shape] = []
    notes: list[str] = []
    unknown = 0
    for i, p in enumerate(parts):
        got = _read_part(i, p, owner, cv2, notes, scale)
        for s in got:
            if s.kind in ("shape", "quadrilateral") and not s.covered:
                unknown += 1
        shapes.extend(got)
    if not shapes:
        return None
    if unknown >= 3 and unknown > 0.4 * len(shapes):
        return None  # mostly irregular parts: letters, icons, a photo-like drawing
    shapes.sort(key=lambda s: (s.cy, s.cx))
    out_w, out_h = image.width, image.height
    return Shapes(out_w, out_h, shapes, notes)


def _not_a_scene(rgb: np.ndarray, bg_rgb: np.ndarray, parts: list[_Part], min_area: float, cv2) -> bool:
    """True when the ink that is not a shape says chart, table, text or sign: axis or grid lines,
    a frame round the picture, many letters, or letters inside a big shape."""
    H, W = rgb.shape[:2]
    ink = (np.abs(rgb.astype(np.int16) - bg_rgb.astype(np.int16)).max(2) > 60).astype(np.uint8)
    solid = np.zeros((H, W), np.uint8)
    for p in parts:
        solid[p.mask] = 1
    solid = cv2.dilate(solid, np.ones((11, 11), np.uint8))  # with the shapes' outlines and edges
    rest = ink & (1 - solid)
    n, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    small = lines = frames = 0
    inside_big = 0
    bigs = [p.box for p in parts if p.area > 0.1 * H * W]
    for i in range(1, n):
        x, y, w, h, a = (int(v) for v in stats[i])
        if a < 4:
            continue
        if max(w, h) > 0.3 * min(H, W) and min(w, h) < max(3, 0.05 * max(w, h)):
            lines += 1  # an axis, a rule or a grid line
        elif w > 0.4 * W and h > 0.4 * H:
            frames += 1  # a frame round a plot or a table
        elif max(w, h) < 0.12 * min(H, W) or a < min_area:
            small += 1  # a letter, a digit, a tick, a speck
            if any(bx <= x and by <= y and x + w <= bx + bw and y + h <= by + bh for bx, by, bw, bh in bigs):
                inside_big += 1
    if lines >= 2 or frames:
        return True
    if inside_big >= 2:
        return True  # writing on a big shape: a sign, a badge, a button
    shapes = np.zeros((H, W), np.uint8)
    for p in parts:
        shapes[p.mask] = 1
    shapes = cv2.dilate(shapes, np.ones((5, 5), np.uint8))
    for p in parts:
        if p.area < 0.05 * H * W:
            continue
        x, y, w, h = p.box
        m = (p.mask[y : y + h, x : x + w] | (shapes[y : y + h, x : x + w] > 0)).astype(np.uint8)  # shapes on it fill it
        _, hier = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        holes = 0 if hier is None else int((hier[0][:, 3] >= 0).sum())
        if holes >= 2:
            return True  # letters cut out of a big shape: a sign
    return small > 25 or (small > 8 and small > 3 * len(parts))


def _rejoin(parts: list[_Part], owner: np.ndarray, cv2) -> list[_Part]:
    """Join parts of one colour that a shape on top cut in two (the gap between them is that shape)."""
    joined = True
    while joined:
        joined = False
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                a, b = parts[i], parts[j]
                if a.colour != b.colour:
                    continue
                ax, ay, aw, ah = a.box
                bx, by, bw, bh = b.box
                gap = max(bx - (ax + aw), ax - (bx + bw), by - (ay + ah), ay - (by + bh))
                if gap > 0.6 * max(aw, ah, bw, bh):
                    continue
                union = (a.mask | b.mask).astype(np.uint8)
                pts = cv2.findNonZero(union)
                hull = cv2.convexHull(pts)
                hm = np.zeros_like(union)
                cv2.fillConvexPoly(hm, hull, 1)
                between = (hm > 0) & ~(a.mask | b.mask)
                n = between.sum()
                if n == 0:
                    continue
                others = owner[between]
                covered = (others >= 0) & (others != i) & (others != j)
                if covered.mean() > 0.85:
                    m = a.mask | b.mask
                    parts[i] = _Part(a.colour, m, a.area + b.area, _box(m), a.rgb)
                    parts.pop(j)
                    owner[owner == j] = i
                    owner[owner > j] -= 1
                    joined = True
                    break
            if joined:
                break
    return parts


def _read_part(i: int, p: _Part, owner: np.ndarray, cv2, notes: list[str], scale: float) -> list[Shape]:
    H, W = owner.shape
    x, y, w, h = p.box
    pad = 6
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
    m = p.mask[y0:y1, x0:x1].astype(np.uint8)
    m = cv2.dilate(m, np.ones((3, 3), np.uint8))  # the edge pixels left out as not flat
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    others = ((owner[y0:y1, x0:x1] >= 0) & (owner[y0:y1, x0:x1] != i)).astype(np.uint8)
    others_near = cv2.dilate(others, np.ones((9, 9), np.uint8)) > 0
    cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cnts:
        return []
    cnt = max(cnts, key=cv2.contourArea)
    pts = cnt.reshape(-1, 2)
    touching_edge = (
        (pts[:, 0] + x0 <= 1) | (pts[:, 1] + y0 <= 1) | (pts[:, 0] + x0 >= W - 2) | (pts[:, 1] + y0 >= H - 2)
    )
    covered_pts = others_near[pts[:, 1], pts[:, 0]] | touching_edge
    colour = colour_name(p.rgb)
    area = int(p.area)

    def make(kind: str, outline: np.ndarray, covered: bool) -> Shape:
        bx, by, bw, bh = cv2.boundingRect(outline.astype(np.int32))
        bx, by = bx + x0, by + y0
        bx, by = max(0, bx), max(0, by)
        bw, bh = min(W - bx, bw), min(H - by, bh)
        k = scale
        return Shape(
            kind, colour, round(bx * k), round(by * k), round(bw * k), round(bh * k),
            round((bx + bw / 2) * k), round((by + bh / 2) * k), round(area * k * k), covered,
        )  # fmt: skip

    def split_up() -> list[Shape] | None:
        split = _split_same_colour(m, cnt, cv2)
        if not split:
            return None
        out = []
        for piece in split:
            pc, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            pc = max(pc, key=cv2.contourArea)
            xy = pc.reshape(-1, 2)
            rest_near = cv2.dilate(((m > 0) & (piece == 0)).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            free = ~rest_near[xy[:, 1], xy[:, 0]] & ~others_near[xy[:, 1], xy[:, 0]]
            k2, outline, _ = _complete(pc, free, cv2)
            out.append(make(k2, outline if outline is not None else pc, True))
        kinds = ", ".join(s.kind for s in out)
        notes.append(
            f"one {colour} region at ({out[0].x},{out[0].y}) looks like {len(out)} overlapping {colour} "
            f"shapes ({kinds}); split by its outline, so this count is an estimate"
        )
        return out

    if covered_pts.mean() < 0.04:
        kind, conf = _classify_full(cnt, cv2)
        if kind != "shape":
            return [make(kind, cnt, False)]
        out = split_up()
        if out:
            return out
        notes.append(f"a {colour} region at ({x},{y}) size {w}x{h} has no clear shape")
        return [make("shape", cnt, False)]
    kind, outline, conf = _complete(cnt, ~covered_pts, cv2)
    free_deep = [d for d in _deep_defects(cnt, cv2, 0.1) if not covered_pts[d[0]]]
    if len(free_deep) >= 2 and kind not in ("star",):
        out = split_up()  # concavities open to the background: two shapes of this colour overlap
        if out:
            return out
    if kind == "shape":
        k2, c2 = _classify_full(cnt, cv2)  # the visible part may still read as a shape
        if k2 != "shape" and c2 >= 0.6:
            return [make(k2, cnt, True)]
        notes.append(f"a {colour} shape at ({x},{y}) is partly covered; its kind is unclear")
        return [make("shape", cnt, True)]
    return [make(kind, outline, True)]


def _split_same_colour(m: np.ndarray, cnt: np.ndarray, cv2) -> list[np.ndarray] | None:
    """Cut a region that is several overlapping shapes of one colour along pairs of deep concavities."""
    pieces = [m.copy()]
    out: list[np.ndarray] = []
    for _ in range(6):
        if not pieces:
            break
        piece = pieces.pop()
        cs, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not cs:
            continue
        c = max(cs, key=cv2.contourArea)
        deep = _deep_defects(c, cv2, 0.05)
        if len(deep) < 2 or _classify_full(c, cv2)[0] != "shape":
            out.append(piece)
            continue
        pts = c.reshape(-1, 2)
        best = None
        for a in range(len(deep)):
            for b in range(a + 1, len(deep)):
                pa, pb = pts[deep[a][0]], pts[deep[b][0]]
                d = np.linalg.norm(pa - pb) / (deep[a][1] + deep[b][1])
                if best is None or d < best[0]:
                    best = (d, pa, pb)
        _, pa, pb = best
        cut = piece.copy()
        cv2.line(cut, tuple(int(v) for v in pa), tuple(int(v) for v in pb), 0, 2)
        n, lab = cv2.connectedComponents(cut, connectivity=4)
        got = [(lab == k).astype(np.uint8) for k in range(1, n) if (lab == k).sum() > 0.05 * piece.sum()]
        if len(got) < 2:
            out.append(piece)
            continue
        pieces.extend(got)
    out.extend(pieces)
    return out if len(out) >= 2 else None


# ---------------------------------------------------------------- facts

_KINDS = {
    "circle": r"circles?|rounds?|dots?|discs?",
    "oval": r"ovals?|ellipses?",
    "square": r"squares?",
    "rectangle": r"rectangles?|oblongs?",
    "triangle": r"triangles?",
    "diamond": r"diamonds?|rhombus(?:es)?|rhombi",
    "star": r"stars?",
    "hexagon": r"hexagons?",
    "pentagon": r"pentagons?",
    "octagon": r"octagons?",
}
_ZH_KINDS = {  # longer words first
    "rectangle": r"长方形|矩形",
    "square": r"正方形|方形|方块",
    "triangle": r"三角形|三角",
    "diamond": r"菱形",
    "star": r"五角星|星形|星星|星",
    "hexagon": r"六边形|六角形",
    "pentagon": r"五边形",
    "octagon": r"八边形",
    "oval": r"椭圆形|椭圆",
    "circle": r"圆形|圆圈|圆",
}
_COLOURS = [
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "grey",
    "black",
    "white",
    "cyan",
    "olive",
]
_ZH_COLOURS = {
    "红": "red",
    "橙": "orange",
    "橘": "orange",
    "黄": "yellow",
    "绿": "green",
    "蓝": "blue",
    "紫": "purple",
    "粉": "pink",
    "棕": "brown",
    "褐": "brown",
    "咖啡": "brown",
    "灰": "grey",
    "黑": "black",
    "白": "white",
    "青": "cyan",
}
_PLURAL = {"circle": "circles", "oval": "ovals", "square": "squares", "rectangle": "rectangles", "triangle": "triangles",
           "diamond": "diamonds", "star": "stars", "hexagon": "hexagons", "pentagon": "pentagons", "octagon": "octagons",
           "quadrilateral": "quadrilaterals", "shape": "unclear shapes"}  # fmt: skip
_CORNERS = {
    "top-left": (0, 0),
    "top-right": (1, 0),
    "bottom-left": (0, 1),
    "bottom-right": (1, 1),
}
_CORNER_EN = re.compile(r"\b(top|upper|bottom|lower)[\s-]*(left|right)\b", re.I)
_CORNER_ZH = re.compile(r"(左上|右上|左下|右下)")


def _base(colour: str) -> str:
    return colour.replace("light ", "").replace("dark ", "")


def _name(s: dict) -> str:
    return f"{s['colour']} {s['kind']}" if s["kind"] != "shape" else f"{s['colour']} shape"


def _at(s: dict) -> str:
    return f"the {_name(s)} (centre {s['cx']},{s['cy']})"


def _mentions(question: str) -> list[tuple[int, str | None, str | None]]:
    """Shapes the question names, in order: (position, colour or None, kind or None)."""
    found: list[tuple[int, str | None, str | None]] = []
    cw = "|".join(_COLOURS + ["gray"])
    kw = "|".join(_KINDS.values())
    for m in re.finditer(rf"\b(?:(?:light|dark)\s+)?({cw})?\s*(?:-?coloured\s+|-?colored\s+)?({kw})\b", question, re.I):
        colour = (m.group(1) or "").lower().replace("gray", "grey") or None
        kind = next(k for k, pat in _KINDS.items() if re.fullmatch(pat, m.group(2), re.I))
        found.append((m.start(), colour, kind))
    for m in re.finditer(rf"\b({cw})\s+(?:ones?|objects?|shapes?|things?|items?)\b", question, re.I):
        found.append((m.start(), m.group(1).lower().replace("gray", "grey"), None))
    zk = "|".join(_ZH_KINDS.values())
    zc = "|".join(_ZH_COLOURS)
    for m in re.finditer(rf"({zc})?色?的?({zk})", question):
        colour = _ZH_COLOURS.get(m.group(1)) if m.group(1) else None
        kind = next(k for k, pat in _ZH_KINDS.items() if re.fullmatch(pat, m.group(2)))
        found.append((m.start(), colour, kind))
    for m in re.finditer(rf"({zc})色的?(?:形状|图形|物体|东西)", question):
        found.append((m.start(), _ZH_COLOURS[m.group(1)], None))
    found.sort()
    return found


def _match(shapes: list[dict], colour: str | None, kind: str | None) -> list[dict]:
    return [
        s
        for s in shapes
        if (colour is None or _base(s["colour"]) == colour or s["colour"] == colour)
        and (kind is None or s["kind"] == kind or (kind == "circle" and s["kind"] == "oval"))
    ]


def _direction_words(dx: float, dy: float) -> tuple[str, str]:
    """(detailed wording, short wording) of an offset in image coordinates (y grows downwards)."""
    h = "to the left of" if dx < 0 else "to the right of"
    v = "above" if dy < 0 else "below"
    ax, ay = abs(dx), abs(dy)
    if ax < 1 and ay < 1:
        return "at the same place as", "at the same place as"
    if ax >= 2 * ay:
        detail = h if ay < 0.15 * ax else f"{h} and slightly {v}"
        return detail, h
    if ay >= 2 * ax:
        detail = v if ax < 0.15 * ay else f"{v} and slightly {h}"
        return detail, v
    return f"{v} and {h}", f"{v} and {h}"


def _directly(shapes: list[dict], t: dict, way: str) -> list[tuple[float, dict]]:
    out = []
    for s in shapes:
        if s is t:
            continue
        if way in ("left", "right"):
            along, across = s["cx"] - t["cx"], abs(s["cy"] - t["cy"])
            reach = (t["h"] + s["h"]) / 2 * 0.8
        else:
            along, across = s["cy"] - t["cy"], abs(s["cx"] - t["cx"])
            reach = (t["w"] + s["w"]) / 2 * 0.8
        if way in ("above", "left"):
            along = -along
        if along > 0 and across < reach:
            out.append((along + 2 * across, s))
    out.sort(key=lambda p: p[0])
    return out


_WAYS = [
    ("above", re.compile(r"\b(above|on top of|over|higher than)\b|上方|上面|上边|之上", re.I)),
    ("below", re.compile(r"\b(below|under|underneath|beneath|lower than)\b|下方|下面|下边|之下", re.I)),
    ("left", re.compile(r"\bleft (?:of|side of)\b|\bon the left\b|\bto the left\b|左边|左侧|左方|左面", re.I)),
    ("right", re.compile(r"\bright (?:of|side of)\b|\bon the right\b|\bto the right\b|右边|右侧|右方|右面", re.I)),
]
_NEAREST = re.compile(r"\b(closest|nearest|next to|near|beside)\b|最近|离.*近|旁边|挨着", re.I)
_FARTHEST = re.compile(r"\b(farthest|furthest)\b|最远", re.I)
_RELATIVE = re.compile(
    r"\bwhere is\b|\brelative to\b|\bcompared (?:with|to)\b|\bposition of\b|\bin which direction\b|什么位置|哪个方向|相对|哪边",
    re.I,
)
_COUNTING = re.compile(r"\bhow many\b|\bcount\b|\bnumber of\b|几个|几只|多少", re.I)
_WAY_WORD = {
    "above": "directly above",
    "below": "directly below",
    "left": "directly left of",
    "right": "directly right of",
}


def shape_facts(d: dict, question: str = "") -> list[str]:
    """Facts about a read scene (``Shapes.as_dict()``) for a question: the facts the question asks
    for first (what is above/below/left/right of, nearest to, where one named shape is relative to
    another, nearest a corner), then counts by kind, by colour and by colour and kind, then the list.

    Every fact names the measured centres (x right, y down, in pixels) so it can be checked.
    """
    shapes = d.get("shapes", [])
    W, H = d.get("width", 0), d.get("height", 0)
    out: list[str] = []
    named = _mentions(question)
    targets = []
    for _, colour, kind in named:
        ms = _match(shapes, colour, kind)
        if ms and (colour or kind):
            targets.append((colour, kind, ms))
    q = question
    corner = None
    m = _CORNER_EN.search(q)
    if m:
        corner = f"{'top' if m.group(1).lower() in ('top', 'upper') else 'bottom'}-{m.group(2).lower()}"
    m = _CORNER_ZH.search(q)
    if m:
        corner = {"左上": "top-left", "右上": "top-right", "左下": "bottom-left", "右下": "bottom-right"}[m.group(1)]
    if corner and W and H and shapes:
        fx, fy = _CORNERS[corner]
        pt = (fx * W, fy * H)
        ds = sorted(((math.dist((s["cx"], s["cy"]), pt), k) for k, s in enumerate(shapes)))
        best = shapes[ds[0][1]]
        line = f"nearest the {corner} corner ({pt[0]:.0f},{pt[1]:.0f}): {_at(best)}, {ds[0][0]:.0f} px away"
        if len(ds) > 1:
            line += f"; next: {_at(shapes[ds[1][1]])}, {ds[1][0]:.0f} px"
        out.append(line)
    if _COUNTING.search(q) and named:
        for _, colour, kind in named[:2]:
            ms = _match(shapes, colour, kind)
            what = f"{colour + ' ' if colour else ''}{_PLURAL.get(kind, 'shapes') if kind else 'shapes'}"
            where = "; ".join(f"{s['cx']},{s['cy']}" for s in ms[:12])
            out.append(f"{what}: {len(ms)}" + (f" (centres {where})" if ms else ""))
        targets = []
    if _RELATIVE.search(q) and len(targets) >= 2 and not corner:
        a, b = targets[0][2][0], targets[1][2][0]
        if a is not b:
            dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
            detail, short = _direction_words(dx, dy)
            out.append(
                f"{_at(a)} is {detail} {_at(b)} (dx {dx:+d}, dy {dy:+d} px; y grows downwards); in short: {short}"
            )
    elif targets and not corner:
        t = targets[0][2][0]
        tname = _at(t)
        if len(targets[0][2]) > 1:
            out.append(f"{len(targets[0][2])} shapes match '{_name(t)}'; using the first, {tname}")
        done = False
        for way, pat in _WAYS:
            if pat.search(q):
                hits = _directly(shapes, t, way)
                if hits:
                    s = hits[0][1]
                    gap = abs(s["cy"] - t["cy"]) if way in ("above", "below") else abs(s["cx"] - t["cx"])
                    line = f"{_WAY_WORD[way]} {tname}: {_at(s)}, {gap} px away"
                    if len(hits) > 1:
                        line += "; further on that side: " + ", ".join(_at(h) for _, h in hits[1:3])
                    out.append(line)
                else:
                    out.append(f"nothing is {_WAY_WORD[way]} {tname}")
                done = True
                break
        if not done and (_NEAREST.search(q) or _FARTHEST.search(q)):
            far = bool(_FARTHEST.search(q))
            ds = sorted(
                ((math.dist((s["cx"], s["cy"]), (t["cx"], t["cy"])), k) for k, s in enumerate(shapes) if s is not t)
            )
            if far:
                ds = ds[::-1]
            if ds:
                word = "farthest from" if far else "nearest to"
                line = f"{word} {tname}: {_at(shapes[ds[0][1]])}, {ds[0][0]:.0f} px between centres"
                if len(ds) > 1:
                    line += f"; next: {_at(shapes[ds[1][1]])}, {ds[1][0]:.0f} px"
                out.append(line)
    out.extend(_counts(shapes))
    for note in d.get("uncertain", []):
        out.append(f"uncertain: {note}")
    return out


def _counts(shapes: list[dict]) -> list[str]:
    out = [f"shapes found: {len(shapes)}"]
    kinds: dict[str, list[dict]] = {}
    colours: dict[str, list[dict]] = {}
    for s in shapes:
        kinds.setdefault(s["kind"], []).append(s)
        colours.setdefault(_base(s["colour"]), []).append(s)

    def tally(items: list[dict], key) -> str:
        c: dict[str, int] = {}
        for s in items:
            c[key(s)] = c.get(key(s), 0) + 1
        return ", ".join(f"{n} {k}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    for k, items in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out.append(f"{_PLURAL.get(k, k + 's')}: {len(items)} ({tally(items, lambda s: s['colour'])})")
    for c, items in sorted(colours.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out.append(f"{c} shapes: {len(items)} ({tally(items, lambda s: s['kind'])})")
    listing = "; ".join(f"{_name(s)} at {s['cx']},{s['cy']} (box {s['w']}x{s['h']})" for s in shapes[:16])
    out.append(f"each shape, top to bottom (centre x,y): {listing}" + (" ..." if len(shapes) > 16 else ""))
    return out
