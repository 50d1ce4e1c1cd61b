"""On-connect G-code: every enabled automation script's `__script_commands__(settings)`.

Seed 000: "a callable taking your settings dict ... return a string or list of strings that
will be sent to the printer on connect", and the original host sent them again after the
script's settings were saved. The callable is plugin code, so it runs in a worker like any
other; a literal body (known at discovery) is used as it is, without a worker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from scriptdeck.plugins.model import Plugin, Service, ServiceKind
from scriptdeck.plugins.registry import Registry
from scriptdeck.runtime.pool import WorkerPool
from scriptdeck.runtime.protocol import Job, Outcome
from scriptdeck.settings.store import SettingsStore

log = logging.getLogger("scriptdeck.commands")

COMMANDS_TIMEOUT = 10.0  # seconds a __script_commands__ callable may take


def normalise(value: Any, where: str) -> list[str]:
    """A string (one or several lines) or a list of strings → the non-blank lines to send."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.splitlines()
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise TypeError(f"{where}: expected a string or a list of strings, got {type(value).__name__}")
    lines: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{where}: expected a string or a list of strings, got an item {item!r}")
        lines += [line for line in item.splitlines() if line.strip()]
    return lines


def _call_in_worker(pool: WorkerPool, plugin: Plugin, service: Service, settings: dict[str, Any]) -> Any:
    ref = service.commands
    assert ref is not None
    folder = plugin.path if plugin.kind == "manifest" else plugin.path.parent
    module_path = ref.path or folder.joinpath(*ref.module.split(".")).with_suffix(".py")
    job = Job(
        run_id=uuid.uuid4().hex, kind="commands", service_id=service.id, plugin_id=plugin.id,
        plugin_root=str(folder), module=ref.module, module_path=str(module_path), function=ref.function,
        settings=settings, title=service.label,
    )
    proc = pool.acquire()
    # Not a run, so no run log: what it writes to fds 1 and 2 goes to the host's log, naming it.
    proc.output.attach(lambda stream, line: log.log(logging.INFO if stream == "stdout" else logging.WARNING,
                                                    "%s: %s: %s", service.id, stream, line))
    try:
        proc.conn.send(("job", job))
        while True:
            if not proc.conn.poll(COMMANDS_TIMEOUT):
                raise TimeoutError(f"timed out after {COMMANDS_TIMEOUT:g} s")
            message = proc.conn.recv()
            if message[0] == "result":
                outcome: Outcome = message[1]
                if not outcome.ok:
                    raise RuntimeError(outcome.error or "failed")
                return outcome.value
            if message[0] == "call":  # g, window...: not available while computing commands
                proc.conn.send(("reply", message[1], False, ("RuntimeError", "not available in __script_commands__")))
    finally:
        proc.output.detach()
        proc.dispose(0.5)


def service_commands(
    pool: WorkerPool, store: SettingsStore, plugin: Plugin, service: Service
) -> list[str]:
    """The lines one automation service wants sent; raises with a message naming the script."""
    if service.commands_literal is not None:
        return list(service.commands_literal)
    if service.commands is None:
        return []
    settings, _ = service.settings.resolve(store.values(service.settings_key()))
    where = f"{service.id}: __script_commands__"
    try:
        value = _call_in_worker(pool, plugin, service, settings)
    except Exception as exc:
        raise RuntimeError(f"{where}: {exc}") from exc
    return normalise(value, where)


def connect_commands(pool: WorkerPool, store: SettingsStore, registry: Registry) -> tuple[list[str], list[str]]:
    """Lines for every enabled automation service, in search order, and a warning per failure."""
    lines: list[str] = []
    warnings: list[str] = []
    for plugin in registry.plugins:
        if not plugin.usable:
            continue
        for service in plugin.services:
            if service.kind != ServiceKind.AUTOMATION:
                continue
            try:
                lines += service_commands(pool, store, plugin, service)
            except Exception as exc:  # one script's broken commands never block the connection
                warnings.append(str(exc))
                log.warning("%s", exc)
    return lines, warnings
