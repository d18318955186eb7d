"""Synthetic legislatures with known ideal points, written in the scraper's CSV layout.

The generative model is the 2PL IRT the platform fits: legislator i votes Yea on roll call j
with probability logistic(beta_j * xi_i - alpha_j). True ideal points are drawn per party
(parties centred at -1 / +1 with within-party sd 0.5, as in MEASURED.md), so recovery tests
know the answer. Used by the tests, the benchmarks and the bundled example session.

:func:`simulate_legislature` draws several sessions of one legislature on one common scale (people
who persist and drift, big movers, House -> Senate movers, newcomers, a widening party gap), and
:func:`write_legislature` writes it as one scraper-layout directory per session with its truth.
"""

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


def _party_counts(spec: ChamberSpec) -> dict[str, int]:
    counts = {party: int(round(share * spec.seats)) for party, share in spec.party_shares.items()}
    counts["Independent"] = max(spec.seats - sum(counts.values()), 0)
    return counts


def simulate_chamber(chamber: str, spec: ChamberSpec, rng: np.random.Generator, start: dt.datetime) -> SimulatedChamber:
    """Draw legislators, roll calls and votes for one chamber."""
    counts = _party_counts(spec)
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
    return _draw_votes(chamber, truth, member, spec, rng, start)


def _draw_votes(
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


def _write_csv(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # \r\n line ends, minimal quoting: the scraper's dialect
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _fmt(value: object) -> str:
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
                    _fmt(passed),
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
    _write_csv(
        session_dir / f"{name}_legislators.csv",
        list(SCRAPER_HEADERS["legislators"]),
        legislator_rows,
    )
    _write_csv(
        session_dir / f"{name}_rollcalls.csv",
        list(SCRAPER_HEADERS["rollcalls"]),
        rollcall_rows,
    )
    _write_csv(
        session_dir / f"{name}_votes.csv",
        list(SCRAPER_HEADERS["votes"]),
        vote_rows,
    )
    if write_truth:
        _write_csv(session_dir / f"{name}_truth.csv", ["legislator_slug", "chamber", "party", "xi_true"], truth_rows)
        _write_csv(
            session_dir / f"{name}_truth_rollcalls.csv",
            ["vote_id", "chamber", "alpha_true", "beta_true"],
            rc_truth_rows,
        )
    return session_dir


def read_truth(session_dir: Path) -> pl.DataFrame:
    """The known ideal points a simulated session was drawn from."""
    session_dir = Path(session_dir)
    return pl.read_csv(session_dir / f"{session_dir.name}_truth.csv", schema_overrides={"xi_true": pl.Float64})


# ---------------------------------------------------------------------------------------------
# a legislature over several sessions (the common scale's test bed)
# ---------------------------------------------------------------------------------------------

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
        parties = [p for p, n in _party_counts(spec).items() for _ in range(n)]
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
            chambers[chamber] = _draw_votes(
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
            [f"{r[c]:.6f}" if isinstance(r[c], float) else _fmt(r[c]) for c in LEGISLATURE_TRUTH_COLUMNS]
            for r in truth.iter_rows(named=True)
        ]
        _write_csv(session_dir / f"{session}_truth.csv", list(LEGISLATURE_TRUTH_COLUMNS), rows)
        rc_rows = [
            [rc["vote_id"], chamber, f"{rc['alpha_true']:.6f}", f"{rc['beta_true']:.6f}"]
            for chamber, part in chambers.items()
            for rc in part.rollcall_truth.iter_rows(named=True)
        ]
        _write_csv(
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
