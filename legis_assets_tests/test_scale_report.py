"""The common-scale report page (legis_assets.report.scale): sections, banner, escaping,
self-containment, links, size.

No MCMC: :func:`scale_report_support.make_scale_context` simulates a legislature's people (random walks, a few big
movers, House -> Senate moves, one chamber-session nobody links to), and writes the frames exactly
as the common-scale core shapes them: ``positions`` / ``party_trend`` / ``movement`` with the
columns of ``core.common_scale.summaries``, the bridge graph from the real
``core.bridge.bridge_graph`` over the same people, and the gates from ``core.diagnostics.Gate``.
The browser test (integration/test_scale_report_browser.py) reuses it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time

import numpy as np
import polars as pl
import pytest

from legis_assets.core.diagnostics import gates_frame
from legis_assets.report import scale_figures
from legis_assets.report.scale import (
    SECTIONS,
    ScaleReportContext,
    render_scale_report,
    safe_link,
    session_order,
    session_report_link,
)
from legis_assets_tests.scale_report_support import (
    HOSTILE_NAMES,
    LEGISLATURE,
    SECTION_IDS,
    fake_session_key,
    hostile_scale_context,
    make_scale_context,
)

# ---------------------------------------------------------------------------------------------
# helpers


def _section_positions(doc: str) -> list[int]:
    return [doc.find(f'<section id="{sid}"') for sid in SECTION_IDS]


def _scripts(doc: str) -> list[tuple[str, str]]:
    """(attributes, body) of every <script> element."""
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", doc, flags=re.S | re.I)


def _strip_scripts(doc: str) -> str:
    return re.sub(r"<script\b[^>]*>.*?</script>", "", doc, flags=re.S | re.I)


def _data_block(doc: str) -> dict:
    [(attrs, body)] = [(a, b) for a, b in _scripts(doc) if "application/json" in a]
    return json.loads(body)


def _section(doc: str, sid: str) -> str:
    start = doc.find(f'<section id="{sid}"')
    end = doc.find("</section>", start)
    assert start >= 0 and end > start, sid
    return doc[start:end]


@pytest.fixture(scope="module")
def passing_ctx() -> ScaleReportContext:
    return make_scale_context(60, passed=True)


@pytest.fixture(scope="module")
def passing_doc(passing_ctx) -> str:
    return render_scale_report(passing_ctx)


@pytest.fixture(scope="module")
def failing_doc() -> str:
    return render_scale_report(make_scale_context(60, passed=False))


@pytest.fixture(scope="module")
def hostile_doc() -> str:
    return render_scale_report(hostile_scale_context(60, passed=False))


# ---------------------------------------------------------------------------------------------
# structure


def test_sections_present_in_order(passing_doc: str) -> None:
    positions = _section_positions(passing_doc)
    assert all(p >= 0 for p in positions), dict(zip(SECTION_IDS, positions))
    assert positions == sorted(positions)
    assert SECTION_IDS == ["headline", "party-trends", "movers", "trajectories", "bridges", "convergence", "sessions"]
    for sid, heading in SECTIONS:  # table of contents links every section
        assert f'href="#{sid}"' in passing_doc and heading in passing_doc


def test_title_and_chamber_sessions_used(passing_ctx, passing_doc: str) -> None:
    assert f"<title>Common scale: {LEGISLATURE}</title>" in passing_doc
    headline = _section(passing_doc, "headline")
    used = passing_ctx.chamber_sessions
    assert headline.count('<tr><td dir="auto">') == used.height
    for key in used["session_key"].unique().to_list():
        assert f'<code dir="auto">{key}</code>' in headline
    assert "86th_2013-2014 \u00b7 Senate" in headline


def test_gates_table_shows_pass_fail_warn(failing_doc: str, passing_doc: str) -> None:
    assert passing_doc.count('class="status status-PASS">PASS<') >= 5
    gates = _section(failing_doc, "headline")
    assert gates.count('status-FAIL">FAIL<') == 3  # rhat, ess, divergences
    warn = render_scale_report(make_scale_context(30, warn=True))
    assert 'status-WARN">WARN<' in warn and 'id="warn-banner"' in warn
    assert 'id="failed-banner"' not in warn


def test_failed_banner_names_the_failed_gates(failing_doc: str) -> None:
    banner = re.search(r'<div class="banner fail"[^>]*id="failed-banner">(.*?)</div>', failing_doc, flags=re.S).group(1)
    assert "Do not use these estimates" in banner
    for gate in ("rhat", "ess", "divergences"):
        assert f"<strong>{gate}</strong>" in banner
    assert "ebfmi" not in banner and "agrees_with_linked" not in banner
    assert "(FAILED: do not use)" in failing_doc
    assert failing_doc.find('id="failed-banner"') < failing_doc.find('id="party-trends"')


def test_passing_page_has_no_failure_banner(passing_doc: str) -> None:
    assert "Do not use these estimates" not in passing_doc
    assert 'id="passed-banner"' in passing_doc


def test_banner_follows_passed_flag_even_without_failing_rows() -> None:
    ctx = make_scale_context(20, passed=True)
    ctx.passed = False
    doc = render_scale_report(ctx)
    assert "Do not use these estimates" in doc
    assert "records no failing gate" in doc


def test_disconnected_chamber_sessions_are_named_as_left_out(passing_ctx, passing_doc: str) -> None:
    assert passing_ctx.disconnected == [f"{LEGISLATURE}.2009s:house"]
    banner = re.search(r'id="left-out-banner"(.*?)</div>', passing_doc, flags=re.S).group(1)
    assert f"{LEGISLATURE}.2009s:house" in banner and "2009s \u00b7 House" in banner
    assert "no person links it" in banner
    bridges = _section(passing_doc, "bridges")
    assert 'class="pill bad">left out<' in bridges
    no_orphan = render_scale_report(make_scale_context(20, with_orphan=False))
    assert 'id="left-out-banner"' not in no_orphan


def test_party_trends_table_and_gap(passing_ctx, passing_doc: str) -> None:
    section = _section(passing_doc, "party-trends")
    assert section.count("<tr") - 1 == passing_ctx.party_trend.height  # minus the header row
    assert (
        section.count("party gap (R \u2212 D)")
        == passing_ctx.party_trend.filter(pl.col("quantity") == "party_gap").height
    )
    assert 'id="gap-summary"' in section and "House</strong>: the party gap went from" in section
    assert section.count('<img src="data:image/png;base64,') == 1
    # what a comparison across chamber-sessions assumes is said where the trends are read
    caveat = section.split('id="trend-caveat"', 1)[1].split("</p>", 1)[0]
    assert "party-line agenda is partly read as wider" in " ".join(caveat.split())


def test_who_moved_lists_moves_biggest_first(passing_ctx, passing_doc: str) -> None:
    section = _section(passing_doc, "movers")
    mv = passing_ctx.movement
    assert section.count("<tr data-search=") == mv.height
    sizes = [
        float(v)
        for v in re.findall(
            r'<td class="num" data-sort="([^"]*)">[^<]*</td>\s*<td class="num" '
            r'data-sort="[^"]*">[^<]* to ',
            section,
        )
    ]
    assert len(sizes) == mv.height
    assert [abs(v) for v in sizes] == sorted((abs(v) for v in sizes), reverse=True)
    n_moved = int(mv["moved"].sum())
    assert f"{n_moved} of {mv.height} moves do" in section
    assert section.count('class="pill bad">yes<') == n_moved
    # the two big movers are first in the figure's list
    top = scale_figures.top_movers(mv)
    assert set(top[:2]) == {"slug:p0000", "slug:p0002"}
    assert section.count('<img src="data:image/png;base64,') == 1


def test_top_movers_only_counts_real_moves() -> None:
    mv = pl.DataFrame(
        {"person_id": ["a", "b", "c", "c"], "mean": [2.0, -0.5, 0.1, -1.0], "moved": [False, True, True, True]}
    )
    assert scale_figures.top_movers(mv) == ["c", "b"]
    assert scale_figures.top_movers(mv.with_columns(moved=pl.lit(False))) == []


def test_trajectory_data_block(passing_ctx, passing_doc: str) -> None:
    data = _data_block(passing_doc)
    pos = passing_ctx.positions
    assert len(data["people"]) == pos["person_id"].n_unique()
    assert sum(len(p["s"]) for p in data["people"]) == pos.height
    assert data["sessions"] == [f"{85 + t}th_{2011 + 2 * t}-{2012 + 2 * t}" for t in range(4)]
    # the table's rows point at the right person in the data block
    section = _section(passing_doc, "trajectories")
    assert section.count("<tr data-search=") == pos.height
    rows = re.findall(r'<tr data-search="[^"]*" data-person="(\d+)"><td class="name" data-sort="([^"]*)">', section)
    assert len(rows) == pos.height
    for person, name in rows:
        assert data["people"][int(person)]["n"] == html.unescape(name)
    big = next(p for p in data["people"] if p["n"] == "Member 0000")
    assert big["m"] >= 1 and len(big["s"]) == 4
    xs = [s[0] for s in big["s"]]
    assert xs == sorted(xs)
    for s in big["s"]:
        assert s[3] <= s[2] <= s[4]


def test_bridge_section(passing_ctx, passing_doc: str) -> None:
    section = _section(passing_doc, "bridges")
    live = passing_ctx.bridge_edges.filter(pl.col("shared") > 0)
    assert section.count("<tr data-search=") == live.height
    assert section.count('class="pill bad">thin<') == int(live["thin"].sum())
    assert f"of {passing_ctx.bridge_edges.height} pairs share at least one person" in section
    assert section.count("component ") >= 2 and 'class="pill good">main<' in section
    assert section.count('<img src="data:image/png;base64,') == 1


def test_thin_bridges_are_marked() -> None:
    ctx = make_scale_context(12, n_sessions=3, with_orphan=False, seed=3)
    thin = ctx.bridge_edges.filter(pl.col("thin"))
    assert thin.height > 0  # 12 people over 3 sessions: some pairs share only a few
    doc = render_scale_report(ctx)
    assert _section(doc, "bridges").count('<tr data-search="') == ctx.bridge_edges.filter(pl.col("shared") > 0).height
    assert doc.count('class="thin"') == thin.height


def test_convergence_section_shows_sampler(passing_doc: str) -> None:
    section = _section(passing_doc, "convergence")
    for text in (
        "total time",
        "12 min 34 s",
        "leapfrog steps per draw",
        "31.5",
        "bulk ESS per second",
        "1.90",
        "chains",
        "kept draws per chain",
        "1,000",
        "kernel",
    ):
        assert text in section, text
    assert section.count('class="status status-') == 5


def test_links_to_each_chamber_session_report(passing_ctx, passing_doc: str) -> None:
    section = _section(passing_doc, "sessions")
    hrefs = re.findall(r'<a href="([^"]*)"', section)
    expected = {
        f"../{k.split('.', 1)[1]}/{c}/report.html"
        for k, c in passing_ctx.chamber_sessions.select("session_key", "chamber").iter_rows()
    }
    expected.add("../2009s/house/report.html")  # the left-out one still has its own report
    assert set(hrefs) == expected
    assert session_report_link("kansas.91st_2025-2026", "House") == "../91st_2025-2026/house/report.html"


def test_explicit_links_and_unsafe_links_dropped() -> None:
    ctx = make_scale_context(20, with_orphan=False)
    ids = ctx.chamber_sessions["chamber_session"].to_list()
    ctx.links = {
        ids[0]: "javascript:alert(1)",
        ids[1]: "https://evil.example/x",
        ids[2]: "//evil.example/x",
        ids[3]: '../custom/path.html?x=1&y="2"',
    }
    doc = render_scale_report(ctx)
    hrefs = re.findall(r'<a href="([^"]*)"', _section(doc, "sessions"))
    assert hrefs == ["../custom/path.html?x=1&amp;y=&#34;2&#34;"]
    assert "javascript:" not in doc and "evil.example" not in doc
    assert "Links not shown (not relative paths)" in doc
    ctx.links = {}
    assert "<a href=" not in _section(render_scale_report(ctx), "sessions")


def test_safe_link() -> None:
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:x",
        " http://x",
        "https://x",
        "//x",
        "data:text/html,x",
        "\\\\server\\x",
        "a\nb",
        "",
        None,
    ):
        assert safe_link(bad) is None, bad
    for good in ("../91st/house/report.html", "report.html", "#headline", "a b.html"):
        assert safe_link(good) == good


def test_session_order_follows_the_core(passing_ctx) -> None:
    order = session_order(passing_ctx)
    assert list(order) == [f"{LEGISLATURE}.2009s"] + [fake_session_key(t) for t in range(4)]
    assert list(order.values()) == list(range(5))


# ---------------------------------------------------------------------------------------------
# escaping and self-containment


def test_hostile_names_are_escaped(hostile_doc: str) -> None:
    outside = _strip_scripts(hostile_doc)
    assert "<script>alert" not in hostile_doc
    assert "<img src=x" not in hostile_doc
    assert "onerror=alert" not in outside.replace("&lt;img src=x onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outside
    assert "&lt;/script&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in outside
    assert "&#34;quotes&#34; &amp; &#39;apostrophes&#39;" in outside
    assert "שלום עליכם" in outside
    assert "A" * 2500 + " " + "B" * 2499 in outside  # the full long name, in the cell's title
    # the data block: no markup can close it, and it parses back to the very names
    scripts = _scripts(hostile_doc)
    assert len(scripts) == 2
    data_attrs, data_body = scripts[0]
    assert 'type="application/json"' in data_attrs
    assert "<" not in data_body and ">" not in data_body and "&" not in data_body
    assert "\u2028" not in data_body and "\u2029" not in data_body
    names = {p["n"] for p in json.loads(data_body)["people"]}
    assert set(HOSTILE_NAMES) <= names
    code_attrs, code = scripts[1]
    assert code_attrs == ""
    for name in HOSTILE_NAMES:  # no input reaches the executed script
        assert name not in code
    assert "could not be drawn" not in hostile_doc  # names through plot_label: mathtext never parses them


def test_hostile_party_session_and_gate_names_are_escaped() -> None:
    ctx = make_scale_context(20, passed=False)
    bad = "<b onmouseover=alert(5)>x</b>"
    ctx.positions = ctx.positions.with_columns(
        party=pl.when(pl.col("person_id") == "slug:p0001").then(pl.lit(bad)).otherwise(pl.col("party"))
    )
    ctx.gates = ctx.gates.with_columns(metric=pl.lit(bad), description=pl.lit(bad))
    ctx.disconnected = ctx.disconnected + [f"{LEGISLATURE}.<i>evil</i>:house"]
    ctx.sampler = {**ctx.sampler, bad: bad}
    ctx.scale = bad
    doc = render_scale_report(ctx)
    assert "<b onmouseover" not in doc and "<i>evil" not in doc
    assert "&lt;b onmouseover=alert(5)&gt;x&lt;/b&gt;" in doc
    assert "&lt;i&gt;evil&lt;/i&gt;" in doc


def test_csp_pins_inline_style_and_script(hostile_doc: str) -> None:
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', hostile_doc).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    style = re.search(r"<style>(.*?)</style>", hostile_doc, flags=re.S).group(1)
    code = [b for a, b in _scripts(hostile_doc) if "application/json" not in a]
    assert len(code) == 1
    for block in (style, code[0]):
        digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert csp.count("'sha256-") == 2  # the data block is not allowed to run (and need not be)
    assert "style=" not in _strip_scripts(hostile_doc).replace("<style>", "")
    assert not re.search(r"\son[a-z]+\s*=", _strip_scripts(hostile_doc).replace("onerror=alert(2)", ""))


def test_no_remote_resources(hostile_doc: str, passing_doc: str) -> None:
    for doc in (hostile_doc, passing_doc):
        assert not re.search(r"""(src|href|action|poster|data)\s*=\s*["']?\s*(https?:)?//""", doc, flags=re.I)
        assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", doc, flags=re.I)
        assert "@import" not in doc
        assert "https://" not in doc
        # the one http:// is the SVG namespace string inside the script (a name, never fetched)
        assert _strip_scripts(doc).count("http://") == 0
        for src in re.findall(r"""\ssrc\s*=\s*["']([^"']*)""", doc):
            assert src.startswith("data:image/png;base64,")
        for href in re.findall(r"""\shref\s*=\s*["']([^"']*)""", doc):
            assert href.startswith(("#", "../")) or href == "data:,", href


