"""Fixtures for the dashboard API tests: a Host with the test plugins, a virtual machine, a TestClient."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move to httpx2; httpx is what we ship with.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from scriptdeck.web.testing import Stack

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A private copy of the test plugins (tests may edit them)."""
    target = tmp_path / "plugins"
    shutil.copytree(FIXTURES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def stack(tmp_path: Path, plugin_dir: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "data", [plugin_dir], watch_interval=0.2)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    """Authenticated by bearer token, Host 127.0.0.1."""
    with TestClient(stack.app, base_url="http://127.0.0.1", headers=stack.auth_headers) as c:
        yield c


@pytest.fixture
def anon(stack: Stack) -> Iterator[TestClient]:
    """No credentials."""
    with TestClient(stack.app, base_url="http://127.0.0.1", follow_redirects=False) as c:
        yield c
