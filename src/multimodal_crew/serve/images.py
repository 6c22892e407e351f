"""Images over HTTP.

* ``POST /see`` (multipart ``image``, ``question``, ``choices``..., ``mode``, ``context``) -> 202 {run, events},
  a ``see`` run queued like any other.
* ``POST /images`` (multipart ``image``) -> 201 {image, sha256, format, bytes}: the image kept for a later run;
  ``image``/``images`` inputs of ``POST /runs`` (the router, a plan) may name only such images.

The image is checked by the function ``see`` uses (``load_image``) and kept under
``outputs/uploads/<sha256>.<format>`` (the same image is one file), never in the knowledge folder.
At most 20 MiB per request, counted while it streams in.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import InputError
from ..hashing import file_sha256
from .app import server_of
from .documents import _OVERHEAD, RunQueued, _copy, _form, _multipart, clean_name

__all__ = ["router"]

router = APIRouter()


_IMAGE = {
    "image": {"type": "string", "format": "binary"},
    "question": {"type": "string"},
    "choices": {"type": "array", "items": {"type": "string"}, "description": "answer options (repeat the field)"},
    "mode": {"type": "string", "enum": ["two_stage", "single"]},
    "context": {"type": "string"},
}


@router.post("/see", response_model=RunQueued, status_code=202, tags=["images"],
             openapi_extra=_multipart(_IMAGE, ["image", "question"]))  # fmt: skip
async def see_image(request: Request) -> RunQueued:
    """Check an uploaded image as ``see`` does, keep it under outputs/uploads/, and queue a ``see`` run."""
    server = server_of(request)

    def fields(form: Any) -> dict:
        return {
            "question": str(form.get("question", "")),
            "choices": [str(c) for c in form.getlist("choices") if str(c).strip()],
            "mode": str(form.get("mode") or "two_stage"),
            "context": str(form.get("context", "")),
        }

    path, created, inputs = await _received(request, fields)
    try:
        run_id = server.manager.submit("see", {"image": str(path), **inputs})
    except BaseException:
        if created:
            path.unlink(missing_ok=True)
        raise
    return RunQueued(run=run_id, events=f"/runs/{run_id}/events")


class ImageKept(BaseModel):
    image: str = Field(..., description="the path to give as `image` (or in `images`) of POST /runs")
    sha256: str
    format: str
    bytes: int


@router.post("/images", response_model=ImageKept, status_code=201, tags=["images"],
             openapi_extra=_multipart({"image": _IMAGE["image"]}, ["image"]))  # fmt: skip
async def keep_image(request: Request) -> ImageKept:
    """Check an uploaded image as ``see`` does and keep it under outputs/uploads/ for a later run (the router's or
    a plan's ``image``); the same image is kept once."""
    path, _, _ = await _received(request, lambda form: {})
    fmt = path.suffix.lstrip(".")
    return ImageKept(image=str(path), sha256=file_sha256(path), format=fmt, bytes=path.stat().st_size)


async def _received(request: Request, fields: Any) -> tuple[Path, bool, dict]:
    """The multipart ``image`` checked and kept (its path, whether this upload created the file) and
    ``fields(form)``, the request's other fields, read before the form is closed."""
    from ..vision.images import MAX_BYTES

    server = server_of(request)
    form = await _form(request, MAX_BYTES + _OVERHEAD, f"the image limit ({MAX_BYTES / 2**20:.0f} MiB)")
    try:
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise InputError("no image in the upload: send it as a form field named `image`")
        path, created = await run_in_threadpool(_save_image, server.settings, image)
        return path, created, fields(form)
    finally:
        await form.close()


def _save_image(settings: Any, upload: UploadFile) -> tuple[Path, bool]:
    """The checked image under ``outputs/uploads/<sha256>.<format>`` (the same image: the same file), and
    whether this upload created it. Never in the knowledge folder."""
    from ..vision.images import ImageError, load_image

    folder = settings.outputs_path / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".upload-{uuid.uuid4().hex}"
    try:
        _copy(upload, tmp)
        try:
            fmt = load_image(tmp).format
        except ImageError as e:
            try:
                shown = clean_name(upload.filename)
            except InputError:
                shown = "the uploaded file"
            raise InputError(str(e).replace(str(tmp), shown)) from None
        final = folder / f"{file_sha256(tmp)[:32]}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
        created = not final.exists()
        os.replace(tmp, final)
        return final, created
    finally:
        tmp.unlink(missing_ok=True)
