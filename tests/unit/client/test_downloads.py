"""A download that breaks off leaves nothing at the caller's path; one that ends lands whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from distillery.client import AsyncClient, Client, ServerUnreachable

KEY = "dk_" + "k" * 43


class _Dropped(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body whose connection drops after its first chunk."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"messages": []}\n'
        raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"messages": []}\n'
        raise httpx.ReadError("connection reset")


def _export(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("drop"):
        return httpx.Response(200, stream=_Dropped())
    return httpx.Response(200, content=b'{"messages": []}\n' * 3)


def test_a_dropped_download_leaves_no_file_and_a_whole_one_replaces_the_old(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "train.jsonl"
    with Client("http://distillery.test", KEY, transport=httpx.MockTransport(_export)) as client:
        with pytest.raises(ServerUnreachable, match="cannot reach http://distillery.test"):
            client.download_dataset("ds_1", dest, drop=True)
        assert list(dest.parent.iterdir()) == []

        dest.write_text("an older download\n")
        client.download_dataset("ds_1", dest)
        assert dest.read_bytes() == b'{"messages": []}\n' * 3
        with pytest.raises(ServerUnreachable):
            client.download_dataset("ds_1", dest, drop=True)
        assert dest.read_bytes() == b'{"messages": []}\n' * 3
        assert [p.name for p in dest.parent.iterdir()] == ["train.jsonl"]


def test_the_async_client_keeps_a_dropped_download_out_of_the_path_too(tmp_path: Path) -> None:
    dest = tmp_path / "train.jsonl"

    async def main() -> None:
        async with AsyncClient("http://distillery.test", KEY, transport=httpx.MockTransport(_export)) as client:
            with pytest.raises(ServerUnreachable):
                await client.download_dataset("ds_1", dest, drop=True)
            assert list(tmp_path.iterdir()) == []
            await client.download_dataset("ds_1", dest)

    asyncio.run(main())
    assert dest.read_bytes() == b'{"messages": []}\n' * 3
