"""The report in a real browser: headless Chromium (Debian's package) driven by selenium 4.

The session fixture (integration/conftest.py) runs scripts/ensure_chromium.sh, which finds chromium and chromedriver or
installs Debian's `chromium` and `chromium-driver` (so `make test` works on a fresh machine; in
CI, CI=true, a missing browser is a failure, elsewhere a skip with the script's message).
Selenium is given both paths, so selenium-manager never downloads anything.

Each report is opened from a file:// URL with the network emulated offline; the test checks the
sections, the table's search and sort, that a hostile name shows as text and runs nothing, that
no http(s) resource was requested, and that the console has no errors. A full-page screenshot
goes to legis_assets_tests/artifacts/report_<chamber>.png.
"""

from __future__ import annotations

import polars as pl
import pytest

from legis_assets.report import render_report
from legis_assets_tests.integration.support import (
    ARTIFACTS,
    assert_no_console_errors,
    assert_no_dialog,
    assert_sections_in_order,
    broken_images,
    full_page_screenshot,
    open_offline,
    visible_rows,
)
from legis_assets_tests.report_support import SECTION_IDS, hostile_context

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser

HOSTILE = "<script>alert(1)</script>"


def _column(drv, index: int) -> list[str]:
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#ip-table tbody tr'))"
        ".map(r => r.cells[arguments[0]].getAttribute('data-sort') || '')",
        index,
    )


@pytest.mark.parametrize(("chamber", "n", "passed"), [("senate", 40, True), ("house", 450, False)])
def test_report_in_headless_chromium(driver, tmp_path, chamber: str, n: int, passed: bool) -> None:
    ctx = hostile_context(n, chamber=chamber, passed=passed)
    ctx.provenance = {
        "package_version": "1.2.3",
        "git_commit": "89abcdef0123456789abcdef0123456789abcdef",
        "run_id": "run-xyz",
        "data_sha256": "d" * 64,
        "data_files": ["v.csv"],
        "settings": {"profile": "default", "seed": 42},
    }
    report = tmp_path / f"report_{chamber}.html"
    report.write_text(render_report(ctx), encoding="utf-8")
    open_offline(driver, report)  # nothing leaves the machine

    # title and every section, present and visible, in order
    assert ctx.session_key in driver.title and chamber.title() in driver.title
    assert_sections_in_order(driver, SECTION_IDS)
    banner = driver.find_elements(By.ID, "failed-banner")
    assert bool(banner) == (not passed)
    if banner:
        assert "Do not use these estimates: the sampler did not converge" in banner[0].text

    # every figure decoded (a broken data URI would have naturalWidth 0)
    assert broken_images(driver) == 0
    assert driver.execute_script("return document.images.length") >= 9

    # the hostile name is text, and no dialog was opened
    cell = driver.find_element(
        By.XPATH, "//table[@id='ip-table']//td[contains(@class,'name')][contains(., 'alert(1)')]"
    )
    assert HOSTILE in cell.text
    assert_no_dialog(driver)
    assert driver.execute_script("return document.querySelectorAll('script').length") == 1

    # search filters the table
    assert visible_rows(driver, "ip-table") == n
    search = driver.find_element(By.ID, "ip-search")
    search.send_keys("Member 007")
    assert visible_rows(driver, "ip-table") == 1
    assert "Showing 1 of" in driver.find_element(By.ID, "ip-status").text
    search.clear()
    search.send_keys("alert(1)")
    assert visible_rows(driver, "ip-table") == 1
    search.clear()
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", search)
    assert visible_rows(driver, "ip-table") == n

    # clicking a header sorts: position descending after two clicks, name ascending after one
    position_header = driver.find_element(By.XPATH, "//table[@id='ip-table']//th[6]/button")
    position_header.click()
    values = [float(v) for v in _column(driver, 5)]
    assert values == sorted(values)
    position_header.click()
    values = [float(v) for v in _column(driver, 5)]
    assert values == sorted(values, reverse=True)
    assert driver.find_element(By.XPATH, "//table[@id='ip-table']//th[6]").get_attribute("aria-sort") == "descending"
    driver.find_element(By.XPATH, "//table[@id='ip-table']//th[2]/button").click()
    names = _column(driver, 1)
    assert names == sorted(names, key=str.lower) or names == sorted(names, key=lambda s: s.casefold())
    driver.find_element(By.XPATH, "//table[@id='ip-table']//th[1]/button").click()  # back to rank order
    ranks = [int(float(v)) for v in _column(driver, 0)]
    assert ranks == sorted(ranks)

    # the provenance footer is shown
    footer = driver.find_element(By.ID, "provenance").text
    for part in ("legis-assets 1.2.3", "89abcdef0123", "run-xyz", "d" * 64, "seed = 42"):
        assert part in footer, part
    # the embedded ideal-points CSV downloads offline, and is the table
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    link = driver.find_element(By.CSS_SELECTOR, "#downloads a.download")
    assert link.get_attribute("download").endswith("_ideal_points.csv")
    driver.execute_script("arguments[0].click()", link)
    target = downloads / link.get_attribute("download")
    WebDriverWait(driver, 30).until(lambda d: target.exists() and target.stat().st_size > 0)
    got = pl.read_csv(target)
    assert got.height == n and HOSTILE in "".join(got["full_name"].drop_nulls().to_list() + got["name"].to_list())
    if not passed:  # the failed report warns on its plots and tables themselves
        notes = driver.find_elements(By.CSS_SELECTOR, ".failed-note")
        assert len(notes) >= 5 and all(e.is_displayed() for e in notes[:3])

    assert_no_console_errors(driver)

    driver.execute_script("window.scrollTo(0, 0)")
    full_page_screenshot(driver, ARTIFACTS / f"report_{chamber}.png")
    assert (ARTIFACTS / f"report_{chamber}.png").stat().st_size > 10_000


