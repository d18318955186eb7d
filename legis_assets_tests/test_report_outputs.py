"""The report's analyst-facing fixes (issue 15): shrinkage labels from one scale, one ICC number,
no Python leftovers, dropped legislators by name, a warning on every plot and table of a failed
report, embedded CSV downloads and the provenance footer. Small simulated contexts, no MCMC."""

from __future__ import annotations

import html
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from legis_assets import provenance
from legis_assets.core import summaries
from legis_assets.report import render_report
from legis_assets.report.downloads import decode_href, download_link
from legis_assets.report.formatting import fmt_setting
from legis_assets.report.tables import dropped_legislators
from legis_assets_tests.report_support import make_report_context

PROV = {
    "package_version": "9.9.9",
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "run_id": "run-abc",
    "data_sha256": "f" * 64,
    "data_files": ["x_votes.csv"],
    "settings": {"profile": "default", "seed": None, "min_votes": 20},
}


def _text(doc: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>(.*?)</(table|ul|dl|p)>', doc, flags=re.S)
    assert m, element_id
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))))


@pytest.fixture(scope="module")
def ctx():
    c = make_report_context(30, passed=True)
    c.provenance = dict(PROV)
    c.manifest = dict(c.manifest or {}, legislators_dropped=["rep_gone_1", "rep_unknown_9"])
    c.legislators = pl.DataFrame(
        {"legislator_slug": ["rep_gone_1"], "full_name": ["Ann Gone"], "party": ["Democrat"], "district": ["12"]}
    )
    return c


@pytest.fixture(scope="module")
def doc(ctx) -> str:
    return render_report(ctx)


def test_movers_are_labelled_by_the_direct_computation(ctx, doc: str) -> None:
    direction = summaries.shrinkage_direction(ctx.ideal_points)
    rows = re.findall(
        r"<tr>(.*?)</tr>", doc[doc.index('id="movers"') : doc.index("</table>", doc.index('id="movers"'))], re.S
    )
    assert rows
    by_name = dict(
        zip(
            ctx.ideal_points.select(pl.coalesce("full_name", "name", "legislator_slug")).to_series().to_list(),
            ctx.ideal_points["legislator_slug"].to_list(),
        )
    )
    expected = dict(direction.select("legislator_slug", "direction").iter_rows())
    for row in rows:
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if not cells:  # the header row
            continue
        want = expected[by_name[cells[0]]]
        assert cells[-1] == ("no change" if want == "unchanged" else f"{want} party centre")
    counts = _text(doc, "shrink-counts")
    n = direction.group_by("direction").len()
    for k, v in n.iter_rows():
        assert (
            f"{v} {'moved toward' if k == 'toward' else 'away from' if k == 'away from' else 'did not move'}" in counts
        )


def test_icc_prose_and_bar_come_from_one_number(ctx, doc: str) -> None:
    icc = ctx.party_summary.filter(pl.col("parameter") == "icc")["mean"][0]
    pct = round(100 * icc)
    assert f"ICC {pct}%" in _text(doc, "icc")
    # the bar is drawn from the same number: its labels are the report's texts
    from legis_assets.report import figures

    fig = figures.variance_plot(icc, f"{pct}%", f"{100 - pct}%")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"between parties {pct}%" in texts


def test_no_python_leftovers_in_settings_and_steps(doc: str) -> None:
    assert fmt_setting(None) == "default" and fmt_setting("None") == "default"
    assert fmt_setting(True) == "yes" and fmt_setting("False") == "no" and fmt_setting(4) == "4"
    visible = html.unescape(
        re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>|<style.*?</style>", "", doc, flags=re.S))
    )
    for leftover in (" None ", " True ", " False ", " nan "):
        assert leftover not in visible, leftover
    steps = re.findall(r"<td class=\"num\">([0-9.]+)</td>\s*</tr>", doc[doc.index('id="bfmi"') :][:3000])
    assert steps and all(re.fullmatch(r"\d+\.\d", s) for s in steps)


