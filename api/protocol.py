"""The HTTP protocol `python -m recsys serve` runs: uvicorn's, with TCP_NODELAY on every connection.

With `--workers N` uvicorn binds the listening socket itself without naming the protocol, so
asyncio does not turn Nagle's algorithm off on the connections it accepts (it does so only for
sockets whose protocol is TCP by name): a response written as headers, then body, waited for the
client's delayed ACK, 40 ms a request (measured: 44 ms per request on a keep-alive connection with
two workers, 0.3-0.4 ms with one)."""
from __future__ import annotations

import socket

try:  # uvicorn's faster parser when it is installed (uvicorn[standard]); else the pure-Python one
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base


class NoDelayHTTP(_Base):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # a socket that cannot: Nagle stays on, nothing else changes
                pass
        super().connection_made(transport)