def test_analysis_sections_in_headless_chromium(driver, tmp_path) -> None:
    """Roll calls, model fit and reference scores: present in the table of contents and in order,
    figures decode, the roll-call table searches and sorts, hostile text stays text."""
    from legis_assets_tests.analysis_support import HOSTILE_TITLE, with_analysis

    ctx = with_analysis(hostile_context(60, chamber="house"))
    report = tmp_path / "report_analysis.html"
    report.write_text(render_report(ctx), encoding="utf-8")
    open_offline(driver, report)

    tops = [
        driver.find_element(By.ID, sid).location["y"]
        for sid in ("shrinkage", "rollcalls", "fit", "reference", "convergence")
    ]
    assert tops == sorted(tops)
    toc = [a.get_attribute("href").split("#")[1] for a in driver.find_elements(By.CSS_SELECTOR, "nav.toc a")]
    assert toc.index("rollcalls") < toc.index("fit") < toc.index("reference") < toc.index("convergence")
    assert broken_images(driver) == 0
    for sid in ("rollcalls", "fit", "reference"):
        assert driver.execute_script(f"return document.querySelectorAll('#{sid} figure img').length") >= 1, sid

    # the roll-call table: search by bill (status names roll calls), by a hostile title, then sort
    n = ctx.analysis.rollcalls.height
    assert visible_rows(driver, "rc-table") == n
    search = driver.find_element(By.ID, "rc-search")
    search.send_keys("HB 2007")
    assert visible_rows(driver, "rc-table") == 1
    assert driver.find_element(By.ID, "rc-status").text == f"Showing 1 of {n} roll calls"
    search.clear()
    search.send_keys("onerror")
    assert visible_rows(driver, "rc-table") == 1
    assert HOSTILE_TITLE in driver.find_element(By.ID, "rc-table").get_attribute("innerHTML").replace(
        "&lt;", "<"
    ).replace("&gt;", ">")
    search.clear()
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", search)
    assert visible_rows(driver, "rc-table") == n
    header = driver.find_element(By.XPATH, "//table[@id='rc-table']//th[6]/button")  # discrimination
    header.click()
    values = [
        float(v)
        for v in driver.execute_script(
            "return Array.from(document.querySelectorAll('#rc-table tbody tr')).map(r => r.cells[5].getAttribute('data-sort'))"
        )
    ]
    assert values == sorted(values)
    assert driver.execute_script("return window.__dialogs") == []

    # fit and reference: the numbers are there
    assert len(driver.find_elements(By.CSS_SELECTOR, "#fit-table tbody tr")) == 3
    assert len(driver.find_elements(By.CSS_SELECTOR, "#worst-fit tbody tr")) == 10
    r = float(driver.find_element(By.ID, "reference-r").text)
    assert r == pytest.approx(ctx.analysis.reference_summary["abs_r_published"], abs=1e-3)
    assert "alert(1)" in driver.find_element(By.ID, "reference-outliers").text  # the hostile name, as text

    assert_no_console_errors(driver)
    driver.execute_script("window.scrollTo(0, 0)")
    full_page_screenshot(driver, ARTIFACTS / "report_analysis.png")
