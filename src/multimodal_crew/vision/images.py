"""Load an image only after checking it.

The type is decided by the content (Pillow's decoders), never by the extension;
size limits guard against decompression bombs; EXIF rotation is applied; a
truncated file is detected by decoding it fully. Every refusal is an
``ImageError`` (a ``UserError``) whose message names the file and the reason.

>>> load_image("chart.png")            # doctest: +SKIP
CheckedImage(path='chart.png', format='PNG', width=640, height=480)
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserError

__all__ = ["ImageError", "CheckedImage", "load_image", "MAX_BYTES", "MAX_PIXELS", "MIN_SIDE", "FORMATS"]

MAX_BYTES = 20 * 2**20  # 20 MiB
MAX_PIXELS = 40_000_000  # 40 megapixels
MIN_SIDE = 8  # pixels: smaller images carry nothing to read
FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"}
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|data:image/)")  # http://, https://, file://, data: URIs


class ImageError(UserError):
    """An image that cannot or must not be used."""


@dataclass
class CheckedImage:
    path: str
    format: str
    width: int
    height: int
    image: Image.Image = field(repr=False)

    def png_bytes(self, max_side: int | None = None) -> bytes:
        img = self.image
        if max_side and max(img.size) > max_side:
            img = img.copy()
            img.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def data_uri(self, max_side: int | None = 1536) -> str:
        """The image as a base64 PNG data URI, the form vision models over HTTP accept."""
        return "data:image/png;base64," + base64.b64encode(self.png_bytes(max_side)).decode("ascii")


def load_image(path: str | Path, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> CheckedImage:
    shown = str(path)  # messages name the image as the user wrote it: Path() folds "http://h" into "http:/h"
    if _URL.match(shown.strip()):
        shown = shown.strip() if len(shown.strip()) <= 200 else shown.strip()[:199] + "…"
        raise ImageError(f"image {shown} is a URL; URLs are not supported: download the image and give its local path")
    p = Path(path)
    if not p.exists():
        raise ImageError(f"image {shown} does not exist")
    if p.is_dir():
        raise ImageError(f"{shown} is a directory, not an image")
    size = p.stat().st_size
    if size == 0:
        raise ImageError(f"image {shown} is empty")
    if size > max_bytes:
        raise ImageError(f"image {shown} is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as probe:
                fmt = probe.format or "?"
                w, h = probe.size
                if w * h > max_pixels:
                    raise ImageError(f"image {shown} has {w}x{h} pixels, over the {max_pixels:,}-pixel limit")
                if fmt not in FORMATS:
                    raise ImageError(f"{shown} is a {fmt} image; supported: {', '.join(sorted(FORMATS))}")
                probe.load()  # decode fully: a truncated file fails here
                img = ImageOps.exif_transpose(probe).convert("RGB")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{shown} is not an image (its content matches no image format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"image {shown} has too many pixels to decode safely (decompression-bomb pixel limit)"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"image {shown} is corrupt or truncated ({e})") from None
    if min(img.size) < MIN_SIDE:
        raise ImageError(f"image {shown} is {img.size[0]}x{img.size[1]} pixels; at least {MIN_SIDE} per side is needed")
    return CheckedImage(str(p), fmt, img.size[0], img.size[1], img)
