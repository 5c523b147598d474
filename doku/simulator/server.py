"""The simulator's threaded front end: ``ThreadingHTTPServer``, a thread per connection.

Stdlib only, HTTP/1.1 keep-alive, answering with `doku.simulator.handler`. Each
response is written with ONE ``sendall`` of headers + body and the handler sets
TCP_NODELAY; without that, http.server's two writes meet Nagle's algorithm and the
client's delayed ACK and every answer waits about 40 ms.

The event-loop front end (`doku.simulator.loop_server`) answers the same bytes with
far less CPU per request; this one stays for callers that want plain threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from doku.simulator.handler import SimulatorHandler
from doku.simulator.state import _State

logger = logging.getLogger(__name__)

# 256+ bulk workers connect at once: a short backlog overflows and each overflow costs
# the client a 1 s SYN retransmit (the kernel caps this at net.core.somaxconn).
LISTEN_BACKLOG = 1024


class ThreadedServer(ThreadingHTTPServer):
    daemon_threads = True
    # Never join handler threads on close: an idle keep-alive connection would block it.
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, SimulatorHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def stop_serving(self) -> None:
        """Stop listening (waits for serve_forever to return) and wake every handler."""
        self.shutdown()
        self.server_close()
        self.close_connections()

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # socketserver's signature; which request failed does not matter here.
    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away: nothing to report
            return
        logger.error("simulator handler failed", exc_info=True)
