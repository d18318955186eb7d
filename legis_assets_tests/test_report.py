"""The HTML report (legis_assets.report): structure, gates and banner, escaping, self-containment.

No MCMC here: :func:`make_report_context` builds posteriors from known normals with
``az.from_dict`` and derives the tables with the real core summaries, so the report sees
exactly the shapes the pipeline produces. The browser test (integration/test_report_browser.py)
reuses it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from pathlib import Path

import polars as pl
import pytest

from legis_assets.core import diagnostics, summaries
from legis_assets.report import ReportContext, figures, render_report
from legis_assets_tests.report_support import HOSTILE_NAMES, SECTION_IDS, hostile_context, make_report_context

STATIC = Path(__file__).resolve().parents[1] / "legis_assets" / "report" / "static"


# ---------------------------------------------------------------------------------------------
# helpers


def _section_positions(doc: str) -> list[int]:
    return [doc.find(f'<section id="{sid}"') for sid in SECTION_IDS]


def _inline_scripts(doc: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>(.*?)</script>", doc, flags=re.S | re.I)


def _strip_scripts(doc: str) -> str:
    return re.sub(r"<script\b[^>]*>.*?</script>", "", doc, flags=re.S | re.I)


@pytest.fixture(scope="module")
def passing_doc() -> str:
    return render_report(make_report_context(40, passed=True))


@pytest.fixture(scope="module")
def failing_doc() -> str:
    return render_report(make_report_context(40, passed=False))


@pytest.fixture(scope="module")
def hostile_doc() -> str:
    return render_report(hostile_context(40))


# ---------------------------------------------------------------------------------------------
# structure


def test_sections_present_in_order(passing_doc: str) -> None:
    positions = _section_positions(passing_doc)
    assert all(p >= 0 for p in positions), dict(zip(SECTION_IDS, positions))
    assert positions == sorted(positions)
    assert SECTION_IDS == ["headline", "ideal-points", "party-posteriors", "shrinkage", "convergence", "data"]
    # each section has a heading and a plain-words explanation under it
    for sid, nxt in zip(SECTION_IDS, SECTION_IDS[1:] + [None]):
        start = passing_doc.find(f'<section id="{sid}"')
        end = passing_doc.find(f'<section id="{nxt}"') if nxt else len(passing_doc)
        body = passing_doc[start:end]
        assert "<h2" in body and 'class="lede"' in body, sid


def test_title_names_session_and_chamber(passing_doc: str) -> None:
    title = re.search(r"<title>(.*?)</title>", passing_doc, flags=re.S).group(1)
    assert "simulated.91st_2025-2026" in title and "House" in title
    assert "FAILED" not in title


def test_explains_rank_and_scale(passing_doc: str) -> None:
    text = html.unescape(passing_doc)
    assert "Rank 1 is the most liberal (leftmost) legislator" in text
    assert "hierarchical model's scale" in text and "left party is negative" in text


def test_headline_data_size_and_sampler(passing_doc: str) -> None:
    headline = passing_doc[passing_doc.find('<section id="headline"') : passing_doc.find('<section id="ideal-points"')]
    assert 'id="data-size"' in headline and 'id="gates"' in headline and 'id="sampler"' in headline
    assert "roll calls" in headline and "observations" in headline
    assert "31.5 s" in headline and "123,456" in headline  # sample time, gradient evaluations
    assert "hierarchical_identified" in headline


def test_gates_table_shows_pass_fail_warn(failing_doc: str, passing_doc: str) -> None:
    for doc in (failing_doc, passing_doc):
        assert 'class="status status-PASS">PASS<' in doc
        assert 'class="status status-WARN">WARN<' in doc
    assert 'class="status status-FAIL">FAIL<' in failing_doc
    assert 'class="status status-FAIL">FAIL<' not in passing_doc
    gates = re.search(r'<table id="gates">(.*?)</table>', failing_doc, flags=re.S).group(1)
    assert gates.count('class="gate-row') == 9  # 5 hierarchical + 4 flat


def test_failed_report_shows_banner_and_failing_gates(failing_doc: str) -> None:
    assert 'id="failed-banner"' in failing_doc
    assert "Do not use these estimates: the sampler did not converge" in failing_doc
    banner = re.search(r'<div class="banner fail"[^>]*>(.*?)</div>', failing_doc, flags=re.S).group(1)
    assert "<strong>rhat</strong>" in banner and "<strong>divergences</strong>" in banner
    assert "<strong>ess</strong>" in banner
    assert "<strong>ebfmi</strong>" not in banner  # a WARN gate is not a failure
    assert "What to do" in banner and "longer sampling profile" in banner
    # the banner comes before everything else in the page body
    assert failing_doc.find('id="failed-banner"') < failing_doc.find('id="headline-h"')
    assert "FAILED" in re.search(r"<title>(.*?)</title>", failing_doc).group(1)


def test_passing_report_has_no_failure_banner(passing_doc: str) -> None:
    assert "Do not use these estimates" not in passing_doc
    assert 'id="failed-banner"' not in passing_doc
    assert 'id="passed-banner"' in passing_doc
    assert 'id="warn-banner"' in passing_doc  # the E-BFMI WARN is mentioned


def test_banner_follows_passed_flag_even_without_failing_rows() -> None:
    ctx = make_report_context(12, passed=True)
    ctx.passed = False
    doc = render_report(ctx)
    assert "Do not use these estimates: the sampler did not converge" in doc


def test_independent_is_listed_with_flat_model(passing_doc: str) -> None:
    rows = re.findall(r"<tr data-search=\"[^\"]*\"( class=\"flat-only\")?>", passing_doc)
    assert len(rows) == 40
    assert sum(1 for r in rows if r) == 1
    assert "Independent" in passing_doc


# ---------------------------------------------------------------------------------------------
# escaping


def test_hostile_names_are_escaped(hostile_doc: str) -> None:
    assert "<script>alert" not in hostile_doc
    assert "<img src=x" not in hostile_doc
    assert "onerror=alert" not in _strip_scripts(hostile_doc).replace("&lt;img src=x onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_doc
    assert "&#34;quotes&#34; &amp; &#39;apostrophes&#39;" in hostile_doc
    assert "Robert&#39;); DROP TABLE votes;--" in hostile_doc
    assert "שלום עליכם" in hostile_doc
    assert "A" * 2500 + " " + "B" * 2499 in hostile_doc  # full long name kept (in the cell's title)
    # the only scripts are our own, byte-identical to the packaged file (no input inside)
    scripts = _inline_scripts(hostile_doc)
    assert scripts == [(STATIC / "tables.js").read_text(encoding="utf-8")]
    for name in HOSTILE_NAMES:
        assert name[:20] not in scripts[0]


def test_hostile_party_district_problem_and_dropped_slug_are_escaped() -> None:
    ctx = make_report_context(
        15,
        names=["<script>alert(1)</script>"],
        parties=["Republican"] * 7 + ["Democrat"] * 6 + ["<b>Green</b>", "Independent"],
    )
    ctx.ideal_points = ctx.ideal_points.with_columns(
        district=pl.when(pl.col("legislator_slug") == "rep_member001_x_1")
        .then(pl.lit("<iframe src=//evil>"))
        .otherwise(pl.col("district"))
    )
    ctx.manifest["legislators_dropped"].append("<svg onload=alert(3)>")
    ctx.problems.append("</li><script>alert(4)</script>")
    doc = render_report(ctx)
    body = _strip_scripts(doc)
    for raw in ("<b>Green</b>", "<iframe", "<svg onload", "<script>alert", "</li><script>"):
        assert raw not in body
    for escaped in (
        "&lt;b&gt;Green&lt;/b&gt;",
        "&lt;iframe src=//evil&gt;",
        "&lt;svg onload=alert(3)&gt;",
        "&lt;/li&gt;&lt;script&gt;alert(4)&lt;/script&gt;",
    ):
        assert escaped in doc


def test_csp_pins_inline_style_and_script(hostile_doc: str) -> None:
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', hostile_doc).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "unsafe-inline" not in csp
    style = re.search(r"<style>(.*?)</style>", hostile_doc, flags=re.S).group(1)
    script = _inline_scripts(hostile_doc)[0]
    for block in (style, script):
        digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "style=" not in _strip_scripts(hostile_doc).replace("<style>", "")  # no inline style attributes


def test_plot_label_never_enables_mathtext() -> None:
    assert figures.plot_label("$x$") == r"\$x\$"
    assert figures.plot_label("a\nb\tc") == "a b c"
    assert len(figures.plot_label("x" * 5000)) == 40
    # matplotlib has no bidi: right-to-left runs are put into visual order, the rest untouched
    assert figures.plot_label("שלום עליכם (D)") == "םכילע םולש (D)"


def test_report_package_does_not_import_dagster() -> None:
    """The report package and the core modules it uses stay free of dagster."""
    root = Path(__file__).resolve().parents[1] / "legis_assets"
    sources = [*(root / "report").rglob("*.py"), root / "core" / "diagnostics.py", root / "core" / "summaries.py"]
    for source in sources:
        assert not re.search(r"^\s*(import|from)\s+dagster", source.read_text(encoding="utf-8"), flags=re.M), source


# ---------------------------------------------------------------------------------------------
# self-contained


def test_no_remote_resources(hostile_doc: str, passing_doc: str) -> None:
    for doc in (hostile_doc, passing_doc):
        assert not re.search(r"""(src|href|action|poster|data)\s*=\s*["']?\s*(https?:)?//""", doc, flags=re.I)
        assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", doc, flags=re.I)
        assert "@import" not in doc
        assert "http://" not in doc and "https://" not in doc
        for src in re.findall(r"""\ssrc\s*=\s*["']([^"']*)""", doc):
            assert src.startswith("data:image/png;base64,")
        for href in re.findall(r"""\shref\s*=\s*["']([^"']*)""", doc):
            # in-page anchors, the empty favicon, and the embedded CSV downloads (report/downloads.py)
            assert href.startswith(("#", "data:text/csv;charset=utf-8;base64,")) or href == "data:,"


