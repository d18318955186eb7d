"""The kernel's one use of nutpie's private API (core/fastirt/nutpie_adapter.py): this test fails,
naming the installed nutpie version, the day a nutpie release changes what the adapter relies on."""

from __future__ import annotations

import dataclasses

import nutpie
import pytest
from nutpie import compile_pymc

from legis_assets.core import fastirt
from legis_assets.core.fastirt import nutpie_adapter


def test_the_installed_nutpie_is_the_one_the_adapter_was_written_for():
    try:
        fastirt.check_nutpie()
    except fastirt.NutpieChanged as err:  # the message says the version and what changed
        pytest.fail(str(err))


def test_a_changed_nutpie_fails_loudly_naming_its_version(monkeypatch):
    @dataclasses.dataclass
    class Renamed:  # a release that renamed a field and added a required one
        dims: object
        n_dim: int
        brand_new: int

    monkeypatch.setattr(compile_pymc, "CompiledPyMCModel", Renamed)
    with pytest.raises(nutpie_adapter.NutpieChanged) as info:
        fastirt.check_nutpie()
    message = str(info.value)
    assert f"nutpie {nutpie.__version__}" in message
    assert (
        "lost the fields" in message and "_n_dim" in message and "new required fields ['brand_new', 'n_dim']" in message
    )


def test_a_changed_callback_builder_fails_loudly(monkeypatch):
    monkeypatch.setattr(compile_pymc, "_make_c_logp_func", lambda n_dim, logp_fn: None)
    with pytest.raises(nutpie_adapter.NutpieChanged, match="_make_c_logp_func changed"):
        fastirt.check_nutpie()
