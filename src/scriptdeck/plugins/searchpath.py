"""Where plugins are looked for, and where scriptdeck keeps its data.

Search path, in precedence order: `--plugin-path` entries, `$SCRIPTDECK_PLUGIN_PATH`
entries (os.pathsep-separated), the data dir's `plugins/` and `scripts/`,
`~/.mecodescripts` (seed 000's convention), the system data dirs' `scriptdeck/plugins`,
then the shipped `examples/plugins` (unless hidden).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "scriptdeck"


def data_dir(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`--data-dir`, else `$SCRIPTDECK_HOME`, else the platform's user data dir."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser().resolve()
    if env.get("SCRIPTDECK_HOME"):
        return Path(env["SCRIPTDECK_HOME"]).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP))


def examples_dir() -> Path:
    """The shipped example plugins (a checkout's `examples/plugins`, or the installed copy)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "examples" / "plugins", here.parents[1] / "examples" / "plugins"):
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "examples" / "plugins"


@dataclass(frozen=True)
class Root:
    """One directory of the search path and why it is there."""

    path: Path
    origin: str  # "plugin-path" | "env" | "data" | "mecodescripts" | "system" | "examples"


def search_path(
    plugin_paths: Sequence[str | os.PathLike[str]] = (),
    data: Path | None = None,
    *,
    include_examples: bool = True,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[Root]:
    env = os.environ if env is None else env
    data = data_dir(env=env) if data is None else data
    roots: list[Root] = [Root(Path(p).expanduser().resolve(), "plugin-path") for p in plugin_paths]
    roots += [
        Root(Path(p).expanduser().resolve(), "env") for p in env.get("SCRIPTDECK_PLUGIN_PATH", "").split(os.pathsep) if p
    ]
    roots += [Root(data / "plugins", "data"), Root(data / "scripts", "data")]
    roots.append(Root((home or Path.home()) / ".mecodescripts", "mecodescripts"))
    for site in platformdirs.site_data_dir(APP, multipath=True).split(os.pathsep):
        roots.append(Root(Path(site) / "plugins", "system"))
    if include_examples:
        roots.append(Root(examples_dir(), "examples"))
    unique: list[Root] = []
    seen: set[Path] = set()
    for root in roots:
        if root.path not in seen:
            seen.add(root.path)
            unique.append(root)
    return unique