def test_figures_are_embedded_pngs(passing_doc: str) -> None:
    srcs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', passing_doc)
    # forest, party densities, variance, shrinkage, R-hat/ESS, trace+rank, energy, scree, PC1
    assert len(srcs) == 9
    for s in srcs:
        assert base64.b64decode(s)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "could not be drawn" not in passing_doc


def test_party_colours() -> None:
    colours = figures.party_colours(["Republican", "Democrat", "Independent", "Green", "Libertarian"])
    assert colours["Republican"] == figures.REPUBLICAN_RED
    assert colours["Democrat"] == figures.DEMOCRAT_BLUE
    assert colours["Independent"] == figures.INDEPENDENT_GREY
    assert colours["Green"] in figures.OTHER_PARTY_COLOURS and colours["Libertarian"] in figures.OTHER_PARTY_COLOURS
    assert colours["Green"] != colours["Libertarian"]


def test_third_party_renders() -> None:
    parties = ["Republican"] * 6 + ["Democrat"] * 5 + ["Green"] * 3 + ["Independent"]
    doc = render_report(make_report_context(15, parties=parties))
    assert "could not be drawn" not in doc
    assert re.search(r'class="party party-\d+">Green<', doc)


def test_optional_inputs_missing() -> None:
    ctx = make_report_context(12, passed=False)
    ctx.ideal_points = None
    ctx.party_summary = None
    ctx.flat = None
    ctx.sampler = {}
    ctx.manifest = {}
    ctx.explained_variance = []
    del ctx.hierarchical.sample_stats["energy"]
    doc = render_report(ctx)
    assert all(p >= 0 for p in _section_positions(doc))
    assert "Do not use these estimates" in doc
    assert "No flat-model estimates are available" in doc
    # no ideal_points table: the report shows none (it never recomputes the table from the posterior)
    assert doc.count('<tr data-search="') == 0 and ">0 legislators<" in doc


