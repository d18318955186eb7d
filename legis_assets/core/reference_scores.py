"""Comparison with an external score (DW-NOMINATE, Shor-McCarty, ...) a user drops next to a session.

File: ``<session dir>/reference_scores.csv`` (UTF-8, comma-separated, one header row):

* ``legislator_slug`` **or** ``person_id`` (one of them required; a row may fill either):
  the slug as in the session's legislators file, or a person id (the legislator's ``ocd_id``,
  ``ocd:<ocd_id>``, or ``slug:<slug stem>`` as the common scale's people table names it);
* ``score``: a number (the reference position; its sign and scale do not matter: |r| is reported);
* ``source`` (optional): where the score comes from, e.g. ``DW-NOMINATE dim 1``.

One file may hold both chambers (each partition uses the rows of its own legislators). A file with
a missing column, a non-numeric score, a slug or person id the session does not know, or the same
legislator twice is refused as a whole, with one line per problem naming the file, the line and the
problem (:class:`ReferenceFileError`); nothing already published changes.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from legis_assets.core.people import slug_person_id
from legis_assets.core.schema import DataProblem

REFERENCE_FILE = "reference_scores.csv"
#: |r| with the reference below this is a WARN. Estimates of the first dimension from the same
#: roll calls agree far above it (IRT vs W-/DW-NOMINATE in Congress: r > 0.95, Clinton, Jackman &
#: Rivers 2004); Shor-McCarty's bridged state scores correlate with single-chamber roll-call scores
#: at ~0.9. Below 0.80 the two no longer rank the chamber alike: the reference measures something
#: else, is for other people (wrong file, wrong session), or one of the two is wrong.
REFERENCE_R_WARN = 0.80
#: outliers named in the report: the legislators furthest from the line that maps the reference on
#: the estimates (standardised residual), at most this many
N_OUTLIERS = 8


class ReferenceFileError(DataProblem):
    """A reference-score file that cannot be used; `problems` lists every problem found."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def reference_path(session_dir: Path) -> Path:
    return Path(session_dir) / REFERENCE_FILE


def _person_ids(legislators: pl.DataFrame) -> dict[str, str]:
    """person id -> slug for every legislator (ocd_id, ocd:<ocd_id>, slug:<stem>)."""
    out: dict[str, str] = {}
    has_ocd = "ocd_id" in legislators.columns
    for row in legislators.iter_rows(named=True):
        slug = row["legislator_slug"]
        out[slug_person_id(slug)] = slug
        ocd = (row.get("ocd_id") or "").strip() if has_ocd else ""
        if ocd:
            out[ocd] = slug
            out[f"ocd:{ocd}"] = slug
    return out


