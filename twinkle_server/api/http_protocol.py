"""uvicorn's HTTP/1.1 protocol, answering an oversized request head with a readable 431.

uvicorn answers a request whose head (request line and headers) outgrows h11's buffer with a
plain-text 400 and closes at once; the client, still writing its header, gets a connection reset
and never reads the answer. This protocol reads the rest of the head (up to ``HEAD_DRAIN_BYTES``)
and then answers ``431 Request Header Fields Too Large`` in the API's error schema, with an
``X-Request-Id``. Every other request is served exactly as uvicorn serves it.

Example::

    uvicorn.Config(app, http=TwinkleH11Protocol, h11_max_incomplete_event_size=MAX_HEAD_BYTES)
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from twinkle_server.api.errors import REQUEST_ID_HEADER, error_body
from twinkle_server.api.middleware import new_request_id

__all__ = ["HEAD_DRAIN_BYTES", "MAX_HEAD_BYTES", "TwinkleH11Protocol"]

MAX_HEAD_BYTES = 64 * 1024  # a request head larger than this is refused with 431
HEAD_DRAIN_BYTES = 4 * 1024 * 1024  # how much of a refused head is read before answering
_END_OF_HEAD = b"\r\n\r\n"


class TwinkleH11Protocol(H11Protocol):
    _head_refused = False
    _head_seen = 0
    _head_tail = b""

    def send_400_response(self, msg: str) -> None:
        buffered = self.conn.trailing_data[0]
        if len(buffered) <= self.conn._max_incomplete_event_size or self._head_refused:
            super().send_400_response(msg)
            return
        self._head_refused = True  # the head overflowed: read its end, then answer 431
        self._head_seen = len(buffered)
        self._consume_head(b"", buffered[-3:], check=buffered)

    def data_received(self, data: bytes) -> None:
        if self._head_refused:
            self._consume_head(data, self._head_tail + data, check=self._head_tail + data)
            return
        super().data_received(data)

    def _consume_head(self, data: bytes, tail: bytes, *, check: bytes) -> None:
        self._head_seen += len(data)
        self._head_tail = tail[-3:]
        if _END_OF_HEAD in check or self._head_seen > HEAD_DRAIN_BYTES:
            self._answer_431()

    def _answer_431(self) -> None:
        if self.transport.is_closing():
            return
        request_id = new_request_id()
        message = (
            f"the request's headers are over this server's limit of {self.conn._max_incomplete_event_size} "
            "bytes; send shorter headers (large data belongs in the body)"
        )
        details: dict[str, Any] = {"max_header_bytes": self.conn._max_incomplete_event_size}
        payload = json.dumps(error_body("request_header_fields_too_large", message, details, request_id))
        body = payload.encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"{REQUEST_ID_HEADER.lower()}: {request_id}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
