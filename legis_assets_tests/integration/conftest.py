"""Fixtures shared by the browser tests (test_report_browser.py, test_scale_report_browser.py):
the session's headless Chromium, found or installed by scripts/ensure_chromium.sh (in CI,
CI=true, a missing browser is a failure, elsewhere a skip with the script's message). Selenium is
imported only when a browser test asks for the driver, so the other integration tests do not
need it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from legis_assets_tests.integration.support import ALERT_TRAP, ENSURE, in_ci


@pytest.fixture(scope="session")
def chromium_paths() -> dict[str, str]:
    proc = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        message = f"scripts/ensure_chromium.sh failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    paths = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert {"CHROMIUM", "CHROMEDRIVER"} <= set(paths), proc.stdout
    return paths


@pytest.fixture(scope="session")
def driver(chromium_paths, tmp_path_factory):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.binary_location = chromium_paths["CHROMIUM"]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.unhandled_prompt_behavior = "ignore"
    service = Service(executable_path=chromium_paths["CHROMEDRIVER"])
    drv = webdriver.Chrome(service=service, options=options)
    drv.set_page_load_timeout(120)
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ALERT_TRAP})
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)
