"""scriptdeck: a plugin host for G-code machines (automation scripts and plugin folders).

The Python API is `scriptdeck.Host` (see `scriptdeck.host`); it is imported on first use so
that `import scriptdeck.<anything>` stays cheap (worker processes import little).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scriptdeck.host import Host

__all__ = ["Host", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Host":
        from scriptdeck.host import Host

        return Host
    raise AttributeError(f"module 'scriptdeck' has no attribute {name!r}")
