"""Stored values keep their types, survive restarts, and a kill -9 mid-write loses only that write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scriptdeck.settings.fields import SettingField, SettingsSchema
from scriptdeck.settings.store import SettingsStore


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    s = SettingsStore(tmp_path / "scriptdeck.sqlite3")
    yield s
    s.close()


def test_values_keep_their_types(store: SettingsStore, tmp_path: Path) -> None:
    store.update("purge", {"length": 100.5, "count": 3, "enabled": True, "name": "3", "extra": [1, 2]})
    store.close()
    again = SettingsStore(tmp_path / "scriptdeck.sqlite3")
    assert again.values("purge") == {"length": 100.5, "count": 3, "enabled": True, "name": "3", "extra": [1, 2]}
    again.close()


def test_update_merges_and_reset_forgets(store: SettingsStore) -> None:
    store.update("s", {"a": 1, "b": 2})
    store.update("s", {"b": 3})
    assert store.values("s") == {"a": 1, "b": 3}
    store.reset("s")
    assert store.values("s") == {}


def test_last_used_is_separate_from_stored(store: SettingsStore) -> None:
    store.update("P/act", {"z": 1.0})
    store.remember("P/act", {"z": 2.0})
    assert store.values("P/act") == {"z": 1.0}
    assert store.last_used("P/act") == {"z": 2.0}


def test_enabled_state(store: SettingsStore) -> None:
    assert store.is_enabled("Hello")
    store.set_enabled("Hello", False)
    assert not store.is_enabled("Hello")
    assert store.disabled_ids() == {"Hello"}
    store.set_enabled("Hello", True)
    assert store.disabled_ids() == set()


def test_stored_value_that_no_longer_fits_falls_back_with_a_warning() -> None:
    schema = SettingsSchema((SettingField("speed", "int", default=10, min=1, max=100),))
    values, warnings = schema.resolve({"speed": "fast"})
    assert values == {"speed": 10}
    assert warnings == ['stored value ignored, using the default 10: speed: expected an integer, got "fast"']


WRITER = textwrap.dedent(
    """
    import sys, os
    from pathlib import Path
    from scriptdeck.settings.store import SettingsStore
    store = SettingsStore(Path(sys.argv[1]))
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        store.update("hot", {f"k{j}": i for j in range(50)})
    """
)


@pytest.mark.timeout(60)
def test_kill_9_mid_write_loses_nothing_else(tmp_path: Path) -> None:
    db = tmp_path / "scriptdeck.sqlite3"
    store = SettingsStore(db)
    store.update("keep", {"a": 1, "b": "two", "c": [3]})
    store.set_enabled("Other", False)
    store.close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    # Let it write for a while, then kill it without warning, in the middle of some transaction.
    try:
        proc.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    after = SettingsStore(db)
    assert after.values("keep") == {"a": 1, "b": "two", "c": [3]}
    assert after.disabled_ids() == {"Other"}
    hot = after.values("hot")
    # The interrupted write is all or nothing: every key holds the same generation.
    assert len(set(hot.values())) <= 1
    assert len(hot) in (0, 50)
    after.close()
