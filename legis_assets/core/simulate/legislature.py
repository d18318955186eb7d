"""A simulated legislature over several sessions on one common scale (the common scale's test bed):
people who persist and drift, big movers, House -> Senate movers, newcomers, a widening party gap.
:func:`simulate_legislature` draws it, :func:`write_legislature` writes one scraper-layout
directory per session with its truth. The chamber-level drawing and writing are in chamber.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from legis_assets.core.schema import SLUG_PREFIX
from legis_assets.core.simulate.chamber import (
    GIVEN,
    SURNAMES,
    ChamberSpec,
    SimulatedChamber,
    csv_cell,
    draw_votes,
    kansas_session_name,
    party_counts,
    read_truth,
    write_csv,
    write_session,
)

#: chamber shapes of a simulated legislature: small enough that three sessions build in a second or two
LEGISLATURE_SPECS = {
    "house": ChamberSpec(seats=80, n_rollcalls=200),
    "senate": ChamberSpec(seats=36, n_rollcalls=160, replacements=1),
}
#: trailing ids of simulated people start here (Voteview-like: `rep_<surname>_<given>_<id>`)
FIRST_PERSON_ID = 10001
#: vote ids of each chamber's roll calls are numbered from here (so House and Senate ids never collide)
_FIRST_ROLLCALL = {"house": 1000, "senate": 5000}


@dataclass
class SimulatedLegislature:
    """Several sessions of one legislature with known positions on one common scale.

    * ``sessions``: session directory name -> {chamber: SimulatedChamber}, in time order. Each
      chamber's ``truth`` has legislator_slug, party, xi_true (common scale), person_id.
    * ``truth``: one row per person x session x chamber: person_id (as :func:`people.build_people`
      names it: ``slug:<slug stem>``), session (directory name), session_index (0-based, time order),
      chamber, legislator_slug, party, xi_true, step (xi_true minus the person's previous session's
      value; null in the first session a person sits), big_move (this session's step holds a big
      move), chamber_move (the person sat in the House last session and sits in the Senate now),
      replacement (joined mid-session).
    * ``party_means``: session, session_index, party, mean: the means new members are drawn around
      (Republican +g, Democrat -g, Independent 0, g widening from ``party_gap[0]`` to ``party_gap[1]``).
    * ``drift_sd``: sd of a continuing member's random-walk step per session (beyond the shift of
      the party mean); ``big_move``: size of a big mover's extra step (random sign).
    """

    sessions: dict[str, dict[str, SimulatedChamber]]
    truth: pl.DataFrame
    party_means: pl.DataFrame
    drift_sd: float
    big_move: float

    @property
    def session_names(self) -> list[str]:
        return list(self.sessions)

    @property
    def chamber_movers(self) -> list[str]:
        """Person ids of the people who moved from the House to the Senate between sessions."""
        return sorted(set(self.truth.filter(pl.col("chamber_move"))["person_id"].to_list()))

    @property
    def big_movers(self) -> list[str]:
        """Person ids of the people given a big move at some session."""
        return sorted(set(self.truth.filter(pl.col("big_move"))["person_id"].to_list()))


def simulate_legislature(
    seed: int = 2021,
    n_sessions: int = 3,
    start_year: int = 2021,
    specs: dict[str, ChamberSpec] | None = None,
    drift_sd: float = 0.15,
    big_movers: int = 2,
    big_move: float = 1.0,
    house_to_senate: int = 3,
    turnover: float = 0.2,
    party_gap: tuple[float, float] = (0.9, 1.3),
) -> SimulatedLegislature:
    """Simulate `n_sessions` consecutive two-year sessions of one legislature, reproducible from `seed`.

    Sessions are named like Kansas's (:func:`kansas_session_name` of ``start_year + 2 * t``). The
    first session is drawn like :func:`simulate_chamber` (seats per party from `specs`' party shares;
    Republican mean ``+party_gap[0]``, Democrat ``-party_gap[0]``, within-party sd ``spec.within_sd``,
    independents around 0 with sd 0.3). Between sessions:

    * a share `turnover` of each chamber's seats is vacated (at least `house_to_senate` in the Senate);
    * up to `house_to_senate` continuing House members take vacated Senate seats of their own party
      (the same person, so the same slug stem: ``rep_x_y_10007`` -> ``sen_x_y_10007``);
    * every continuing member (movers included) steps by the shift of the party mean plus
      Normal(0, `drift_sd`); `big_movers` of them (never the chamber movers) also step by
      ``+-big_move``;
    * the other vacancies go to new people of the seat's party, drawn around the new party means;
      the party mean grows linearly from ``party_gap[0]`` to ``party_gap[1]``.

    Of each chamber's `specs` entry, ``seats``, ``n_rollcalls``, ``party_shares``, ``within_sd``,
    ``replacements``, ``absence_rate`` and ``lopsided_share`` are used; ``party_means`` is replaced
    by the widening `party_gap`.

    Within a session, each chamber's ``spec.replacements`` seats change hands halfway (the newcomer
    keeps the seat afterwards), as in :func:`simulate_chamber`. Roll calls and votes are drawn by
    the same machinery as :func:`simulate_chamber` (2PL IRT, absences, near-unanimous roll calls).
    """
    from legis_assets.core.people import slug_person_id

    if n_sessions < 1:
        raise ValueError(f"n_sessions must be at least 1, got {n_sessions}")
    specs = specs if specs is not None else LEGISLATURE_SPECS
    rng = np.random.default_rng(seed)
    gaps = np.linspace(party_gap[0], party_gap[1], n_sessions) if n_sessions > 1 else np.array([party_gap[0]])

    def mean(party: str, t: int) -> float:
        return {"Republican": gaps[t], "Democrat": -gaps[t]}.get(party, 0.0)

    people: dict[int, dict] = {}  # trailing id -> surname, given, party

    def new_person(party: str, t: int, within_sd: float) -> int:
        pid = FIRST_PERSON_ID + len(people)
        people[pid] = {
            "surname": str(rng.choice(SURNAMES)).lower(),
            "given": str(rng.choice(GIVEN)).lower(),
            "party": party,
        }
        sd = within_sd if party in ("Republican", "Democrat") else 0.3
        xi[pid] = float(rng.normal(mean(party, t), sd))
        return pid

    xi: dict[int, float] = {}
    seats: dict[str, list[int]] = {}  # chamber -> the person holding each seat
    for chamber, spec in specs.items():
        parties = [p for p, n in party_counts(spec).items() for _ in range(n)]
        seats[chamber] = [new_person(p, 0, spec.within_sd) for p in parties]

    sessions: dict[str, dict[str, SimulatedChamber]] = {}
    truth_rows: list[dict] = []
    mean_rows: list[dict] = []
    previous: dict[int, tuple[str, float]] = {}  # person -> (chamber, xi) in the last session
    for t in range(n_sessions):
        flags: dict[int, dict] = {}
        if t > 0:
            # continuing members step: party-mean shift + random walk (+ a few big moves)
            for pid in {p for s in seats.values() for p in s}:
                party = people[pid]["party"]
                xi[pid] += mean(party, t) - mean(party, t - 1) + float(rng.normal(0.0, drift_sd))
            # turnover: vacated seats (index lists per chamber)
            vacated: dict[str, list[int]] = {}
            for chamber in specs:
                n_out = int(round(turnover * len(seats[chamber])))
                if chamber == "senate":
                    n_out = max(n_out, house_to_senate)
                n_out = min(n_out, len(seats[chamber]))
                vacated[chamber] = sorted(int(i) for i in rng.choice(len(seats[chamber]), n_out, replace=False))
            # House -> Senate movers take vacated Senate seats of their own party
            if "house" in seats and "senate" in seats and house_to_senate:
                house_open = set(vacated["house"])
                moved = 0
                for seat in list(vacated["senate"]):
                    if moved >= house_to_senate:
                        break
                    party = people[seats["senate"][seat]]["party"]
                    candidates = [
                        i for i, p in enumerate(seats["house"]) if i not in house_open and people[p]["party"] == party
                    ]
                    if not candidates:
                        continue
                    i = int(rng.choice(candidates))
                    pid = seats["house"][i]
                    seats["senate"][seat] = pid
                    vacated["senate"].remove(seat)
                    house_open.add(i)
                    vacated["house"].append(i)
                    flags.setdefault(pid, {})["chamber_move"] = True
                    moved += 1
            # big movers among the continuing members who stay in their chamber
            continuing = [
                p
                for c, s in seats.items()
                for i, p in enumerate(s)
                if i not in vacated[c] and p in previous and not flags.get(p, {}).get("chamber_move")
            ]
            continuing = sorted(set(continuing))
            if big_movers and continuing:
                for pid in rng.choice(continuing, min(big_movers, len(continuing)), replace=False):
                    xi[int(pid)] += float(rng.choice([-1.0, 1.0])) * big_move
                    flags.setdefault(int(pid), {})["big_move"] = True
            # new people fill the remaining vacancies (same party as the seat)
            for chamber, spec in specs.items():
                for seat in vacated[chamber]:
                    party = people[seats[chamber][seat]]["party"]  # a mover's old House seat: the mover's party
                    seats[chamber][seat] = new_person(party, t, spec.within_sd)

        session = kansas_session_name(start_year + 2 * t)
        start = dt.datetime(start_year + 2 * t, 1, 13, 9, 0, 0)
        chambers: dict[str, SimulatedChamber] = {}
        current: dict[int, tuple[str, float]] = {}
        for chamber, spec in specs.items():
            holders = list(seats[chamber])
            n_seats = len(holders)
            replaced = (
                sorted(int(i) for i in rng.choice(n_seats, spec.replacements, replace=False))
                if spec.replacements
                else []
            )
            newcomers = [new_person(people[holders[s]]["party"], t, spec.within_sd) for s in replaced]
            members = holders + newcomers
            member = np.ones((len(members), spec.n_rollcalls), bool)
            half = spec.n_rollcalls // 2
            for k, seat in enumerate(replaced):
                member[seat, half:] = False
                member[n_seats + k, :half] = False
                seats[chamber][seat] = newcomers[k]  # the newcomer keeps the seat
            prefix = SLUG_PREFIX[chamber]
            slugs = [f"{prefix}{people[p]['surname']}_{people[p]['given']}_{p}" for p in members]
            frame = pl.DataFrame(
                {
                    "legislator_slug": slugs,
                    "party": [people[p]["party"] for p in members],
                    "xi_true": [xi[p] for p in members],
                    "person_id": [slug_person_id(s) for s in slugs],
                }
            )
            chambers[chamber] = draw_votes(
                chamber, frame, member, spec, rng, start, first_number=_FIRST_ROLLCALL.get(chamber, 1000)
            )
            for k, (pid, slug) in enumerate(zip(members, slugs)):
                before = previous.get(pid)
                truth_rows.append(
                    {
                        "person_id": slug_person_id(slug),
                        "session": session,
                        "session_index": t,
                        "chamber": chamber,
                        "legislator_slug": slug,
                        "party": people[pid]["party"],
                        "xi_true": xi[pid],
                        "step": xi[pid] - before[1] if before is not None else None,
                        "big_move": bool(flags.get(pid, {}).get("big_move", False)),
                        "chamber_move": bool(flags.get(pid, {}).get("chamber_move", False)),
                        "replacement": k >= n_seats,
                    }
                )
                current[pid] = (chamber, xi[pid])
        sessions[session] = chambers
        previous = current
        for party in ("Democrat", "Republican", "Independent"):
            mean_rows.append({"session": session, "session_index": t, "party": party, "mean": float(mean(party, t))})

    truth = pl.DataFrame(
        truth_rows,
        schema={
            "person_id": pl.String,
            "session": pl.String,
            "session_index": pl.Int64,
            "chamber": pl.String,
            "legislator_slug": pl.String,
            "party": pl.String,
            "xi_true": pl.Float64,
            "step": pl.Float64,
            "big_move": pl.Boolean,
            "chamber_move": pl.Boolean,
            "replacement": pl.Boolean,
        },
    )
    return SimulatedLegislature(
        sessions=sessions, truth=truth, party_means=pl.DataFrame(mean_rows), drift_sd=drift_sd, big_move=big_move
    )


#: columns of a simulated legislature's per-session truth file (`<session>_truth.csv`)
LEGISLATURE_TRUTH_COLUMNS = (
    "legislator_slug",
    "chamber",
    "party",
    "xi_true",
    "person_id",
    "session",
    "session_index",
    "step",
    "big_move",
    "chamber_move",
    "replacement",
)


def write_legislature(sim: SimulatedLegislature, legislature_dir: Path, compact_votes: bool = False) -> list[Path]:
    """Write every session of `sim` under `legislature_dir` (one scraper-layout directory each).

    Each session directory gets the three CSVs (:func:`write_session`, both chambers in one
    directory), ``<session>_truth.csv`` with :data:`LEGISLATURE_TRUTH_COLUMNS` (xi_true on the
    common scale; :func:`read_truth` reads it) and ``<session>_truth_rollcalls.csv``. Returns the
    session directories in time order.
    """
    legislature_dir = Path(legislature_dir)
    written = []
    for session, chambers in sim.sessions.items():
        session_dir = write_session(chambers, legislature_dir / session, write_truth=False, compact_votes=compact_votes)
        truth = sim.truth.filter(pl.col("session") == session)
        rows = [
            [f"{r[c]:.6f}" if isinstance(r[c], float) else csv_cell(r[c]) for c in LEGISLATURE_TRUTH_COLUMNS]
            for r in truth.iter_rows(named=True)
        ]
        write_csv(session_dir / f"{session}_truth.csv", list(LEGISLATURE_TRUTH_COLUMNS), rows)
        rc_rows = [
            [rc["vote_id"], chamber, f"{rc['alpha_true']:.6f}", f"{rc['beta_true']:.6f}"]
            for chamber, part in chambers.items()
            for rc in part.rollcall_truth.iter_rows(named=True)
        ]
        write_csv(
            session_dir / f"{session}_truth_rollcalls.csv", ["vote_id", "chamber", "alpha_true", "beta_true"], rc_rows
        )
        written.append(session_dir)
    return written


def read_legislature_truth(legislature_dir: Path) -> pl.DataFrame:
    """The common-scale truth of every simulated session under `legislature_dir`, in time order.

    Columns as :attr:`SimulatedLegislature.truth` (session directories without a legislature truth
    file, i.e. without a person_id column, are skipped).
    """
    frames = []
    for session_dir in sorted(p for p in Path(legislature_dir).iterdir() if p.is_dir()):
        path = session_dir / f"{session_dir.name}_truth.csv"
        if not path.is_file():
            continue
        frame = read_truth(session_dir)
        if "person_id" in frame.columns:
            frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no simulated legislature truth files under {legislature_dir}")
    flags = ("big_move", "chamber_move", "replacement")
    truth = pl.concat(
        [f.with_columns(pl.col(c).cast(pl.String) for c in (*flags, "step")) for f in frames], how="vertical_relaxed"
    )
    return truth.select(
        "person_id",
        "session",
        pl.col("session_index").cast(pl.Int64),
        "chamber",
        "legislator_slug",
        "party",
        pl.col("xi_true").cast(pl.Float64),
        pl.col("step").cast(pl.Float64),
        *(pl.col(c).str.to_lowercase().eq("true").alias(c) for c in flags),
    ).sort("session_index", "chamber", "legislator_slug")
