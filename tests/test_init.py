"""The public API (gibbsnet_plugin/__init__.py): every name it lists resolves, on first use."""

from __future__ import annotations

import subprocess
import sys

import gibbsnet_plugin as gn


def test_every_public_name_resolves():
    for name in gn.__all__:
        assert getattr(gn, name) is not None, name
    assert set(gn.__all__) <= set(dir(gn))


def test_importing_the_package_loads_nothing_else():
    code = ("import sys, gibbsnet_plugin\n"
            "print(sorted(m for m in sys.modules if m.startswith(('gibbsnet_plugin.', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
