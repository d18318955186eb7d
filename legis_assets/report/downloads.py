"""Offline downloads embedded in a report: a polars frame as a ``data:`` URI link.

One call per table: ``download_link(frame, "ideal_points.csv", "Ideal points")`` returns what the
template's ``download`` macro renders as ``<a download=... href="data:text/csv;...">``. The CSV is
base64 in the page itself, so the link works offline and needs no server; a download is not a
fetch, so the page's Content-Security-Policy (``default-src 'none'``) does not block it.
"""

from __future__ import annotations

import base64
import re

import polars as pl

#: tables larger than this (bytes of CSV) are not embedded: the page would become too heavy; the
#: link then says to use `legis-assets export` instead
MAX_EMBED_BYTES = 20_000_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def download_link(frame: pl.DataFrame, filename: str, label: str, description: str = "") -> dict:
    """href (data: URI of the frame as UTF-8 CSV with a header row), filename (made safe), label,
    description, rows, bytes; `href` is None when the CSV is larger than MAX_EMBED_BYTES."""
    data = frame.write_csv().encode("utf-8")
    name = _SAFE_NAME.sub("_", filename).strip("._") or "table.csv"
    href = None
    if len(data) <= MAX_EMBED_BYTES:
        href = "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")
    return {
        "href": href,
        "filename": name,
        "label": label,
        "description": description,
        "rows": frame.height,
        "bytes": len(data),
    }


def decode_href(href: str) -> bytes:
    """The bytes a data: link carries (tests, and anyone checking a page)."""
    head, _, payload = href.partition(",")
    if not head.startswith("data:"):
        raise ValueError("not a data: URI")
    return base64.b64decode(payload) if head.endswith(";base64") else payload.encode("utf-8")
