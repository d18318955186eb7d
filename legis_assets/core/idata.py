"""Typed access to the groups of an arviz InferenceData.

arviz sets the groups (posterior, sample_stats, ...) as instance attributes at run time, so a type
checker sees no `idata.posterior`. These accessors read the same attribute (an AttributeError when
the group is missing, as before) and give it its type: an xarray Dataset.
"""

from __future__ import annotations

import arviz as az
import xarray as xr


def group(idata: az.InferenceData, name: str) -> xr.Dataset:
    """The group `name` of `idata` (exactly `idata.<name>`)."""
    ds: xr.Dataset = getattr(idata, name)
    return ds


def posterior_of(idata: az.InferenceData) -> xr.Dataset:
    """`idata.posterior`."""
    return group(idata, "posterior")


def sample_stats_of(idata: az.InferenceData) -> xr.Dataset:
    """`idata.sample_stats`."""
    return group(idata, "sample_stats")
