"""What `legis-assets run`, `pipeline` and `scale` print when they end: per partition the published
model's gates, its traces (backend, timings) and reports; per legislature the common scale's summary
(scale_status.py). Reads the warehouse and LEGIS_HOME only."""

from __future__ import annotations

from pathlib import Path


def trace_attrs(path: Path) -> dict:
    import xarray as xr

    try:
        with xr.open_dataset(path, group="posterior") as ds:
            return dict(ds.attrs)
    except Exception:  # a report of what exists must never fail the command
        return {}


def print_outputs(settings, parts) -> None:
    from legis_assets.storage import Warehouse

    print("\n=== built ===")
    print(f"warehouse: {settings.warehouse_path}")
    wh = Warehouse(settings.warehouse_path)
    for part in parts:
        print(f"  {part}")
        try:
            # the published model's gates: the hierarchical model's, or the flat model's where the
            # hierarchical model was not fitted (one party, none, a pooled party too small)
            gates = wh.query(
                "SELECT model, gate, value, threshold, status FROM convergence_diagnostics "
                "WHERE session_key = ? AND chamber = ? ORDER BY model, gate",
                [part.key.key, part.chamber],
            )
            models_seen = set(gates["model"].to_list())
            published = "hierarchical" if "hierarchical" in models_seen else "flat"
            rows = gates.filter(gates["model"] == published).iter_rows()
            label = "" if published == "hierarchical" else " (flat model: the hierarchical model was not fitted)"
            from legis_assets.scale_status import number

            print(f"    gates{label}: " + ", ".join(f"{g} {number(v)} {s}" for _, g, v, _, s in rows))
        except Exception:
            print("    gates: (not computed)")
        traces = settings.home / "traces" / part.key.legislature / part.key.session / part.chamber
        print(f"    traces: {traces}")
        for trace in sorted(traces.glob("*.nc")) if traces.exists() else []:
            attrs = trace_attrs(trace)
            if attrs:
                print(
                    f"      {trace.name}: {attrs.get('model')} ({attrs.get('backend')}), "
                    f"compile {float(attrs.get('compile_seconds', 'nan')):.1f} s, "
                    f"sample {float(attrs.get('sample_seconds', 'nan')):.1f} s, "
                    f"{attrs.get('grad_evals')} gradient evaluations"
                )
        reports = settings.home / "reports" / part.key.legislature / part.key.session / part.chamber
        if reports.exists():
            for html in sorted(reports.glob("*.html")):
                print(f"    report: {html}")
    print('\nQuery the results:  .venv/bin/legis-assets sql "SELECT * FROM ideal_points LIMIT 10"')
    print("Open the Dagster UI: make ui   (then http://127.0.0.1:3000)")


def print_scales(settings, legislatures) -> None:
    from legis_assets.scale_status import scale_summary

    if legislatures:
        print("\n=== common scale ===")
    for legislature in legislatures:
        for line in scale_summary(settings, legislature):
            print(line)


def metadata_number(value) -> str:
    from legis_assets.scale_status import number

    value = getattr(value, "value", value)
    try:
        return number(value)
    except (TypeError, ValueError):
        return str(value)
