"""Where a result came from: package version, git commit, run id, data content hash, settings.

Collected once per report and per materialization (`collect`), shown in the report's footer and
recorded in the Dagster metadata. Outside ``core/`` because it reads git and the file system.
Nothing here fails a run: what cannot be found (no git, not a checkout, no data directory) is
recorded as None.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "legis-assets"
#: the project's checkout, if the package runs from one (an installed wheel has no .git above it)
SOURCE_ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def package_version() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=4)
def git_commit(root: Path = SOURCE_ROOT) -> str | None:
    """HEAD's commit of the checkout the code runs from, with "-dirty" when tracked files differ
    from it; None when git is missing or `root` is not a checkout."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and dirty else head or None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return _file_sha256(Path(path))


def data_hash(session_dir: Path | None) -> tuple[str | None, list[str]]:
    """sha256 over the session's input CSVs (file names and contents, in name order), and the
    names hashed; (None, []) when the directory is missing."""
    if session_dir is None or not session_dir.is_dir():
        return None, []
    files = sorted(p for p in session_dir.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(p.name.encode("utf-8") + b"\0" + _cached_sha256(str(p), st.st_size, st.st_mtime_ns).encode() + b"\n")
    return h.hexdigest(), [p.name for p in files]


def settings_dict(settings: Any) -> dict[str, Any]:
    """A dataclass of settings as JSON-ready values (paths as strings)."""
    is_instance = dataclasses.is_dataclass(settings) and not isinstance(settings, type)
    values = dataclasses.asdict(settings) if is_instance else dict(settings or {})
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


def collect(settings: Any = None, session_dir: Path | None = None, run_id: str | None = None) -> dict[str, Any]:
    """package_version, git_commit, run_id, data_sha256, data_files, settings."""
    digest, files = data_hash(session_dir)
    return {
        "package_version": package_version(),
        "git_commit": git_commit(),
        "run_id": run_id or None,
        "data_sha256": digest,
        "data_files": files,
        "settings": settings_dict(settings) if settings is not None else {},
    }


def to_json(prov: dict[str, Any]) -> str:
    return json.dumps(prov, sort_keys=True, default=str)
