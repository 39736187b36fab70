"""Request body size limit, enforced while the body is read (oversized → 413)."""

from __future__ import annotations

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
