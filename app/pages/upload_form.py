"""The upload form's multipart body, read as it arrives, so that its `name` can be refused
before the archive is.

The form puts `name` before `file`; `read_upload_form` calls `on_name` the moment that field
is complete. If `on_name` raises, reading stops there: the answer goes out at once and the
rest of the archive is neither read nor stored (uvicorn discards a body left unread once the
response is sent). Starlette's `request.form()` would first spool the whole body.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO

from fastapi import Request
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from app.services.errors import InvalidInput

SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # past this the archive goes to a temporary file, as Starlette's does
MAX_FIELD_BYTES = 64 * 1024  # any part but the file is a short text field
FILE_FIELD = "file"


@dataclass
class UploadForm:
    """The fields as text and the archive, spooled (at position 0 once the body is read)."""

    fields: dict[str, str]
    file: IO[bytes]


@dataclass
class _Parts:
    """python-multipart's callbacks: which part is being read, its text, and the parts completed."""

    file: IO[bytes]
    fields: dict[str, bytearray] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    current: str | None = None
    _header: tuple[bytearray, bytearray] = field(default_factory=lambda: (bytearray(), bytearray()))

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_part_data": self._data, "on_part_end": self._end,
        }  # fmt: skip

    def _begin(self) -> None:
        self.current = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0].extend(data[start:end])

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1].extend(data[start:end])

    def _header_end(self) -> None:
        name, value = self._header
        if bytes(name).lower() == b"content-disposition":
            self.current = parse_options_header(bytes(value))[1].get(b"name", b"").decode("latin-1")
            self.fields.setdefault(self.current, bytearray())
        name.clear()
        value.clear()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.current == FILE_FIELD:
            self.file.write(data[start:end])
        elif self.current is not None:
            text = self.fields[self.current]
            text.extend(data[start:end])
            if len(text) > MAX_FIELD_BYTES:
                raise InvalidInput.at(("body", self.current), f"longer than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if self.current is not None:
            self.completed.append(self.current)


async def read_upload_form(request: Request, *, on_name: Callable[[str], Awaitable[None]]) -> UploadForm:
    """Read the multipart body, calling `on_name(name)` as soon as the `name` field is complete.

    Raises:
        InvalidInput: the body is not a multipart form (loc `body`), a text field is too long,
            or whatever `on_name` raises (the body is then left unread).
    """
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInput.at(("body",), "send the form as multipart/form-data")
    parts = _Parts(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES))  # noqa: SIM115 (the caller closes it)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            while parts.completed:
                if parts.completed.pop(0) == "name":
                    await on_name(parts.fields["name"].decode("utf-8", "replace"))
        parser.finalize()
    except MultipartParseError as error:
        parts.file.close()
        raise InvalidInput.at(("body",), f"the form could not be read: {error}") from None
    except BaseException:
        parts.file.close()
        raise
    parts.file.seek(0)
    return UploadForm({k: v.decode("utf-8", "replace") for k, v in parts.fields.items() if k != FILE_FIELD}, parts.file)
