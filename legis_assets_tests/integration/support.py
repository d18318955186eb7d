"""Plain helpers shared by the integration tests (fixtures shared across files are in
conftest.py): the browser's paths and its full-page screenshot, and `dagster dev` in its own
process group with a simulated session to drop into its data directory."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from legis_assets.core.simulate import ChamberSpec, kansas_session_name, simulate_session, write_session

ROOT = Path(__file__).resolve().parents[2]
REPO = ROOT
LEGISLATURE = "simulated"
ENSURE = ROOT / "scripts" / "ensure_chromium.sh"
ARTIFACTS = ROOT / "legis_assets_tests" / "artifacts"

#: records alert/confirm/prompt calls before any page script runs (CDP-injected, so the page's
#: CSP does not apply to it)
ALERT_TRAP = """
window.__dialogs = [];
['alert', 'confirm', 'prompt'].forEach(function (k) {
  window[k] = function (m) { window.__dialogs.push(k + ':' + String(m)); };
});
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def full_page_screenshot(drv, path: Path) -> None:
    metrics = drv.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width, height = int(size["width"]), int(size["height"])
    shot = drv.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    """`python -m dagster dev` in its own process group, stopped with SIGINT, killed if it hangs."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: (
                signal.signal(signal.SIGINT, signal.SIG_DFL),
                signal.signal(signal.SIGTERM, signal.SIG_DFL),
            ),
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base + "/server_info", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise AssertionError(f"dagster dev not ready after {timeout} s:\n{self.tail()}")

    def gql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(self.base + "/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            out = json.loads(r.read())
        assert "errors" not in out, out
        return out["data"]

    def tail(self, n: int = 60) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of the group (code server, run workers)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.log.close()


def drop_session(data_dir: Path, start_year: int, seed: int) -> str:
    session = kansas_session_name(start_year)
    sims = simulate_session(seed=seed, start_year=start_year, specs={"senate": ChamberSpec(seats=30, n_rollcalls=80)})
    write_session(sims, data_dir / LEGISLATURE / session)
    return f"{LEGISLATURE}.{session}"
