"""A bare HTTP/1.1 keep-alive connection on asyncio streams: the cheapest client there is,
so that on a 2-core machine a load generator's own CPU is not what the figures measure."""

from __future__ import annotations

import asyncio


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        """Send one request, read the whole response; its status code."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            if "content-length" in headers:
                await reader.readexactly(int(headers["content-length"]))
            else:  # chunked
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            if headers.get("connection", "").lower() == "close":
                self.close()
        except (OSError, asyncio.IncompleteReadError):
            self.close()
            raise
        return int(lines[0].split()[1])

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