def test_dropped_legislator_named_with_party_and_district(doc: str) -> None:
    assert dropped_legislators(["a", "b"], None) == ["a", "b"]
    text = _text(doc, "dropped")
    assert "Ann Gone (Democrat, 12) [rep_gone_1]" in text
    assert "rep_unknown_9" in text  # unknown to the legislators table: the slug alone


def test_every_plot_and_table_of_a_failed_report_carries_a_warning() -> None:
    bad = render_report(make_report_context(30, passed=False))
    good = render_report(make_report_context(30, passed=True))
    assert 'class="failed-note"' not in good
    for element_id in ("ip-table", "party-table", "variance-table", "movers", "downloads"):
        i = bad.index(f'id="{element_id}"')
        assert 'class="failed-note"' in bad[max(0, i - 600) : i], element_id
    n_figures = len(re.findall(r"<figure", bad))
    assert n_figures > 3 and len(re.findall(r'<figure class="failed-figure"><p class="failed-note"', bad)) == n_figures


def test_download_link_round_trips_a_frame() -> None:
    frame = pl.DataFrame({"name": ['Ann, "A"', "Bo\nB", "Çé"], "x": [1.5, -2.0, None]})
    d = download_link(frame, "../evil name.csv", "Test")
    assert d["filename"] == "evil_name.csv" and d["rows"] == 3 and d["href"].startswith("data:text/csv")
    back = pl.read_csv(io.BytesIO(decode_href(d["href"])))
    assert back.equals(frame)


def test_report_embeds_the_ideal_points_csv(ctx, doc: str) -> None:
    hrefs = re.findall(r'<a class="download" href="([^"]+)" download="([^"]+)"', doc)
    files = {name: href for href, name in hrefs}
    name = "simulated.91st_2025-2026_house_ideal_points.csv"
    assert name in files and {"simulated.91st_2025-2026_house_party_summary.csv"} <= set(files)
    back = pl.read_csv(io.BytesIO(decode_href(html.unescape(files[name]))))
    assert back.height == ctx.ideal_points.height
    np.testing.assert_allclose(
        back.sort("legislator_slug")["position"].to_numpy(),
        ctx.ideal_points.sort("legislator_slug")["position"].to_numpy(),
    )


def test_footer_shows_provenance(doc: str) -> None:
    text = _text(doc, "provenance")
    for part in ("legis-assets 9.9.9", "0123456789ab", "run-abc", "f" * 64, "min_votes = 20", "seed = default"):
        assert part in text, part


def test_provenance_collects_version_commit_hash_and_follows_the_data(tmp_path: Path) -> None:
    session = tmp_path / "s"
    session.mkdir()
    (session / "s_votes.csv").write_text("a,b\n1,2\n")
    (session / "notes.txt").write_text("not hashed")
    first = provenance.collect({"seed": 1}, session, "r1")
    assert first["package_version"] and first["run_id"] == "r1" and first["settings"] == {"seed": 1}
    assert first["data_files"] == ["s_votes.csv"] and len(first["data_sha256"]) == 64
    # this test runs in a checkout: a 40-hex commit (maybe marked dirty)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", first["git_commit"] or "")
    (session / "notes.txt").write_text("changed, still not hashed")
    assert provenance.collect({}, session)["data_sha256"] == first["data_sha256"]
    (session / "s_votes.csv").write_text("a,b\n1,3\n")
    assert provenance.collect({}, session)["data_sha256"] != first["data_sha256"]
    assert provenance.collect({}, tmp_path / "missing")["data_sha256"] is None


def test_provenance_outside_a_checkout_is_none_not_a_crash(tmp_path: Path) -> None:
    assert provenance.git_commit(tmp_path) is None


def test_console_is_clean_of_arviz_and_preview_notices() -> None:
    code = "import logging; logging.basicConfig(level=logging.INFO); import arviz; import legis_assets.definitions"
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import legis_assets; " + code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "arviz_base" not in out.stderr and "AssetCheckSpec is currently in preview" not in out.stderr
