"""uvicorn's httptools HTTP/1.1 protocol, with a limit on the request head and a readable 431.

uvicorn's httptools protocol parses in C (llhttp), which measured a keyed training call 14% faster
than its pure-Python h11 protocol (``benchmarks/server_latency.py``, in turns), but it sets no
limit on a request's head: a client could stream headers without end into memory. This protocol
counts each head's bytes (request line and headers) as they arrive. Past ``MAX_HEAD_BYTES`` it
stops parsing, reads on to the end of the head (up to ``HEAD_DRAIN_BYTES``, so that a client still
writing its header is not reset before it reads the answer), then answers
``431 Request Header Fields Too Large`` in the API's error schema, with an ``X-Request-Id``, and
closes. Every other request is served exactly as uvicorn serves it.

Example::

    uvicorn.Config(app, http=TwinkleHttpToolsProtocol)
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from twinkle_server.api.errors import REQUEST_ID_HEADER, error_body
from twinkle_server.api.middleware import new_request_id

__all__ = ["HEAD_DRAIN_BYTES", "MAX_HEAD_BYTES", "TwinkleHttpToolsProtocol"]

MAX_HEAD_BYTES = 64 * 1024  # a request head larger than this is refused with 431
HEAD_DRAIN_BYTES = 4 * 1024 * 1024  # how much of a refused head is read before answering
_END_OF_HEAD = b"\r\n\r\n"


class TwinkleHttpToolsProtocol(HttpToolsProtocol):
    _in_head = True  # the bytes arriving belong to a request's head
    _head_seen = 0  # bytes of that head so far
    _head_tail = b""  # its last bytes, for an end of head split across reads
    _head_refused = False

    def data_received(self, data: bytes) -> None:
        if self._head_refused:
            self._drain(data)
            return
        if self._in_head:
            window = self._head_tail + data
            end = window.find(_END_OF_HEAD)
            self._head_seen += len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._head_tail)
            self._head_tail = window[-(len(_END_OF_HEAD) - 1) :]
            if self._head_seen > MAX_HEAD_BYTES:
                self._head_refused = True
                if end >= 0:
                    self._answer_431()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_seen, self._head_tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what follows on this connection is the next request's head

    def _drain(self, data: bytes) -> None:
        """Read a refused head on to its end (or ``HEAD_DRAIN_BYTES``), then answer 431."""
        self._head_seen += len(data)
        window = self._head_tail + data
        self._head_tail = window[-(len(_END_OF_HEAD) - 1) :]
        if _END_OF_HEAD in window or self._head_seen > HEAD_DRAIN_BYTES:
            self._answer_431()

    def _answer_431(self) -> None:
        if self.transport.is_closing():
            return
        request_id = new_request_id()
        message = (
            f"the request's headers are over this server's limit of {MAX_HEAD_BYTES} bytes; send "
            "shorter headers (large data belongs in the body)"
        )
        details: dict[str, Any] = {"max_header_bytes": MAX_HEAD_BYTES}
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