# ---------------------------------------------------------------------------------------------
# size


@pytest.mark.parametrize("n", [40, 450])
def test_renders_small_and_large_chambers(n: int) -> None:
    ctx = hostile_context(n, chamber="house" if n > 100 else "senate")
    start = time.perf_counter()
    doc = render_report(ctx)
    seconds = time.perf_counter() - start
    print(f"render_report({n} legislators): {seconds:.2f} s, {len(doc) / 1e6:.2f} MB")
    assert all(p >= 0 for p in _section_positions(doc))
    assert doc.count('<tr data-search="') == n
    assert "could not be drawn" not in doc
    large = "The most liberal and most conservative legislators" in doc
    assert large == (n > figures.FOREST_LABEL_MAX)


# ---------------------------------------------------------------------------------------------
# a chamber without a hierarchical model (one party, none, a pooled party too small)


def flat_only_context(
    n: int = 20, reason: str = "no Democrat legislator <left> after filtering", passed: bool = True
) -> ReportContext:
    """The context the pipeline gives a chamber whose hierarchical model was not fitted: the flat
    posterior is the published one, its gates are the only (and the blocking) ones."""
    ctx = make_report_context(n, parties=["Republican"] * n, passed=True)
    legislators = ctx.ideal_points.select("legislator_slug", "name", "full_name", "party", "district", "n_votes")
    gates, params = diagnostics.evaluate_gates(ctx.flat, ("xi_norm",))
    ctx.hierarchical = None
    ctx.hierarchical_fitted = False
    ctx.hierarchical_reason = reason
    ctx.passed = passed
    ctx.ideal_points = summaries.flat_ideal_points(ctx.flat, legislators)
    ctx.party_summary = None
    ctx.gates = diagnostics.gates_frame(gates).with_columns(model=pl.lit("flat")).select("model", pl.exclude("model"))
    ctx.parameters = params.with_columns(model=pl.lit("flat")).select(
        "model", "group", "parameter", "rhat", "ess_bulk", "ess_tail"
    )
    ctx.sampler = {"flat": ctx.sampler["flat"]}
    ctx.built_from = {"run_id": "abc123", "flat_sha256": "f" * 64, "hierarchical_sha256": ""}
    return ctx


