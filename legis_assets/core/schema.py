"""Input formats, vocabularies, session keys and the project's typed errors.

Everything that names what the scraper writes (../shared/DATA.md) lives here, so the
rest of the code refers to constants, not string literals. No Dagster imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

# --- vote vocabulary (DATA.md 4.1) -------------------------------------------------
#: the five vote categories and their ideal-point coding (None = missing, never imputed)
VOTE_CODES: dict[str, int | None] = {
    "Yea": 1,
    "Nay": 0,
    "Present and Passing": None,
    "Absent and Not Voting": None,
    "Not Voting": None,
}

# --- chambers -------------------------------------------------------------------------
#: a chamber (a partition dimension): the keys of CHAMBERS and SLUG_PREFIX
Chamber = Literal["house", "senate"]
#: partition value -> value in the CSV `chamber` column
CHAMBERS: dict[str, str] = {"house": "House", "senate": "Senate"}
#: partition value -> legislator slug prefix
SLUG_PREFIX: dict[str, str] = {"house": "rep_", "senate": "sen_"}

# --- the scraper's files ---------------------------------------------------------------
#: the full header line of each file the scraper writes (<session>_votes.csv, _rollcalls.csv,
#: _legislators.csv); ingest needs only the *_COLUMNS below, the simulator writes all of them
SCRAPER_HEADERS: dict[str, tuple[str, ...]] = {
    "votes": (
        "session",
        "bill_number",
        "bill_title",
        "vote_id",
        "vote_datetime",
        "vote_date",
        "chamber",
        "motion",
        "legislator_name",
        "legislator_slug",
        "vote",
    ),
    "rollcalls": (
        "session",
        "bill_number",
        "bill_title",
        "vote_id",
        "vote_url",
        "vote_datetime",
        "vote_date",
        "chamber",
        "motion",
        "vote_type",
        "result",
        "short_title",
        "sponsor",
        "sponsor_slugs",
        "yea_count",
        "nay_count",
        "present_passing_count",
        "absent_not_voting_count",
        "not_voting_count",
        "total_votes",
        "passed",
    ),
    "legislators": ("name", "full_name", "legislator_slug", "chamber", "party", "district", "member_url", "ocd_id"),
}

# --- parties ----------------------------------------------------------------------------
INDEPENDENT = "Independent"
#: the two parties pooled by the hierarchical model, left party first
HIERARCHICAL_PARTIES: tuple[str, str] = ("Democrat", "Republican")

# --- required columns (selected by name; DATA.md section 3) -------------------------------
VOTES_COLUMNS = ("vote_id", "chamber", "legislator_slug", "vote")
ROLLCALLS_COLUMNS = ("vote_id", "chamber")
LEGISLATORS_COLUMNS = ("legislator_slug", "chamber", "party")  # `slug` accepted for legislator_slug

# --- session keys -------------------------------------------------------------------------
#: a legislature directory name: lower-case letters, digits, underscore
LEGISLATURE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: a session directory name: `91st_2025-2026`, `2019-2020`, `2024s`
SESSION_DIR_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,39}$")
#: a partition key names the legislature and the session directory: `kansas.91st_2025-2026`
SESSION_KEY_RE = re.compile(r"^(?P<legislature>[a-z][a-z0-9_]{0,39})\.(?P<session>[0-9A-Za-z][0-9A-Za-z_-]{0,39})$")


class LegisError(Exception):
    """Base class of the project's own errors."""


class InvalidSessionKey(LegisError, ValueError):
    """A session key that does not match the strict pattern (never used in a path)."""


@dataclass(frozen=True)
class SessionKey:
    """Identifies one session of one legislature; its string form is the Dagster partition key."""

    legislature: str
    session: str

    def __post_init__(self) -> None:
        if not LEGISLATURE_RE.fullmatch(self.legislature or ""):
            raise InvalidSessionKey(
                f"invalid legislature name {self.legislature!r}: expected lower-case letters, digits and '_'"
            )
        if not SESSION_DIR_RE.fullmatch(self.session or ""):
            raise InvalidSessionKey(
                f"invalid session directory name {self.session!r}: expected letters, digits, '_' and '-' "
                "(e.g. 91st_2025-2026)"
            )

    @classmethod
    def parse(cls, key: str) -> SessionKey:
        match = SESSION_KEY_RE.fullmatch(key or "")
        if not match:
            raise InvalidSessionKey(
                f"invalid session key {key!r}: expected '<legislature>.<session dir>', e.g. "
                "'kansas.91st_2025-2026' (letters, digits, '_' and '-' only)"
            )
        return cls(match["legislature"], match["session"])

    @property
    def key(self) -> str:
        return f"{self.legislature}.{self.session}"

    def directory(self, data_root: Path) -> Path:
        """The session directory under `data_root` (the key is validated, so the path itself cannot
        escape it). Symbolic links are not followed here: `ingest.session_files` / `read_session`
        refuse a directory or file that resolves outside the data root (:class:`OutsideDataRoot`)."""
        return Path(data_root) / self.legislature / self.session

    def __str__(self) -> str:
        return self.key


def validate_chamber(chamber: str) -> Chamber:
    if chamber not in CHAMBERS:
        raise LegisError(f"unknown chamber {chamber!r}: expected one of {sorted(CHAMBERS)}")
    return cast(Chamber, chamber)


class InputError(LegisError, ValueError):
    """Bad input data: names the file, the row, the column and the problem.

    `row` is the 1-based line number in the file (the header is line 1), or None when the
    problem concerns the whole file.
    """

    def __init__(self, file: str | Path, problem: str, row: int | None = None, column: str | None = None):
        self.file = str(file)
        self.row = row
        self.column = column
        self.problem = problem
        where = [self.file]
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(", ".join(where) + f": {problem}")


class OutsideDataRoot(InputError):
    """A session folder or input file under the data root whose real location (symbolic links
    resolved) is outside the data root. `file` is the path as found under the data root; the
    message says where it points."""


class DataProblem(LegisError, ValueError):
    """Data that is well-formed but cannot be analysed (e.g. one party only, nothing left after filters)."""