def test_figures_are_embedded_pngs(passing_doc: str) -> None:
    srcs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', passing_doc)
    assert len(srcs) == 3  # party trends, movers, bridge graph
    for s in srcs:
        assert base64.b64decode(s)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "could not be drawn" not in passing_doc


def test_report_modules_do_not_import_dagster() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "legis_assets" / "report"
    for source in (root / "scale.py", root / "scale_figures.py"):
        assert not re.search(r"^\s*(import|from)\s+dagster", source.read_text(encoding="utf-8"), flags=re.M)


# ---------------------------------------------------------------------------------------------
# degenerate and large inputs


def test_nobody_moved_and_no_trend() -> None:
    ctx = make_scale_context(20, with_orphan=False)
    ctx.movement = ctx.movement.with_columns(moved=pl.lit(False))
    ctx.party_trend = ctx.party_trend.clear()
    doc = render_scale_report(ctx)
    assert all(p >= 0 for p in _section_positions(doc))
    assert "no move's 90% interval excludes zero" in doc
    assert "No party trend was recorded" in doc
    assert "could not be drawn" not in doc
    ctx.movement = ctx.movement.clear()
    assert "Nobody sat in more than one chamber-session" in render_scale_report(ctx)


def test_missing_optional_inputs() -> None:
    ctx = make_scale_context(15, passed=False)
    ctx.sampler = {}
    ctx.gates = ctx.gates.clear()
    ctx.bridge_edges = ctx.bridge_edges.clear()
    ctx.bridge_nodes = ctx.bridge_nodes.clear()
    ctx.positions = ctx.positions.drop("sd", "name")
    doc = render_scale_report(ctx)
    assert all(p >= 0 for p in _section_positions(doc))
    assert "No sampler information was recorded" in doc and "No gate results were recorded" in doc
    assert "Do not use these estimates" in doc
    # without names the slug names the person
    assert "rep_p0000_1" in _section(doc, "trajectories") or "sen_p0000_1" in _section(doc, "trajectories")