def test_flat_only_report_says_the_hierarchical_model_was_not_fitted_and_why() -> None:
    doc = render_report(flat_only_context())
    text = html.unescape(doc)
    assert (
        "Hierarchical model not fitted: no Democrat legislator <left> after filtering; estimates are from "
        "the flat model" in text
    )
    assert "no Democrat legislator &lt;left&gt;" in doc  # the reason is escaped like every input
    # no party or shrinkage sections (nor their table-of-contents entries); the rest renumbered
    assert '<section id="party-posteriors"' not in doc and '<section id="shrinkage"' not in doc
    assert 'href="#party-posteriors"' not in doc and 'href="#shrinkage"' not in doc
    assert "3. Convergence diagnostics" in text and "4. Data" in text
    # every legislator, from the flat model, with rank intervals; the flat gates block publication
    assert doc.count('<tr data-search="') == 20 and 'class="flat-only"' not in doc
    gate_rows = re.findall(r'<tr class="gate-row gate-(\w+)">\s*<td>(\w+)</td>.*?<td>(yes|no)</td>', doc, flags=re.S)
    assert {(model, blocking) for _, model, blocking in gate_rows} == {("flat", "yes"), ("flat", "no")}
    assert "Built from run abc123" in text and "could not be drawn" not in doc


def test_flat_only_failed_report_keeps_the_notice_and_the_failure_banner() -> None:
    doc = render_report(flat_only_context(passed=False))
    assert 'id="failed-banner"' in doc and 'id="not-fitted-banner"' in doc


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("../../common_scale/report.html", True),
        (None, False),
        ("https://example.org/scale.html", False),
        ("//example.org/scale.html", False),
        ("javascript:alert(1)", False),
    ],
)
def test_links_to_the_common_scale_page_only_by_a_relative_url(link, shown) -> None:
    import dataclasses

    ctx = dataclasses.replace(make_report_context(), scale_report_link=link)
    doc = render_report(ctx)
    assert ('id="scale-link"' in doc) is shown
    if shown:
        assert 'href="../../common_scale/report.html"' in doc
    assert "example.org" not in doc and "javascript:" not in doc
