"""The embedded mode's dashboard sessions: one file each, gone when dropped or expired."""

from __future__ import annotations

import stat
import time

from distillery.ui.session_store import FileSessions


def test_a_session_is_found_until_dropped_and_its_file_names_no_session_id(tmp_path):
    store = FileSessions(tmp_path / "sessions")
    store.put("sid-1", "sealed-key", ttl_s=60)
    assert store.get("sid-1") == "sealed-key" and store.get("sid-2") is None
    (path,) = (tmp_path / "sessions").iterdir()
    assert "sid-1" not in path.name and stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process (another `serve` worker) sees it through the same directory.
    assert FileSessions(tmp_path / "sessions").get("sid-1") == "sealed-key"
    store.drop("sid-1")
    assert store.get("sid-1") is None
    store.drop("sid-1")  # dropping twice is no error


def test_an_expired_session_is_not_found_and_is_swept_at_the_next_sign_in(tmp_path, monkeypatch):
    store = FileSessions(tmp_path)
    store.put("old", "a", ttl_s=10)
    store.put("older", "b", ttl_s=10)
    later = time.time() + 11
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.get("old") is None
    store.put("new", "c", ttl_s=10)
    assert len(list(tmp_path.iterdir())) == 1 and store.get("new") == "c"
