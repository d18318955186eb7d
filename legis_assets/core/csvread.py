"""Reading one scraper CSV safely: the header check, the vectorised structural scan and the batched
parse (the three stages described in core/ingest.py's docstring), and the row checks that make a
file fatal. Plain Python + numpy + polars; core/ingest.py loads the session's files with it."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from legis_assets.core.schema import (
    InputError,
)

#: how much of a file is read to check its header line before the file is loaded
HEADER_LIMIT = 64 * 1024
#: bytes scanned at a time by the structural check (bounds its temporary arrays)
SCAN_CHUNK = 4 * 2**20
#: bytes of whole records parsed by polars at a time (bounds the memory spent on a refused file)
PARSE_BATCH = 16 * 2**20
#: a row check: (condition that makes a row fatal, column to name, row -> problem text)
RowCheck = tuple[pl.Expr, "str | None", Callable[[dict], str]]
_LINE = "_line"  # physical line number of a row, carried through the checks
_BOM = b"\xef\xbb\xbf"

# ---------------------------------------------------------------------------------------------
# CSV reading and structural checks
# ---------------------------------------------------------------------------------------------


def _read_csv(
    path: Path, required: tuple[str, ...], aliases: dict[str, str] | None = None, checks: tuple[RowCheck, ...] = ()
) -> pl.DataFrame:
    """All columns as strings ("" for empty) plus `_line`; `aliases` maps a column to its older name.

    `checks` are row checks (condition, column, describe) that make the file fatal when any row meets
    the condition: they run on each parsed batch, so a file whose rows fail one is refused without
    being held in memory as a whole. The error is the same as `_fail_if` applied in order to the
    whole table: the first check any row fails, its first row, and how many more rows fail it.
    """
    aliases = aliases or {}
    header = _read_header(path)
    _check_columns(path, header, required, aliases)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    start = len(_BOM) if data.startswith(_BOM) else 0
    # tolerate blank lines at the very end of the file (the scan adds one final line end)
    end = _end_without_blank_lines(data, start)
    lines, batches = _scan(path, data, start, end, header)
    if len(lines) < 1:
        raise InputError(path, "the file has a header line but no data rows")

    frames: list[pl.DataFrame] = []
    failed: list[list[Any]] = [[0, None] for _ in checks]  # per check: rows failing it, first failing row
    refused = False
    checked = {name for cond, _, _ in checks for name in cond.meta.root_names()}
    needed = sorted(header.index(name) for name in checked) if checked <= set(header) else None
    for first, last, lo, hi in batches:
        # once the file is refused, the later batches are parsed only to count: the checked columns
        df = _parse_batch(path, data[start + lo : start + hi], header, last - first, needed if refused else None)
        df = df.with_columns(pl.Series(_LINE, lines[first:last], dtype=pl.Int64))
        for name, old in aliases.items():
            if name not in df.columns and old in df.columns:
                df = df.rename({old: name})
        if checks:
            counts = df.select(*(cond.fill_null(False).sum().alias(str(i)) for i, (cond, _, _) in enumerate(checks)))
            for i, (cond, _, _) in enumerate(checks):
                n = int(counts[str(i)][0] or 0)
                if n and failed[i][1] is None:  # the batch is in file order: its first failing row
                    first_index = df.select(cond.fill_null(False).arg_true().first()).item()
                    failed[i][1] = df.row(first_index, named=True)
                failed[i][0] += n
            if any(n for n, _ in failed):
                refused = True  # keep counting, but keep nothing
                frames.clear()
                continue
        frames.append(df)
    for (count, first_row), (_, column, describe) in zip(failed, checks):
        if count:
            problem = describe(first_row)
            if count > 1:
                problem += f" ({count - 1} more row(s) have this problem)"
            raise InputError(path, problem, row=first_row[_LINE], column=column)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)


def _parse_batch(
    path: Path, chunk: bytes, header: list[str], n_rows: int, columns: list[int] | None = None
) -> pl.DataFrame:
    """Whole records (no header line) parsed by polars as strings: all columns, or those at `columns`."""
    try:
        df = pl.read_csv(
            chunk,
            has_header=False,
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=False,
            columns=columns,
        )
    except Exception as exc:  # noqa: BLE001 - polars' parser may reject what the scan let through
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"the file could not be read as CSV ({reason})") from exc
    names = header if columns is None else [header[i] for i in columns]
    if df.height != n_rows or df.width != len(names):
        raise InputError(
            path,
            f"the file could not be read as CSV: found {df.height} rows x {df.width} columns "
            f"where {n_rows} rows x {len(names)} columns were expected",
        )
    df.columns = names
    return df


def _end_without_blank_lines(data: bytes, start: int) -> int:
    """The end of `data` without its trailing CR / LF bytes (looked at from the end, in blocks)."""
    a = np.frombuffer(data, dtype=np.uint8)
    hi = len(data)
    while hi > start:
        lo = max(start, hi - SCAN_CHUNK)
        keep = np.flatnonzero((a[lo:hi] != 10) & (a[lo:hi] != 13))
        if keep.size:
            return lo + int(keep[-1]) + 1
        hi = lo
    return start


def _read_header(path: Path) -> list[str]:
    """Parse the header line from at most HEADER_LIMIT bytes (fails fast on garbage files)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_LIMIT)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise InputError(
            path,
            "the file is empty (0 bytes); expected a header line with the column names followed by one line per row",
        )
    end = head.find(b"\n")
    if end < 0 and len(head) >= HEADER_LIMIT:
        raise InputError(
            path,
            f"the first line is longer than {HEADER_LIMIT // 1024} KB, so it is not a CSV "
            "header line; this does not look like a CSV file",
            row=1,
        )
    raw = head if end < 0 else head[:end]
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"the header line is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded); "
            "this does not look like a CSV file, or it was saved in another encoding "
            "(save it as UTF-8)",
            row=1,
        ) from None
    if "\x00" in text:
        raise InputError(path, "the header line contains NUL bytes; this does not look like a CSV text file", row=1)
    if "\r" in text:
        raise InputError(
            path,
            "lines end with a bare carriage return (old Mac format); save the file with "
            "Windows (CR LF) or Unix (LF) line ends",
            row=1,
        )
    if not text.strip():
        raise InputError(path, "the first line (the header) is empty; expected the column names", row=1)
    try:
        header = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise InputError(path, f"the header line is not valid CSV ({exc})", row=1) from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise InputError(
            path,
            "the header names these columns more than once: " + ", ".join(repr(name) for name in duplicated),
            row=1,
        )
    return header


