"""A plain WSGI application for the gateway's slow-client tests (tests/it/slow_clients.rs),
served by gunicorn with two sync workers: each worker serves one request at a time, so a
proxy that lets slow clients hold them blocks everyone else.

- ``GET /``: ``ok``.
- ``GET /big``: 32 MiB with ``Content-Length``, written in 64 KiB pieces.
- ``POST /echo``: the length of the request body, read completely.
- ``GET /sse``: ``text/event-stream``; one event, then after 4 s a second one, then the end.
- ``GET /nobuf``: the same as ``text/plain`` marked ``X-Accel-Buffering: no``.
"""

import time

BIG = 32 * 1024 * 1024
PIECE = b"x" * 65536


def _text(start_response, body):
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _events():
    yield b"data: 1\n\n"
    time.sleep(4)
    yield b"data: 2\n\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/big":
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(BIG)),
            ],
        )
        return (PIECE for _ in range(BIG // len(PIECE)))
    if path == "/echo":
        stream = environ["wsgi.input"]
        n = 0
        while True:
            piece = stream.read(65536)
            if not piece:
                break
            n += len(piece)
        return _text(start_response, str(n).encode())
    if path == "/sse":
        start_response(
            "200 OK",
            [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
        )
        return _events()
    if path == "/nobuf":
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")],
        )
        return _events()
    return _text(start_response, b"ok")