def read_reference_scores(path: Path, legislators: pl.DataFrame) -> pl.DataFrame:
    """The file's rows as legislator_slug, score, source; `legislators` = every legislator of the
    session (both chambers), to resolve slugs and person ids. Raises ReferenceFileError."""
    path = Path(path)
    problems: list[str] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise ReferenceFileError(path, [f"not UTF-8 text ({err.reason} at byte {err.start})"]) from None
    except OSError as err:
        raise ReferenceFileError(path, [f"cannot be read ({err.strerror})"]) from None
    if not rows:
        raise ReferenceFileError(
            path, ["line 1: empty file (expected a header with legislator_slug or person_id, and score)"]
        )
    header = [h.strip() for h in rows[0]]
    col = {h: i for i, h in enumerate(header)}
    if "score" not in col:
        problems.append(f"line 1: missing column 'score' (columns: {', '.join(header) or 'none'})")
    if "legislator_slug" not in col and "person_id" not in col:
        problems.append("line 1: missing column 'legislator_slug' or 'person_id' (one of them is required)")
    if problems:
        raise ReferenceFileError(path, problems)
    slugs = set(legislators["legislator_slug"].to_list())
    persons = _person_ids(legislators)

    def cell(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    out: list[tuple[str, float, str]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
            continue
        slug, person = cell(row, "legislator_slug"), cell(row, "person_id")
        if slug:
            if slug not in slugs:
                problems.append(
                    f"line {line}: unknown legislator_slug {slug!r} (not in this session's legislators file)"
                )
                continue
        elif person:
            if person not in persons:
                problems.append(f"line {line}: unknown person_id {person!r} (no legislator of this session has it)")
                continue
            slug = persons[person]
        else:
            problems.append(f"line {line}: neither legislator_slug nor person_id is filled")
            continue
        raw = cell(row, "score")
        try:
            score = float(raw)
        except ValueError:
            problems.append(f"line {line}: score {raw!r} is not a number")
            continue
        if not math.isfinite(score):
            problems.append(f"line {line}: score {raw!r} is not a finite number")
            continue
        if slug in seen:
            problems.append(f"line {line}: {slug} is listed twice (first on line {seen[slug]})")
            continue
        seen[slug] = line
        out.append((slug, score, cell(row, "source")))
    if problems:
        raise ReferenceFileError(path, problems)
    if not out:
        raise ReferenceFileError(path, ["no rows with a score"])
    return pl.DataFrame(
        out, schema={"legislator_slug": pl.String, "score": pl.Float64, "source": pl.String}, orient="row"
    )


@dataclass
class Comparison:
    #: legislator_slug, name, party, score, position (hierarchical or published), xi_flat, fitted
    #: (the reference mapped onto the position by least squares), residual_z, outlier
    table: pl.DataFrame
    #: n, r_published (signed; the published posterior means), abs_r_published, r_flat, abs_r_flat, source, threshold
    summary: dict


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def compare(reference: pl.DataFrame, ideal_points: pl.DataFrame, n_outliers: int = N_OUTLIERS) -> Comparison:
    """|r| of the reference with the published posterior means (`position`) and with the flat
    model's (`flat_mean`), over the legislators in both; outliers by standardised residual of the
    least-squares line from the reference to `position`. Raises DataProblem when fewer than 3
    legislators are in both."""
    cols = [
        c for c in ("legislator_slug", "name", "party", "position", "flat_mean", "model") if c in ideal_points.columns
    ]
    joined = reference.join(ideal_points.select(cols), on="legislator_slug", how="inner").filter(
        pl.col("position").is_not_null()
    )
    if joined.height < 3:
        raise DataProblem(
            f"only {joined.height} legislator(s) of the reference file are in this chamber's estimates (need 3)"
        )
    ref, pos = joined["score"].to_numpy(), joined["position"].to_numpy()
    flat = joined["flat_mean"].to_numpy() if "flat_mean" in joined.columns else np.full(ref.size, np.nan)
    slope, intercept = np.polyfit(ref, pos, 1)
    resid = pos - (slope * ref + intercept)
    z = resid / (resid.std(ddof=1) if resid.std(ddof=1) > 0 else 1.0)
    order = np.argsort(-np.abs(z))
    outlier = np.zeros(ref.size, dtype=bool)
    outlier[order[:n_outliers]] = np.abs(z[order[:n_outliers]]) >= 2.0
    table = joined.with_columns(
        fitted=pl.Series(slope * ref + intercept), residual_z=pl.Series(z), outlier=pl.Series(outlier)
    ).sort("residual_z", descending=True, nulls_last=True)
    r_h = _corr(ref, pos)
    ok = np.isfinite(flat)
    r_f = _corr(ref[ok], flat[ok])
    sources = sorted({s for s in joined["source"].to_list() if s})
    summary = {
        "n": int(joined.height),
        "r_published": r_h,
        "abs_r_published": abs(r_h),
        "r_flat": r_f,
        "abs_r_flat": abs(r_f),
        "source": ", ".join(sources),
        "threshold": REFERENCE_R_WARN,
        "outliers": int(outlier.sum()),
    }
    return Comparison(table, summary)
