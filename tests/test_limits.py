"""Upper bounds on requests (gibbsnet_plugin/limits.py)."""

from __future__ import annotations

import pytest

from gibbsnet_plugin import limits
from gibbsnet_plugin.errors import GibbsnetError


def test_memory_is_this_machines_physical_memory():
    assert 2**28 < limits.memory_bytes() < 2**50


def test_a_request_above_the_memory_is_refused_with_sizes_and_what_to_lower():
    limits.check_memory(2**20, "a small request", "lower `num`")
    with pytest.raises(GibbsnetError, match=r"^9 chains needs at least 16,384\.0 GiB of memory and "
                       r"this machine has [\d,.]+ GiB; lower `num`$"):
        limits.check_memory(2**44, "9 chains", "lower `num`")
