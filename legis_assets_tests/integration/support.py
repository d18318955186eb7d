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


def open_offline(drv, page: Path) -> None:
    """Open a report page from its file:// URL (the console emptied first) and check that nothing
    leaves the machine: no http(s) or websocket resource, and the network is off."""
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get_log("browser")  # drop anything logged before this page
    drv.get(page.as_uri())
    WebDriverWait(drv, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
    resources = drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [r for r in resources if r.startswith(("http:", "https:", "ws:", "wss:"))], resources
    assert drv.execute_script("return navigator.onLine") is False


def assert_sections_in_order(drv, section_ids) -> None:
    """Every section is present, visible, and in page order."""
    from selenium.webdriver.common.by import By

    tops = []
    for sid in section_ids:
        element = drv.find_element(By.ID, sid)
        assert element.is_displayed(), sid
        tops.append(element.location["y"])
    assert tops == sorted(tops)


def broken_images(drv) -> int:
    """Images that did not decode (a broken data URI has naturalWidth 0)."""
    return drv.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
    )


def visible_rows(drv, table_id: str) -> int:
    """Rows of a table a search left shown."""
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).filter(r => !r.hidden).length",
        table_id,
    )


def assert_no_dialog(drv) -> None:
    """No alert, confirm or prompt was called (ALERT_TRAP records them) and none is open."""
    import pytest
    from selenium.common.exceptions import NoAlertPresentException

    assert drv.execute_script("return window.__dialogs") == []
    with pytest.raises(NoAlertPresentException):
        drv.switch_to.alert.text  # noqa: B018


def assert_no_console_errors(drv) -> None:
    """No SEVERE console message (a CSP violation or a script error would be one)."""
    severe = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == [], severe


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
