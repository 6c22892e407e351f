"""The web page: ``GET /`` and its few static files, all from this package (no CDN, no build step).

The page (``static/index.html`` + ``app.js`` + ``app.css``) is a small client of the HTTP API on the
same origin: it asks questions, streams a run's progress with ``EventSource``, shows answers with
numbered citations and, on a click, the cited page image with the quote highlighted.

Only the files that are in ``static/`` when the module is imported are served, by name: a request
names one of them or gets 404, so no URL reaches any other server path. The page is sent with a
Content-Security-Policy that allows scripts, styles, images and connections from this origin only
(the page's own defence against injected HTML, and a guarantee that it calls nothing else).

A server started with a token: open ``/?token=<token>`` once. The token guard has already checked
it; the page keeps it (sessionStorage) for its API calls, and this route also sets it as an
HttpOnly ``mmcrew_token`` cookie, which is what ``EventSource`` and the static files can carry.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

__all__ = ["STATIC", "router"]

STATIC = Path(__file__).resolve().parent / "static"
_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file() and not p.name.startswith(".")} if STATIC.is_dir() else {}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def page(request: Request) -> Response:
    """The single page. With ``?token=``, the (already checked) token is also set as a cookie."""
    response = _file("index.html")
    token = request.query_params.get("token", "")
    if token and getattr(request.app.state.server, "token", None):
        response.set_cookie("mmcrew_token", token, httponly=True, samesite="strict", path="/")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """One of the page's own files, by name (nothing else: no folders, no other paths)."""
    return _file(name)


@router.get("/favicon.ico")
def favicon() -> Response:
    return _file("icon.svg")


def _file(name: str) -> Response:
    path = _FILES.get(name)
    if path is None:
        return JSONResponse({"error": f"no such file: {name[:80]}"}, status_code=404)
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
        media += "; charset=utf-8"
    return FileResponse(path, media_type=media, headers=_HEADERS)
