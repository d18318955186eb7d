"""The common-scale page in a real browser: headless Chromium driven by selenium 4, found or
installed by scripts/ensure_chromium.sh (the fixtures are in integration/conftest.py).

The page is opened from a file:// URL with the network emulated offline. Checked: every section
is visible and in order, the failed banner, that nothing http(s) was requested, every figure
decoded, search filters the positions table, a search that leaves one person (and a click on a
name) draws that person's trajectory as inline SVG, sorting, hostile names shown as text with no
dialog opened, and no SEVERE console message (a CSP violation or a script error would be one).
Full-page screenshots go to legis_assets_tests/artifacts/scale_report_*.png.
"""

from __future__ import annotations

import pytest

from legis_assets.report.scale import render_scale_report
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
from legis_assets_tests.scale_report_support import SECTION_IDS, hostile_scale_context

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.browser
HOSTILE = "<script>alert(1)</script>"


def _trajectory(drv) -> dict:
    return drv.execute_script("""
        var svg = document.getElementById('trajectory-svg');
        return {name: document.getElementById('trajectory-name').textContent,
                svg: !!svg, points: svg ? svg.querySelectorAll('.pt').length : 0,
                bars: svg ? svg.querySelectorAll('.bar').length : 0,
                visible: svg ? svg.getBoundingClientRect().height > 50 : false};
    """)


@pytest.mark.parametrize(("n_people", "passed"), [(60, False), (1000, True)])
def test_scale_report_in_headless_chromium(driver, tmp_path, n_people: int, passed: bool) -> None:  # noqa: F811
    ctx = hostile_scale_context(n_people, passed=passed, n_sessions=4 if n_people < 100 else 6)
    page = tmp_path / "common_scale" / "report.html"
    page.parent.mkdir()
    page.write_text(render_scale_report(ctx), encoding="utf-8")
    n_rows = ctx.positions.height
    open_offline(driver, page)  # nothing leaves the machine

    # every section present, visible, in order; the banner as the gates say
    assert ctx.scale in driver.title
    assert_sections_in_order(driver, SECTION_IDS)
    banner = driver.find_elements(By.ID, "failed-banner")
    assert bool(banner) == (not passed)
    if banner:
        assert "Do not use these estimates" in banner[0].text and "rhat" in banner[0].text
    assert "2009s" in driver.find_element(By.ID, "left-out-banner").text

    # every figure decoded
    assert broken_images(driver) == 0
    assert driver.execute_script("return document.images.length") == 3

    # hostile names are text; nothing ran
    cell = driver.find_element(
        By.XPATH, "//table[@id='positions-table']//td[contains(@class,'name')][contains(., 'alert(1)')]"
    )
    assert HOSTILE in cell.text
    assert_no_dialog(driver)
    # the data block is not executed, the one script is the page's own
    assert driver.execute_script("return document.querySelectorAll('script:not([type])').length") == 1

    # no trajectory before a choice
    assert _trajectory(driver)["svg"] is False

    # search filters the positions table; one person left draws their trajectory
    assert visible_rows(driver, "positions-table") == n_rows
    search = driver.find_element(By.ID, "positions-search")
    search.send_keys("Member 0010")
    expected = ctx.positions.filter(ctx.positions["name"] == "Member 0010").height
    assert expected >= 1
    assert visible_rows(driver, "positions-table") == expected
    assert f"Showing {expected} of {n_rows} positions" in driver.find_element(By.ID, "positions-status").text
    drawn = _trajectory(driver)
    assert drawn["name"] == "Member 0010" and drawn["svg"] and drawn["visible"]
    assert drawn["points"] == expected and drawn["bars"] == expected

    # the hostile name's trajectory: its name as text (heading and SVG title), still no dialog
    search.clear()
    search.send_keys("alert(1)")
    drawn = _trajectory(driver)
    assert drawn["name"] == HOSTILE and drawn["points"] >= 1
    assert (
        driver.execute_script("return document.querySelector('#trajectory-svg > title').textContent")
        == "Trajectory of " + HOSTILE
    )
    assert driver.execute_script("return window.__dialogs") == []
    search.clear()
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", search)
    assert visible_rows(driver, "positions-table") == n_rows

    # a click on a name in the movement table draws that person (the biggest mover is first)
    first = driver.find_element(By.CSS_SELECTOR, "#movement-table tbody tr button.person")
    name = first.text
    driver.execute_script("arguments[0].click()", first)
    assert _trajectory(driver)["name"] == name
    assert _trajectory(driver)["points"] >= 2
    assert driver.execute_script("return document.querySelectorAll('#positions-table tr.chosen').length") >= 2

    # sorting the movement table by movement (numeric)
    header = driver.find_element(By.XPATH, "//table[@id='movement-table']//th[5]/button")
    header.click()
    values = driver.execute_script(
        "return Array.from(document.querySelectorAll('#movement-table tbody tr'))"
        ".map(r => parseFloat(r.cells[4].getAttribute('data-sort')))"
    )
    assert values == sorted(values)

    # the bridge table's search
    bridge_rows = visible_rows(driver, "bridge-table")
    driver.find_element(By.ID, "bridge-search").send_keys("senate")
    assert 0 < visible_rows(driver, "bridge-table") < bridge_rows

    # the links point at the per-session reports, relative to this page
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('#session-links a')).map(a => a.getAttribute('href'))"
    )
    assert hrefs and all(h.startswith("../") and h.endswith("/report.html") for h in hrefs)

    assert_no_console_errors(driver)

    # screenshot with a trajectory shown (the biggest mover's, chosen above)
    driver.execute_script("window.scrollTo(0, 0)")
    out = ARTIFACTS / f"scale_report_{n_people}.png"
    full_page_screenshot(driver, out)
    assert out.stat().st_size > 10_000
