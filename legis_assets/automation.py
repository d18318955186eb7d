"""Plain-Python logic behind the automation (sensor, schedule, alerts); no Dagster imports.

The Dagster definitions in ``legis_assets/defs/{sensors,schedules,alerts}.py`` are thin wrappers
around these functions, so everything here is unit-testable without a Dagster context.

* **Data-root scan** (:func:`scan_data_root`): finds every session directory, hashes its three input
  files (votes, roll calls, legislators) and compares them with the previous sensor cursor. A file is
  re-hashed only when its (size, mtime_ns) changed; a session is *pending* (left for the next tick and
  not recorded in the cursor) while one of its files is missing or was modified less than
  ``stable_seconds`` ago, so a file still being written is never picked up half-done.
* **Cursor** (:func:`load_cursor` / :func:`dump_cursor`): JSON ``{session_key: {"gen": n, "files":
  {file name: [size, mtime_ns, sha256]}}}``. ``gen`` counts the content changes of a session; the
  run key of a request is ``<partition>:<gen>:<content digest>`` so a daemon restart (or a crash
  between launching runs and saving the cursor) never launches the same work twice, while a session
  that changes back to an earlier content (A -> B -> A) still gets a new run.
* **Current session** (:func:`session_sort_key`, :func:`current_sessions`): newest by the years in
  the session directory name, then by name.
* **Alerts** (:func:`alert_record`, :func:`append_alert`, :func:`post_json`, :func:`deliver_alert`):
  one JSON line per failed check in ``$LEGIS_HOME/alerts.jsonl`` (written under an exclusive file
  lock, de-duplicated by run id + asset + check + partition) and, when a webhook URL is set, the same
  JSON POSTed with a timeout and retries. Nothing on the alert path raises.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legis_assets.core import ingest
from legis_assets.core.schema import CHAMBERS, SessionKey
from legis_assets.storage import file_sha256

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
#: files of a session the pipeline reads (a change to any other file does not trigger a run)
INPUT_KINDS = ingest.FILE_KINDS
ALERTS_FILE = "alerts.jsonl"

# --- file hashing and the sensor cursor ----------------------------------------------------


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    sha256: str

    def to_json(self) -> list:
        return [self.size, self.mtime_ns, self.sha256]

    @classmethod
    def from_json(cls, value: Any) -> FileState | None:
        try:
            size, mtime_ns, digest = value
            return cls(int(size), int(mtime_ns), str(digest))
        except (TypeError, ValueError):
            return None


@dataclass
class SessionState:
    files: dict[str, FileState] = field(default_factory=dict)
    #: number of content changes seen (part of the run key)
    gen: int = 0

    @property
    def digest(self) -> str:
        return content_digest(self.files)

    def to_json(self) -> dict:
        return {"gen": self.gen, "files": {name: st.to_json() for name, st in sorted(self.files.items())}}


def content_digest(files: Mapping[str, FileState]) -> str:
    """sha256 over the sorted (file name, file sha256) pairs: the content identity of a session."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name].sha256}\n".encode())
    return h.hexdigest()


