"""schemathesis against /openapi.json: no 500s, no schema violations, bounded so it runs in seconds."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # schemathesis imports starlette's TestClient (see conftest.py)
    import schemathesis
    from hypothesis import HealthCheck, given, settings

from scriptdeck.web.testing import TOKEN, Stack

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"
# The ASGI client says "Host: testserver"; the dashboard only answers loopback names.
AUTH = {"Authorization": f"Bearer {TOKEN}", "Host": "127.0.0.1"}
# Endpoints that would stream forever or halt the simulated firmware for the rest of the run.
SKIP = r"^/api/(events$|machine/emergency-stop$)"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("schema") / "data", [FIXTURES], watch_interval=0)
    try:
        yield s
    finally:
        s.close()


@pytest.mark.timeout(120)
def test_api_conforms_to_its_openapi_schema(stack: Stack) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", stack.app, headers=AUTH)
    failures: list[str] = []
    operations = [op.ok() for op in schema.get_all_operations() if not re.match(SKIP, op.ok().path)]
    assert len(operations) > 20
    for operation in operations:
        strategy = operation.as_strategy()

        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            # Every check but "positive data accepted": a schema-valid body can still name a setting
            # the service does not have (settings are per-plugin), and that is a correct 400.
            case.call_and_validate(headers=AUTH, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        try:
            given(strategy)(check)()
        except Exception as exc:  # collect every operation's failure, report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
