"""What every step returns, for the per-partition steps (pipeline.py) and the common scale's
(scale_pipeline.py) alike: metadata as plain values (`Markdown`, `TableMarkdown`, `PathValue` say
how to show a string) and the outcomes of its checks; and the plain-Python runner of a list of
steps (`run_steps`, the CLI path). No Dagster imports here (defs/assets.py turns these into
Dagster's metadata and check results)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from legis_assets.core.diagnostics import Severity


class Markdown(str):
    """A metadata value to show as Markdown."""


class TableMarkdown(Markdown):
    """A small table as Markdown that keeps its frame (`.frame`, the rows shown), so the Dagster
    layer can record it as a typed table with a column schema."""

    frame: pl.DataFrame


class PathValue(str):
    """A metadata value that is a file path."""


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity  # "error" checks are blocking
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutput:
    metadata: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)


def md_table(frame: pl.DataFrame, float_fmt: str = "{:.3f}", max_rows: int = 12) -> TableMarkdown:
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(max_rows).iter_rows():
        cells = [float_fmt.format(v) if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
        cells = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if frame.height > max_rows:
        lines.append(f"\n({frame.height - max_rows} more rows)")
    table = TableMarkdown("\n".join(lines))
    table.frame = frame.head(max_rows)
    return table


def run_steps(
    runner: Any,
    key: Any,
    names: tuple[str, ...],
    label: str,
    failure: Callable[[list[CheckOutcome]], Exception],
) -> dict[str, StepOutput]:
    """`runner.<name>(key)` for each step name in order, saying `<label>: <name> ...` through
    `runner.say`; stops with `failure(failed checks)` at the first step whose ERROR check fails
    (the steps after it must not read its result)."""
    outputs: dict[str, StepOutput] = {}
    for name in names:
        runner.say(f"{label}: {name} ...")
        out = getattr(runner, name)(key)
        outputs[name] = out
        failed = [c for c in out.checks if c.severity == "error" and not c.passed]
        if failed:
            raise failure(failed)
    return outputs