def load_cursor(raw: str | None) -> dict[str, SessionState]:
    """Parse a sensor cursor; an empty, unreadable or foreign cursor counts as 'nothing seen yet'."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("ignoring an unreadable sensor cursor (%d characters)", len(raw))
        return {}
    sessions = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(sessions, dict):
        return {}
    out: dict[str, SessionState] = {}
    for key, value in sessions.items():
        if not isinstance(value, dict):
            continue
        files = {}
        for name, st in (value.get("files") or {}).items():
            parsed = FileState.from_json(st)
            if parsed is not None:
                files[str(name)] = parsed
        out[str(key)] = SessionState(files, int(value.get("gen", 0) or 0))
    return out


def dump_cursor(sessions: Mapping[str, SessionState]) -> str:
    return json.dumps(
        {"v": CURSOR_VERSION, "sessions": {k: sessions[k].to_json() for k in sorted(sessions)}},
        sort_keys=True,
        separators=(",", ":"),
    )


@dataclass
class ScanResult:
    #: the cursor to store (stable sessions as seen now, pending ones as before, removed ones emptied)
    sessions: dict[str, SessionState]
    #: session keys that are new or whose content changed (sorted); each needs runs
    changed: list[str] = field(default_factory=list)
    #: the subset of `changed` never seen before
    new: list[str] = field(default_factory=list)
    #: session key -> why it was left for a later tick (a file missing or still being written)
    pending: dict[str, str] = field(default_factory=dict)
    #: sessions in the previous cursor whose directory is gone
    removed: list[str] = field(default_factory=list)
    #: session key -> session directory, for every session found on disk
    directories: dict[str, Path] = field(default_factory=dict)

    def run_key(self, session_key: str, partition: str) -> str:
        """`<partition>:<gen>:<digest prefix>`: identical after a restart, new after every change."""
        state = self.sessions[session_key]
        return f"{partition}:{state.gen}:{state.digest[:16]}"


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def scan_session(
    session_dir: Path,
    previous: SessionState | None,
    stable_seconds: float,
    now: float,
) -> tuple[dict[str, FileState] | None, str | None]:
    """The input files' states of one session, or (None, reason) when it is not ready yet.

    A file is re-hashed only if its (size, mtime_ns) differ from `previous`; it must not have been
    modified in the last `stable_seconds`, and its size/mtime must be the same before and after
    hashing (a writer still appending is caught even with `stable_seconds` = 0).
    """
    name = session_dir.name
    files: dict[str, FileState] = {}
    old = previous.files if previous else {}
    for kind in INPUT_KINDS:
        path = session_dir / f"{name}_{kind}.csv"
        before = _stat(path)
        if before is None:
            return None, f"{path.name} is missing"
        size, mtime_ns = before
        age = now - mtime_ns / 1e9
        if stable_seconds > 0 and age < stable_seconds:
            return None, f"{path.name} was modified {max(age, 0):.1f} s ago (waiting {stable_seconds:g} s)"
        known = old.get(path.name)
        if known is not None and (known.size, known.mtime_ns) == (size, mtime_ns):
            files[path.name] = known
            continue
        try:
            digest = file_sha256(path)
        except OSError as err:
            return None, f"{path.name} could not be read ({err})"
        if _stat(path) != before:
            return None, f"{path.name} changed while it was hashed"
        files[path.name] = FileState(size, mtime_ns, digest)
    return files, None


def scan_data_root(
    data_root: Path,
    previous: Mapping[str, SessionState],
    stable_seconds: float = 10.0,
    now: float | None = None,
    allow_outside_root: bool = False,
) -> ScanResult:
    """Compare the session directories under `data_root` with the previous cursor."""
    now = time.time() if now is None else now
    result = ScanResult(sessions={})
    found: set[str] = set()
    for legislature, session in ingest.discover_sessions(Path(data_root), allow_outside_root=allow_outside_root):
        key = SessionKey(legislature, session).key
        found.add(key)
        session_dir = Path(data_root) / legislature / session
        result.directories[key] = session_dir
        prev = previous.get(key)
        files, reason = scan_session(session_dir, prev, stable_seconds, now)
        if files is None:
            result.pending[key] = reason or "not ready"
            if prev is not None:
                result.sessions[key] = prev
            continue
        if prev is not None and prev.files and content_digest(files) == prev.digest:
            result.sessions[key] = SessionState(files, prev.gen)  # same content (maybe touched): no run
            continue
        result.sessions[key] = SessionState(files, (prev.gen if prev else 0) + 1)
        result.changed.append(key)
        if prev is None or not prev.files:
            result.new.append(key)
    for key, prev in previous.items():
        if key not in found:
            if prev.files:
                result.removed.append(key)
            # keep the generation as a tombstone: a session that comes back gets a fresh run key
            result.sessions[key] = SessionState({}, prev.gen)
    result.changed.sort()
    result.new.sort()
    result.removed.sort()
    return result


def chambers_with_data(session_dir: Path) -> list[str]:
    """Chambers ("house", "senate") that have roll calls in a session's roll-call file.

    Reads only the `chamber` column, stopping once every chamber was seen. If the file cannot be
    read, every chamber is returned: the runs then fail in `votes` with the reader's precise error,
    which is more useful in the UI than a silently skipped session.
    """
    path = Path(session_dir) / f"{Path(session_dir).name}_rollcalls.csv"
    wanted = {label: chamber for chamber, label in CHAMBERS.items()}
    seen: set[str] = set()
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if "chamber" not in (reader.fieldnames or []):
                return sorted(CHAMBERS)
            for row in reader:
                chamber = wanted.get((row.get("chamber") or "").strip())
                if chamber:
                    seen.add(chamber)
                    if len(seen) == len(wanted):
                        break
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        log.warning("could not read the chambers of %s (%s); requesting every chamber", path, err)
        return sorted(CHAMBERS)
    # no roll call at all (e.g. a header-only file): request every chamber, so that the run fails in
    # `votes` with the reader's error instead of silently doing nothing
    return sorted(seen) if seen else sorted(CHAMBERS)


# --- current session ------------------------------------------------------------------------

_YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)")


def session_sort_key(session_key: str) -> tuple:
    """Order sessions by the years in the directory name (latest year, then earliest), then name.

    `kansas.91st_2025-2026` > `kansas.2024s` > `kansas.90th_2023-2024` > `kansas.notes`.
    """
    session = session_key.split(".", 1)[-1]
    years = [int(y) for y in _YEAR_RE.findall(session)]
    return (max(years) if years else -1, min(years) if years else -1, session_key)


def current_sessions(registered: Iterable[str], override: str | None = None) -> list[str]:
    """The sessions a scheduled rebuild should refit.

    `override` (LEGIS_CURRENT_SESSION; comma-separated keys) wins. Otherwise the newest registered
    session of each legislature (with a single legislature: the newest session).
    """
    if override and override.strip():
        return [SessionKey.parse(k.strip()).key for k in override.split(",") if k.strip()]
    newest: dict[str, str] = {}
    for key in registered:
        try:
            parsed = SessionKey.parse(key)
        except ValueError:
            continue
        best = newest.get(parsed.legislature)
        if best is None or session_sort_key(key) > session_sort_key(best):
            newest[parsed.legislature] = key
    return sorted(newest.values())


# --- alerts ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-safe value (non-finite floats become null: NaN is not valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def alert_record(
    *,
    session: str | None,
    chamber: str | None,
    asset: str,
    check: str,
    value: Any,
    threshold: Any,
    severity: str,
    run_id: str,
    timestamp: float | None = None,
    partition: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The alert for one failed check: one line of alerts.jsonl and the webhook's JSON body."""
    when = dt.datetime.fromtimestamp(timestamp if timestamp is not None else time.time(), tz=dt.UTC)
    record = {
        "session": session,
        "chamber": chamber,
        "asset": asset,
        "check": check,
        "value": _plain(value),
        "threshold": _plain(threshold),
        "severity": severity.lower(),
        "run_id": run_id,
        "time": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if partition is not None:
        record["partition"] = partition
    if description:
        record["description"] = description
    return record


def _identity(record: Mapping[str, Any]) -> tuple:
    return (
        record.get("run_id"),
        record.get("asset"),
        record.get("check"),
        record.get("session"),
        record.get("chamber"),
    )


def append_alert(path: Path, record: Mapping[str, Any]) -> bool:
    """Append `record` as one JSON line under an exclusive lock; False if it was already there.

    The lock (flock on the file itself) serialises writers across processes; the line is written
    with a single write() and fsynced. A record with the same run id, asset, check and partition is
    not written twice (a re-delivered failure event produces no second alert).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            ident = _identity(record)
            for existing in handle:
                try:
                    if _identity(json.loads(existing)) == ident:
                        return False
                except ValueError:
                    continue
            handle.seek(0, os.SEEK_END)
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def read_alerts(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def post_json(
    url: str,
    payload: Mapping[str, Any],
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST `payload` as JSON; retry (backoff, 2x backoff, ...) on errors and non-2xx. Never raises."""
    body = json.dumps(payload, sort_keys=True, allow_nan=False).encode("utf-8")
    for attempt in range(1, attempts + 1):
        try:
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "legis-assets-alerts"},
            )
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as err:
            problem = f"HTTP {err.code}"
        except Exception as err:  # URLError, timeout, connection reset, bad URL ...
            problem = f"{type(err).__name__}: {err}"
        log.warning("alert webhook POST %d/%d failed: %s", attempt, attempts, problem)
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    return False


def alerts_path(home: Path) -> Path:
    return Path(home) / ALERTS_FILE


def deliver_alert(
    record: Mapping[str, Any],
    home: Path,
    webhook: str | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 1.0,
) -> dict[str, bool | None]:
    """Write the alert line, then POST it if a webhook is set (only when the line is new).

    Returns {"written": ..., "posted": ...}; logs and carries on on any error, never raises.
    """
    status: dict[str, bool | None] = {"written": False, "posted": False}
    try:
        status["written"] = append_alert(alerts_path(home), record)
    except Exception as err:  # a full disk or unwritable LEGIS_HOME must not break the daemon
        log.error("could not append the alert to %s: %s", alerts_path(home), err)
        status["written"] = None  # unknown: still try the webhook
    if webhook and status["written"] is not False:
        try:
            status["posted"] = post_json(webhook, record, timeout=timeout, attempts=attempts, backoff=backoff)
        except Exception as err:  # pragma: no cover - post_json already catches everything
            log.error("alert webhook failed: %s", err)
    return status
