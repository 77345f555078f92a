"""pytest plugin (entry point ``pytest11``): the ``initializer_parity`` fixture.

    def test_migration_kept_the_init(initializer_parity):
        initializer_parity.check("glorot_uniform", (3, 3, 1, 32))

A failing check fails the test with the report table as the message.
"""
from __future__ import annotations

from typing import Any

import pytest


class InitializerParity:
    """Thin layer over :mod:`compat_init.parity` that fails the test on a disagreement."""

    def check(self, name: str, shape: Any, **kwargs: Any) -> Any:
        from compat_init import parity

        return self._verdict(parity.check(name, shape, **kwargs))

    def compare(self, reference: Any, candidate: Any, shape: Any, **kwargs: Any) -> Any:
        from compat_init import parity

        return self._verdict(parity.compare(reference, candidate, shape, **kwargs))

    def check_model(self, model: Any, **kwargs: Any) -> Any:
        from compat_init import parity

        return self._verdict(parity.check_model(model, **kwargs))

    @staticmethod
    def _verdict(report: Any) -> Any:
        if not report.passed:
            pytest.fail("initializer parity failed:\n{}".format(report), pytrace=False)
        return report


@pytest.fixture
def initializer_parity() -> InitializerParity:
    """Checks initializer parity; fails the test with the report table."""
    return InitializerParity()
