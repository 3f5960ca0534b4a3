"""uvicorn's httptools protocol, except that a request it cannot parse is answered with a problem document.

uvicorn answers such a request itself, before the app sees it, with a plain-text 400: a header value holding a
control character or bytes that are not text, a request line or headers over httptools' limits. Every other error
of the API is application/problem+json; this one is too."""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MALFORMED_DETAIL = ("the HTTP request cannot be read: a header holds a control character (CR, LF, NUL, ...) or bytes "
                    "that are not text, or the request line or headers are too long")


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps({"type": "about:blank", "title": "Bad request", "status": 400,
                             "detail": MALFORMED_DETAIL})
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/problem+json\r\n",
                        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                        b"connection: close\r\n", b"\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