def _check_columns(path: Path, header: list[str], required: tuple[str, ...], aliases: dict[str, str]) -> None:
    missing = [c for c in required if c not in header and aliases.get(c) not in header]
    if not missing:
        return
    hints = []
    for name in missing:
        for col in header:
            if col != name and col.strip().lower() in {name.lower(), (aliases.get(name) or name).lower()}:
                hints.append(
                    f"column {col!r} looks like {name!r} (column names must match exactly, "
                    "including upper/lower case and spaces)"
                )
        if name in aliases:
            hints.append(f"older files call {name!r} {aliases[name]!r}; either name is accepted")
        elif name == "legislator_slug" and "slug" in header:
            hints.append(
                "this file has a column 'slug': it must be called 'legislator_slug' here "
                "(only the legislators file accepts the older name 'slug')"
            )
    shown = ", ".join(repr(c) for c in header[:30]) + (", ..." if len(header) > 30 else "")
    if len(shown) > 400:
        shown = shown[:400] + "..."
    plural = "s" if len(missing) > 1 else ""
    message = f"missing required column{plural} {', '.join(repr(c) for c in missing)}; the header has {shown}"
    if hints:
        message += ". " + "; ".join(hints)
    raise InputError(path, message, row=1)


def _scan(
    path: Path, data: bytes, start: int, end: int, header: list[str]
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Check that ``data[start:end]`` + a final line end is UTF-8 CSV text with the header's shape.

    Returns each data record's first physical line, and batches of whole records to parse:
    (first record, last record + 1, first byte, last byte + 1), bytes counted from `start`, records
    from the first data record. The text is scanned in blocks of SCAN_CHUNK bytes, carrying the
    quote state, the current record and the line count from block to block, so that memory does not
    grow with the file. Quotes are RFC 4180: a field is either unquoted (no quotes inside) or wholly
    quoted with inner quotes doubled; inside quotes, commas and line ends are data. The first
    problem in file order is reported (an unclosed quote once the end is reached); a record with the
    wrong number of fields is reported with the number of further such records.
    """
    a = np.frombuffer(data, dtype=np.uint8)[start:end]
    n = end - start  # the text is a[:n] plus a final line end at position n
    n_columns = len(header)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0  # line ends before the block
    in_quotes = False
    record_start, record_line, record_commas = 0, 1, 0  # the record under way at the block's start
    last_quote_line = 1
    records = 0  # records completed, the header included
    body_start = None
    line_parts: list[np.ndarray] = []
    boundaries: list[tuple[int, int]] = []  # (records completed, byte after the last one's line end)
    wrong: tuple[int, str] | None = None  # the first record with a wrong field count: (line, problem)
    more_wrong = 0

    for s in range(0, n, SCAN_CHUNK):
        e = min(s + SCAN_CHUNK, n)
        block = a[s:e]
        parity = 1 if in_quotes else 0
        q = np.flatnonzero(block == 34) + s
        nl = np.flatnonzero(block == 10) + s
        if e == n:
            nl = np.append(nl, n)

        # the two closures are called only within this iteration (B023 does not apply)
        def line_of(pos: int) -> int:
            return lines_before + int(np.searchsorted(nl, pos)) + 1  # noqa: B023

        def outside(pos: np.ndarray) -> np.ndarray:
            """The positions that are not inside quotes."""
            if not q.size:  # noqa: B023
                return pos[:0] if parity else pos  # noqa: B023
            return pos[(np.searchsorted(q, pos) + parity) % 2 == 0]  # noqa: B023

        ends = outside(nl)
        commas = outside(np.flatnonzero(block == 44) + s)
        if ends.size:
            before = np.searchsorted(commas, ends)  # outside commas in the block before each record end
            fields = np.diff(before, prepend=0) + 1
            fields[0] += record_commas
            starts = np.concatenate(([record_start], ends[:-1] + 1))
            first_lines = lines_before + np.searchsorted(nl, starts) + 1
            first_lines[0] = record_line
            bad_fields = np.flatnonzero(fields != n_columns)
        else:
            bad_fields = np.empty(0, dtype=np.int64)

        if wrong is not None:  # already refused: only count the further records with a wrong shape
            more_wrong += bad_fields.size
        else:
            found: list[tuple[int, int, str | None, str]] = []  # (position, line, column, problem)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(data[start + s : start + e], e == n)
            except UnicodeDecodeError as exc:
                pos = s - pending + exc.start
                found.append(
                    (
                        pos,
                        line_of(pos),
                        None,
                        f"the file is not valid UTF-8 text: byte 0x{exc.object[exc.start]:02x} on this line "
                        "cannot be decoded (was it saved as Windows-1252 / Latin-1, e.g. by Excel?); save "
                        "the file with UTF-8 encoding",
                    )
                )
            nul = np.flatnonzero(block == 0)
            if nul.size:
                pos = int(nul[0]) + s
                k = int(np.searchsorted(ends, pos))  # records of the block that end before it
                field = int(np.searchsorted(commas, pos)) - (int(before[k - 1]) if k else -record_commas)
                found.append(
                    (
                        pos,
                        line_of(pos),
                        header[field] if field < n_columns else None,
                        "a NUL byte (0x00) in this value: a CSV text file never holds NUL bytes, so the "
                        "file is corrupted (or it is not a text file); fix or re-create the file",
                    )
                )
            if q.size:
                opens, closes = q[parity::2], q[1 - parity :: 2]
                bad_open = opens[(opens > 0) & ~np.isin(a[np.maximum(opens - 1, 0)], (44, 10, 34))]
                bad_close = closes[(closes + 1 < n) & ~np.isin(a[np.minimum(closes + 1, n - 1)], (44, 13, 10, 34))]
                for bad in (bad_open, bad_close):
                    if bad.size:
                        found.append(
                            (
                                int(bad[0]),
                                line_of(int(bad[0])),
                                None,
                                'misplaced quote character ("): a value containing quotes must be wrapped '
                                'in quotes as a whole, with each quote inside it doubled ("")',
                            )
                        )
            returns = outside(np.flatnonzero(block == 13) + s)
            stray = returns[(returns + 1 < n) & (a[np.minimum(returns + 1, n - 1)] != 10)]
            if stray.size:
                found.append(
                    (
                        int(stray[0]),
                        line_of(int(stray[0])),
                        None,
                        "a carriage return (CR) in the middle of a line outside quotes; values containing "
                        "line breaks must be quoted",
                    )
                )
            if bad_fields.size:
                i = int(bad_fields[0])
                length = int(ends[i] - starts[i])
                if length == 0 or (length == 1 and a[starts[i]] == 13):
                    problem = "this line is blank; remove empty lines from the file"
                else:
                    problem = f"this row has {fields[i]} fields but the header has {n_columns} columns"
                    if ends[i] == n:
                        problem += " (is the file cut off? the last line looks truncated)"
                    elif fields[i] > n_columns:
                        problem += " (a value containing a comma must be wrapped in quotes)"
                found.append((int(ends[i]), int(first_lines[i]), None, problem))
            if found:
                pos, line, column, problem = min(found, key=lambda f: f[0])
                if not bad_fields.size or pos != int(ends[int(bad_fields[0])]):
                    raise InputError(path, problem, row=line, column=column)
                wrong, more_wrong = (line, problem), bad_fields.size - 1

        if q.size:
            last_quote_line = line_of(int(q[-1]))
        if ends.size:
            if wrong is None:
                if body_start is None:
                    body_start = int(ends[0]) + 1
                    first_lines = first_lines[1:]  # the header
                line_parts.append(first_lines)
                records += ends.size
                boundaries.append((records, int(ends[-1]) + 1))
            record_start = int(ends[-1]) + 1
            record_line = lines_before + int(np.searchsorted(nl, ends[-1], side="right")) + 1
            record_commas = commas.size - int(before[-1])
        else:
            record_commas += commas.size
        lines_before += nl.size
        in_quotes = bool((parity + q.size) % 2)

    if wrong is not None:
        line, problem = wrong
        if more_wrong:
            problem += f"; {more_wrong} more line(s) have the wrong number of fields"
        raise InputError(path, problem, row=line)
    if in_quotes:
        raise InputError(
            path,
            'a quoted value starts on this line but its closing quote (") is missing; '
            'the file may be cut off, or a quote inside a value is not doubled ("")',
            row=last_quote_line,
        )
    lines = np.concatenate(line_parts) if line_parts else np.empty(0, dtype=np.int64)
    batches = []
    first, lo = 1, body_start or n
    for k, (done, hi) in enumerate(boundaries):
        if done > first and (hi - lo >= PARSE_BATCH or k == len(boundaries) - 1):
            batches.append((first - 1, done - 1, lo, min(hi, n)))
            first, lo = done, hi
    return lines, batches


def _fail_if(file: str, df: pl.DataFrame, condition: pl.Expr, column: str | None, describe) -> None:
    """InputError naming the first row (by line) that meets `condition` and how many more do; only
    that row is materialised, not every failing one."""
    stats = df.select(
        condition.fill_null(False).sum().alias("n"),
        pl.col(_LINE).filter(condition.fill_null(False)).min().alias("line"),
    )
    count = int(stats["n"][0] or 0)
    if not count:
        return
    line = stats["line"][0]
    first = df.filter(condition.fill_null(False) & (pl.col(_LINE) == line)).row(0, named=True)
    problem = describe(first)
    if count > 1:
        problem += f" ({count - 1} more row(s) have this problem)"
    raise InputError(file, problem, row=line, column=column)
