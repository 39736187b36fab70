"""Request body limits, enforced while the body is read: size (oversized → 413) and time
(a stalled or crawling body → 408)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: refuse bodies over `max_bytes`, declared (Content-Length) or streamed.

    A streamed body that passes the limit is answered with 413 at once; the app then
    sees the client as disconnected, and whatever it answers is dropped. `per_path`
    raises the limit for the paths that take files (dataset uploads), `per_pattern` for
    paths with an id in them (a run's predict).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None,
        per_pattern: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:  # fmt: skip
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})
        self.per_pattern = tuple(per_pattern)

    def _limit(self, path: str) -> int:
        if path in self.per_path:
            return self.per_path[path]
        return next((limit for pattern, limit in self.per_pattern if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        seen, refused = 0, False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                if not refused:
                    refused = True
                    await self._refuse(send, limit)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send, limit: int) -> None:
        detail = [{"loc": ["body"], "msg": f"request body larger than {limit} bytes", "type": "body_too_large"}]
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class BodyTimeout:
    """ASGI middleware: cut a request body that stalls (`idle_s` without a chunk) or crawls
    (still arriving after `total_s`), answering 408.

    A slow client otherwise holds a connection, a worker thread and a half-written upload
    for ever. The app then sees the client as disconnected (an upload being read is dropped
    with its temporary file) and whatever it answers is dropped.
    """

    def __init__(self, app: ASGIApp, idle_s: float, total_s: float) -> None:
        self.app = app
        self.idle_s = idle_s
        self.total_s = total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_s
        body_done, timed_out, answered = False, False, False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()  # the body is in: waiting for a disconnect is not a stall
            try:
                message = await asyncio.wait_for(receive(), timeout=max(min(self.idle_s, deadline - loop.time()), 0))
            except TimeoutError:
                timed_out = True
                if not answered:
                    await _send_json(send, 408, "request body not received in time")
                return {"type": "http.disconnect"}
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if timed_out:
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, timed_receive, guarded_send)


async def _send_json(send: Send, status: int, msg: str) -> None:
    body = json.dumps({"detail": [{"loc": ["body"], "msg": msg, "type": "body_timeout"}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
