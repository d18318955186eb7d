"""One simulated session: its chambers' legislators, roll calls and votes drawn from the 2PL IRT
the platform fits (:func:`simulate_session`), written in the scraper's CSV layout with the known
truth beside it (:func:`write_session`, :func:`read_truth`). True ideal points are drawn per party
(parties centred at -1 / +1 with within-party sd 0.5, as in MEASURED.md). The legislature over
several sessions is in legislature.py."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from legis_assets.core.schema import CHAMBERS, SCRAPER_HEADERS, SLUG_PREFIX

SURNAMES = (
    "Abbott Baker Carter Dawson Ellis Fischer Garcia Hughes Ingram Jensen Keller Lopez Moreno "
    "Nguyen Owens Patel Quinn Ramirez Schultz Turner Underwood Vasquez Walsh Young Zimmerman "
    "Adler Brooks Castro Dietz Evans Foster Grant Harper Irwin Jacobs Klein Larson Miller Nolan "
    "Ortiz Porter Reyes Sawyer Tanaka Ulrich Vogel Warren Yates Zeller"
).split()
GIVEN = (
    "Anna Ben Carla David Elena Frank Grace Henry Irene Jack Karen Luis Maria Nick Olivia Paul "
    "Rosa Sam Tara Victor Wendy Alex Beth Chris Dana Eric Fay Glen Holly Ivan"
).split()


@dataclass(frozen=True)
class ChamberSpec:
    """Shape of one simulated chamber."""

    seats: int
    n_rollcalls: int
    #: share of seats per party; the rest are independents
    party_shares: dict[str, float] = field(default_factory=lambda: {"Republican": 0.70, "Democrat": 0.29})
    #: true party means and within-party sd (independents sit near the centre)
    party_means: dict[str, float] = field(default_factory=lambda: {"Republican": 1.0, "Democrat": -1.0})
    within_sd: float = 0.5
    #: members replaced mid-session (each adds one legislator who votes only in the second half)
    replacements: int = 2
    absence_rate: float = 0.075
    #: share of roll calls that are near-unanimous by design (consent calendar and the like)
    lopsided_share: float = 0.3


HOUSE = ChamberSpec(seats=125, n_rollcalls=400)
SENATE = ChamberSpec(seats=40, n_rollcalls=260, replacements=1)
#: the bundled example session: Kansas-shaped, fewer roll calls so that the files stay small
EXAMPLE = {
    "house": ChamberSpec(seats=125, n_rollcalls=280),
    "senate": ChamberSpec(seats=40, n_rollcalls=200, replacements=1),
}
EXAMPLE_SEED = 2025


@dataclass
class SimulatedChamber:
    chamber: str
    truth: pl.DataFrame  # legislator_slug, party, xi_true
    rollcall_truth: pl.DataFrame  # vote_id, alpha_true, beta_true
    votes: pl.DataFrame  # vote_id, legislator_slug, vote (category)


def party_counts(spec: ChamberSpec) -> dict[str, int]:
    counts = {party: int(round(share * spec.seats)) for party, share in spec.party_shares.items()}
    counts["Independent"] = max(spec.seats - sum(counts.values()), 0)
    return counts


def simulate_chamber(chamber: str, spec: ChamberSpec, rng: np.random.Generator, start: dt.datetime) -> SimulatedChamber:
    """Draw legislators, roll calls and votes for one chamber."""
    counts = party_counts(spec)
    parties: list[str] = []
    for party, n in counts.items():
        parties += [party] * n
    n_seats = len(parties)
    # replacements take over an existing seat (same party) for the second half of the session
    replaced = rng.choice(n_seats, size=spec.replacements, replace=False) if spec.replacements else np.array([], int)
    parties_all = parties + [parties[s] for s in replaced]
    n_leg = len(parties_all)

    xi = np.array(
        [
            rng.normal(spec.party_means.get(p, 0.0), spec.within_sd if p in spec.party_means else 0.3)
            for p in parties_all
        ]
    )
    prefix = SLUG_PREFIX[chamber]
    used: set[str] = set()
    slugs = []
    for _ in range(n_leg):
        while True:
            surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
            slug = f"{prefix}{surname.lower()}_{given.lower()}_1"
            if slug not in used:
                used.add(slug)
                slugs.append(slug)
                break

    member = np.ones((n_leg, spec.n_rollcalls), bool)
    half = spec.n_rollcalls // 2
    for k, seat in enumerate(replaced):
        member[seat, half:] = False
        member[n_seats + k, :half] = False
    truth = pl.DataFrame({"legislator_slug": slugs, "party": parties_all, "xi_true": xi})
    return draw_votes(chamber, truth, member, spec, rng, start)


def draw_votes(
    chamber: str,
    truth: pl.DataFrame,
    member: np.ndarray,
    spec: ChamberSpec,
    rng: np.random.Generator,
    start: dt.datetime,
    first_number: int = 1000,
) -> SimulatedChamber:
    """Roll calls and votes for legislators with known `truth` (legislator_slug, party, xi_true, ...).

    `member[i, j]`: legislator i sat when roll call j was taken (no vote row otherwise). Roll calls
    are numbered from `first_number` in their vote ids.
    """
    xi = truth["xi_true"].to_numpy()
    slugs = truth["legislator_slug"].to_list()
    n_leg = len(slugs)
    # roll calls: a cut point on the ideal-point scale and a discrimination; some near-unanimous
    n_rc = spec.n_rollcalls
    beta = rng.normal(0.0, 1.0, n_rc) * 1.5
    beta = np.where(np.abs(beta) < 0.3, np.sign(beta + 1e-12) * 0.3, beta)
    cut = rng.normal(0.0, 0.8, n_rc)
    alpha = beta * cut
    # near-unanimous roll calls (consent calendar, resolutions): weak discrimination, extreme difficulty
    lopsided = rng.random(n_rc) < spec.lopsided_share
    beta = np.where(lopsided, rng.normal(0.0, 0.3, n_rc), beta)
    alpha = np.where(lopsided, -np.sign(rng.normal(size=n_rc) + 1.0) * rng.uniform(3.5, 6.0, n_rc), alpha)
    times = sorted(start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 600, n_rc))
    vote_ids = [f"je_{t:%Y%m%d%H%M%S}_{first_number + j:04d}" for j, t in enumerate(times)]

    p_yea = 1.0 / (1.0 + np.exp(-(np.outer(xi, beta) - alpha)))
    yea = rng.random((n_leg, n_rc)) < p_yea
    absent = rng.random((n_leg, n_rc)) < spec.absence_rate
    other = rng.random((n_leg, n_rc))
    category = np.where(
        absent,
        np.where(other < 0.75, "Absent and Not Voting", np.where(other < 0.9, "Present and Passing", "Not Voting")),
        np.where(yea, "Yea", "Nay"),
    )
    rows_i, rows_j = np.nonzero(member)
    votes = pl.DataFrame(
        {
            "vote_id": [vote_ids[j] for j in rows_j],
            "legislator_slug": [slugs[i] for i in rows_i],
            "vote": category[rows_i, rows_j].tolist(),
        }
    )
    rc_truth = pl.DataFrame({"vote_id": vote_ids, "alpha_true": alpha, "beta_true": beta, "datetime": times})
    return SimulatedChamber(chamber, truth, rc_truth, votes)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def kansas_session_name(start_year: int) -> str:
    """`91st_2025-2026` for 2025 (Kansas numbers its legislatures (year - 1879) // 2 + 18)."""
    return f"{_ordinal((start_year - 1879) // 2 + 18)}_{start_year}-{start_year + 1}"


def simulate_session(
    seed: int = 2025,
    start_year: int = 2025,
    specs: dict[str, ChamberSpec] | None = None,
) -> dict[str, SimulatedChamber]:
    """Both chambers of one session (House and Senate by default), reproducible from `seed`."""
    specs = specs if specs is not None else {"house": HOUSE, "senate": SENATE}
    rng = np.random.default_rng(seed)
    start = dt.datetime(start_year, 1, 13, 9, 0, 0)
    return {chamber: simulate_chamber(chamber, spec, rng, start) for chamber, spec in specs.items()}


def write_csv(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # \r\n line ends, minimal quoting: the scraper's dialect
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def write_session(
    chambers: dict[str, SimulatedChamber],
    session_dir: Path,
    label: str | None = None,
    write_truth: bool = True,
    compact_votes: bool = False,
) -> Path:
    """Write a simulated session in the scraper layout (DATA.md) under `session_dir`.

    The known truth goes to `<session>_truth.csv` (legislators) and `<session>_truth_rollcalls.csv`,
    which the reader ignores as stray files. `compact_votes` leaves bill_title, motion and vote_date empty
    in the votes file (they stay in the roll-call file), as some converted data sets do, to keep the
    bundled example small.
    """
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    name = session_dir.name
    if label is None:
        label = name.replace("_", " (", 1) + ")" if "_" in name else name

    legislator_rows, vote_rows, rollcall_rows, truth_rows, rc_truth_rows = [], [], [], [], []
    for chamber, sim in chambers.items():
        title = CHAMBERS[chamber]
        truth = sim.truth
        names = {row["legislator_slug"]: row for row in truth.iter_rows(named=True)}
        for district, row in enumerate(truth.iter_rows(named=True), start=1):
            slug = row["legislator_slug"]
            surname, given = slug.split("_")[1:3]
            party = row["party"] if row["party"] != "Independent" else ""
            legislator_rows.append(
                [
                    surname.title(),
                    f"{given.title()} {surname.title()}",
                    slug,
                    title,
                    party,
                    str(min(district, 125 if chamber == "house" else 40)),
                    "",
                    "",
                ]
            )
            truth_rows.append([slug, chamber, row["party"], f"{row['xi_true']:.6f}"])
        counts = sim.votes.group_by("vote_id", "vote").len()
        count_map = {(r["vote_id"], r["vote"]): r["len"] for r in counts.iter_rows(named=True)}
        for j, rc in enumerate(sim.rollcall_truth.iter_rows(named=True)):
            vid, when = rc["vote_id"], rc["datetime"]
            bill = f"{'HB' if chamber == 'house' else 'SB'} {2001 + j}"
            c = [
                count_map.get((vid, cat), 0)
                for cat in ("Yea", "Nay", "Present and Passing", "Absent and Not Voting", "Not Voting")
            ]
            passed = c[0] > c[1]
            rollcall_rows.append(
                [
                    label,
                    bill,
                    f"AN ACT concerning item {j + 1}",
                    vid,
                    "",
                    when.isoformat(timespec="seconds"),
                    when.strftime("%m/%d/%Y"),
                    title,
                    "Final Action - Passed" if passed else "Final Action - Failed",
                    "Final Action",
                    "Passed" if passed else "Failed",
                    "",
                    "",
                    "",
                    *c,
                    sum(c),
                    csv_cell(passed),
                ]
            )
            rc_truth_rows.append([vid, chamber, f"{rc['alpha_true']:.6f}", f"{rc['beta_true']:.6f}"])
        rc_lookup = {r[3]: r for r in rollcall_rows}
        for row in sim.votes.iter_rows(named=True):
            rc_row = rc_lookup[row["vote_id"]]
            surname = names[row["legislator_slug"]]["legislator_slug"].split("_")[1].title()
            vote_rows.append(
                [
                    label,
                    rc_row[1],
                    "" if compact_votes else rc_row[2],
                    row["vote_id"],
                    rc_row[5],
                    "" if compact_votes else rc_row[6],
                    title,
                    "" if compact_votes else rc_row[8],
                    surname,
                    row["legislator_slug"],
                    row["vote"],
                ]
            )

    legislator_rows.sort(key=lambda r: r[2])
    write_csv(
        session_dir / f"{name}_legislators.csv",
        list(SCRAPER_HEADERS["legislators"]),
        legislator_rows,
    )
    write_csv(
        session_dir / f"{name}_rollcalls.csv",
        list(SCRAPER_HEADERS["rollcalls"]),
        rollcall_rows,
    )
    write_csv(
        session_dir / f"{name}_votes.csv",
        list(SCRAPER_HEADERS["votes"]),
        vote_rows,
    )
    if write_truth:
        write_csv(session_dir / f"{name}_truth.csv", ["legislator_slug", "chamber", "party", "xi_true"], truth_rows)
        write_csv(
            session_dir / f"{name}_truth_rollcalls.csv",
            ["vote_id", "chamber", "alpha_true", "beta_true"],
            rc_truth_rows,
        )
    return session_dir


def read_truth(session_dir: Path) -> pl.DataFrame:
    """The known ideal points a simulated session was drawn from."""
    session_dir = Path(session_dir)
    return pl.read_csv(session_dir / f"{session_dir.name}_truth.csv", schema_overrides={"xi_true": pl.Float64})
