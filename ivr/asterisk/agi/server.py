"""Protocol layer: our FastAGI server. Asterisk connects here when a call is answered.

Dialplan ``AGI(agi://127.0.0.1:4573/survey,42)`` opens a TCP connection, sends the header
block and waits for commands. We read the headers (bounded in time and size), pick the
route by script name and hand an ``AGIChannel`` to it. Each connection runs in one guarded
coroutine, so a broken, slow or hostile client only ever costs its own connection.
panoramisk's server is not used: it spins forever on a connection that closes before the
end of the header block, freezing the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from ivr.asterisk.agi.channel import AGIChannel, run_handler
from ivr.asterisk.agi.protocol import MAX_LINE_BYTES, decode_line, parse_header_line
from ivr.asterisk.agi.roundtrip import RoundTrips
from ivr.errors import AGIProtocolError, ConfigError
from ivr.log import getLogger

log = getLogger(__name__)

Handler = Callable[[AGIChannel], Awaitable[None]]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class ServerStats:
    """Counters of what happened to connections, for health checks and tests."""

    accepted: int = 0  # passed the allow-list
    rejected_peer: int = 0  # not in the allow-list
    dropped: int = 0  # closed before the header block ended (port scan, health check)
    bad_headers: int = 0  # garbage, oversized, or an unknown script name
    timeouts: int = 0  # no complete header block within header_timeout
    completed: int = 0  # the flow returned normally
    hung_up: int = 0  # the flow ended with CallerHungUp
    errors: int = 0  # any other AGIError, or a bug in the flow


class FastAGIServer:
    """Serve FastAGI connections, one route per script name."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        allow: Sequence[str] = ("127.0.0.0/8", "::1/128"),
        header_timeout: float = 5.0,
        max_header_bytes: int = 16384,
        command_timeout: float = 3600.0,
        reuse_port: bool = False,
        round_trips: RoundTrips | None = None,
    ) -> None:
        self._routes = dict(routes)
        self._reuse_port = reuse_port  # several engines on one host share the port (SO_REUSEPORT)
        self._host = host
        self._port = port
        try:
            self._allow: list[_Network] = [ipaddress.ip_network(a) for a in allow]
        except ValueError as exc:
            raise ConfigError(f"FastAGI allow-list: {exc}") from exc
        self._header_timeout = header_timeout
        self._max_header_bytes = max_header_bytes
        self._command_timeout = command_timeout
        self.round_trips = round_trips  # quick-command round trips by peer (admission control)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = ServerStats()

    @property
    def port(self) -> int:
        """Return the bound port (the real one when started with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active(self) -> int:
        """Return the number of live connections."""
        return len(self._sessions)

    async def wait_idle(self) -> None:
        """Wait until no connection is live (e.g. to let calls finish before close())."""
        await self._idle.wait()

    async def start(self) -> None:
        """Start listening."""
        # limit bounds every line we read, headers and answers alike.
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._port, limit=MAX_LINE_BYTES,
            reuse_port=self._reuse_port or None,
        )
        log.info("FastAGI listening on %s:%d", self._host, self.port)

    async def __aenter__(self) -> FastAGIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop accepting, cancel the live sessions and wait for them to end."""
        if self._server is not None:
            self._server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._session(reader, writer))
        self._sessions.add(task)
        self._idle.clear()
        task.add_done_callback(self._session_done)

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        if not self._sessions:
            self._idle.set()

    def _allowed(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._allow)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Run one connection from accept to close. No Exception escapes it."""
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        try:
            if not self._allowed(peer):
                self.stats.rejected_peer += 1
                log.warning("FastAGI: refused connection from %s (not in allow-list)", peer)
                return
            self.stats.accepted += 1
            headers = await self._headers_or_none(reader, peer)
            if headers is not None:
                timing = (None if self.round_trips is None
                          else functools.partial(self.round_trips.record, peer))
                channel = AGIChannel(reader, writer, headers,
                                     command_timeout=self._command_timeout, round_trip=timing)
                await self._run_flow(channel, peer)
        except Exception:
            self.stats.errors += 1
            log.exception("FastAGI: connection from %s failed", peer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _headers_or_none(
        self, reader: asyncio.StreamReader, peer: str
    ) -> dict[str, str] | None:
        """Return the header block, or None (counted and logged) if there is none."""
        try:
            return await self._read_headers(reader)
        except TimeoutError:
            self.stats.timeouts += 1
            log.warning(
                "FastAGI: %s sent no complete header block in %.1f s; closing",
                peer,
                self._header_timeout,
            )
        except (asyncio.IncompleteReadError, ConnectionError):
            self.stats.dropped += 1
            log.debug("FastAGI: %s closed before the end of the headers", peer)
        except AGIProtocolError as exc:
            self.stats.bad_headers += 1
            log.warning("FastAGI: bad headers from %s: %s", peer, exc)
        return None

    async def _run_flow(self, channel: AGIChannel, peer: str) -> None:
        """Call the route for the channel's script and count how it ended."""
        args = channel.args
        attempt = args[0] if args else "-"
        handler = self._routes.get(channel.script)
        if handler is None:
            self.stats.bad_headers += 1
            log.warning(
                "FastAGI: attempt %s: unknown script %r from %s", attempt, channel.script, peer
            )
            return
        log.debug("FastAGI: attempt %s: %s on %s", attempt, channel.script, channel.channel_name)
        ending = await run_handler(channel, handler, transport="FastAGI", log=log)
        if ending == "completed":
            self.stats.completed += 1
        elif ending == "hung_up":
            self.stats.hung_up += 1
        else:
            self.stats.errors += 1

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        """Read the header block up to its blank line, within the time and size limits."""
        headers: dict[str, str] = {}
        size = 0
        async with asyncio.timeout(self._header_timeout):
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError as exc:
                    raise AGIProtocolError(f"header line over {MAX_LINE_BYTES} bytes") from exc
                size += len(raw)
                if size > self._max_header_bytes:
                    raise AGIProtocolError(f"header block over {self._max_header_bytes} bytes")
                line = decode_line(raw)
                if not line:
                    if not headers:
                        raise AGIProtocolError("empty header block")
                    return headers
                name, value = parse_header_line(line)
                headers[name] = value
