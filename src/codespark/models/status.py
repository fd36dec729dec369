"""What `codespark model list` shows: each catalog model, whether it can be installed, and whether it already is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cache import default_cache_dir, model_path, stamp_matches
from .catalog import CATALOG, DEFAULT_MODEL_ID, ModelSpec, install_hint
from .chunks import is_installed
from .install import human_size


@dataclass(frozen=True)
class ModelStatus:
    id: str
    title: str
    tier: str
    default: bool
    size: int
    extra: str | None
    packages_installed: bool
    missing_packages: tuple[str, ...]
    path: Path  # where the joined file lives (or will)
    joined: bool  # the file exists at `path`
    verified: bool  # ... and its stamp says it passed the sha256 check (no re-hash here: listing must be instant)


def list_models(cache_dir: Path | None = None, catalog: dict[str, ModelSpec] | None = None) -> list[ModelStatus]:
    directory = cache_dir or default_cache_dir()
    statuses = []
    for spec in (catalog or CATALOG).values():
        missing = tuple(name for name in spec.chunk_packages if not is_installed(name))
        path = model_path(spec, directory)
        statuses.append(
            ModelStatus(
                id=spec.id,
                title=spec.title,
                tier=spec.tier,
                default=spec.id == DEFAULT_MODEL_ID,
                size=spec.size,
                extra=spec.extra,
                packages_installed=not missing,
                missing_packages=missing,
                path=path,
                joined=path.is_file(),
                verified=stamp_matches(path, spec),
            )
        )
    return statuses


def format_model_table(statuses: list[ModelStatus], catalog: dict[str, ModelSpec] | None = None) -> str:
    """A plain-text table, then one line per model that needs an action."""
    specs = catalog or CATALOG
    header = ("MODEL", "TIER", "SIZE", "CHUNK PACKAGES", "FILE")
    rows = [header]
    notes = []
    for s in statuses:
        total = len(specs[s.id].chunk_packages) if s.id in specs else len(s.missing_packages)
        if s.packages_installed:
            packages = f"installed ({total}/{total})"
        else:
            packages = f"missing {len(s.missing_packages)}/{total}"
            if s.id in specs:
                notes.append(f"{s.id}: {install_hint(specs[s.id])}")
        if s.verified:
            file = f"ready: {s.path}"
        elif s.joined:
            file = f"unverified: {s.path}"
        else:
            file = "not joined yet (joined on first use)" if s.packages_installed else "-"
        rows.append((s.id + (" (default)" if s.default else ""), s.tier, human_size(s.size), packages, file))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    return "\n".join(lines + ([""] + notes if notes else []))