def test_figure_failure_is_a_note_not_a_crash(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("no figure <today>")

    monkeypatch.setattr(scale_figures, "bridge_plot", boom)
    doc = render_scale_report(make_scale_context(15))
    assert "could not be drawn: RuntimeError: no figure &lt;today&gt;" in doc
    assert all(p >= 0 for p in _section_positions(doc))


def test_renders_a_congress_sized_scale() -> None:
    """~1,000 people in ~1,300+ person-slots: the page renders (its time is printed, never bounded:
    shared CI machines run several times slower), figures show the top movers only, and every
    position is in the searchable table."""
    ctx = make_scale_context(1000, n_sessions=6, seed=1)
    start = time.perf_counter()
    doc = render_scale_report(ctx)
    seconds = time.perf_counter() - start
    print(f"render_scale_report({ctx.positions.height} positions): {seconds:.2f} s, {len(doc) / 1e6:.2f} MB")
    assert ctx.positions.height > 1300
    assert _section(doc, "trajectories").count("<tr data-search=") == ctx.positions.height
    assert len(_data_block(doc)["people"]) == 1000
    assert "could not be drawn" not in doc
    assert len(doc) < 25e6
    assert "The chart shows the 12" in doc


# ---------------------------------------------------------------------------------------------
# the real core's outputs (no MCMC: a posterior drawn around the simulated truth)


def test_from_common_with_the_real_core_outputs() -> None:
    """ScaleReportContext.from_common on the shapes the core writes: CommonScaleData of a small
    simulated legislature, its posterior's reported quantities (identify.add_common_normalised) and
    summaries.positions / party_trend / movement, the gates of fit.evaluate_common_gates."""
    import arviz as az

    from legis_assets.core import simulate
    from legis_assets.core.common_scale import (
        ChamberSession,
        add_common_normalised,
        build_common_data,
        evaluate_common_gates,
        movement,
        party_trend,
        positions,
    )
    from legis_assets.core.people import build_people
    from legis_assets.report.scale import sampler_info
    from legis_assets_tests.support import matrix_from_sim

    specs = {
        "house": simulate.ChamberSpec(seats=16, n_rollcalls=60),
        "senate": simulate.ChamberSpec(seats=10, n_rollcalls=50, replacements=1),
    }
    sim = simulate.simulate_legislature(seed=7, n_sessions=3, specs=specs)
    css, legs = [], []
    for session, chambers in sim.sessions.items():
        for chamber, part in chambers.items():
            css.append(ChamberSession(f"sim.{session}", chamber, matrix_from_sim(part)))
            legs.append((f"sim.{session}", chamber, part.truth))
    data = build_common_data(css, build_people(legs))
    truth = sim.truth.with_columns(session_key=pl.lit("sim.") + pl.col("session"))
    xi_true = data.slots.join(
        truth.select("session_key", "chamber", "legislator_slug", "xi_true"),
        on=["session_key", "chamber", "legislator_slug"],
        how="left",
    )["xi_true"].fill_null(0.0)
    rng = np.random.default_rng(0)
    chains, draws = 2, 200
    xi = xi_true.to_numpy()[None, None, :] + rng.normal(0, 0.15, (chains, draws, data.n_slots))
    idata = az.from_dict(
        posterior={"xi": xi, "tau": np.abs(rng.normal(0.2, 0.02, (chains, draws)))},
        sample_stats={"diverging": np.zeros((chains, draws), bool), "energy": rng.normal(0, 1, (chains, draws))},
        coords={"slot": data.slot_labels()},
        dims={"xi": ["slot"]},
    )
    add_common_normalised(idata, data)
    idata.posterior.attrs.update(
        compile_seconds=3.0,
        sample_seconds=40.0,
        grad_evals=64_000,
        attempts=1,
        backend="kernel",
        settings_chains="2",
        settings_tune="200",
        settings_draws="200",
        settings_profile="default",
    )
    gates, _ = evaluate_common_gates(idata, data)
    gf = gates_frame(gates)
    ctx = ScaleReportContext.from_common(
        "sim",
        data,
        gf,
        positions(idata, data),
        party_trend(idata, data),
        movement(idata, data),
        sampler=sampler_info(idata.posterior.attrs, gf),
        generated_at="2026-12-02T08:00:00+00:00",
    )
    assert ctx.passed == all(g.passed for g in gates if g.severity == "error")
    assert ctx.chamber_sessions.height == data.chamber_sessions.height
    assert ctx.sampler["seconds"] == 43.0 and ctx.sampler["chains"] == 2
    assert ctx.sampler["steps_per_draw"] == pytest.approx(64_000 / (2 * 400))
    doc = render_scale_report(ctx)
    assert all(p >= 0 for p in _section_positions(doc))
    assert "could not be drawn" not in doc
    pos = ctx.positions
    assert _section(doc, "trajectories").count("<tr data-search=") == pos.height
    assert _section(doc, "movers").count("<tr data-search=") == ctx.movement.height
    assert len(_data_block(doc)["people"]) == pos["person_id"].n_unique()
    assert (
        len(re.findall(r'<a href="\.\./[^"]+/(house|senate)/report\.html"', _section(doc, "sessions")))
        == data.chamber_sessions.height + data.excluded.height
    )
    # the chamber movers of the simulation show as chamber changes
    if sim.chamber_movers:
        assert 'class="tag">changed chamber<' in doc


def test_chamber_sessions_named_by_id_only() -> None:
    ctx = make_scale_context(20, with_orphan=False)
    ctx.chamber_sessions = ctx.chamber_sessions.select("chamber_session", "legislators", "rollcalls")
    doc = render_scale_report(ctx)
    headline = _section(doc, "headline")
    assert f'<code dir="auto">{fake_session_key(0)}</code>' in headline
    assert "85th_2011-2012 \u00b7 House" in headline
    assert "../85th_2011-2012/house/report.html" in _section(doc, "sessions")
