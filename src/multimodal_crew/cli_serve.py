"""``mmcrew serve``: the HTTP API and the web page, on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress

import typer

from .cli_console import err
from .errors import InputError

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on; anything but loopback needs a token"),
    port: int = typer.Option(8765, min=1, max=65535),
    token: str = typer.Option("", help="every request must carry it (default: MMCREW_SERVER_TOKEN)"),
    warm: bool = typer.Option(True, help="load the model and the retriever before the first request"),
) -> None:
    """Serve every flow over HTTP (OpenAPI docs at /docs) and the web page at /."""
    import uvicorn

    from .serve.app import create_app
    from .settings import get_settings

    s = get_settings()
    token = token or s.server_token
    if not is_loopback(host) and not token:
        raise InputError(f"--host {host} is reachable from other machines: give --token (or MMCREW_SERVER_TOKEN)")
    if token and len(token) < 16:
        raise InputError("the token must be at least 16 characters")
    model = retriever = None
    if warm:
        from .knowledge.retrieval import get_retriever
        from .models.runtime import get_runtime

        with err.status("loading the model and the retriever …"):
            model, retriever = get_runtime(s), get_retriever(s)
            model.check()  # the embedded model loads and answers once; a model server is reached
            retriever.embedder.embed(["warm up"])
    hosts = {host, "127.0.0.1", "localhost", "::1", "[::1]"} if is_loopback(host) else {host}
    if host in ("0.0.0.0", "::"):  # every interface: the machine's names are not known here; the token guards it
        hosts = {"*"}
    app = create_app(s, token=token or None, model=model, retriever=retriever, hosts=tuple(sorted(hosts)))
    err.print(f"serving on http://{host}:{port}/ (API docs: /docs); Ctrl-C stops", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
