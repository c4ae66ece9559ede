"""The ``processes`` marker is found in what a test or its fixture calls (tests/support/markers.py)
and is set on the suite's real process-starting tests."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.support.markers import MARKER, starts_processes


def _runs_a_command() -> None:
    subprocess.run(["true"], check=True)


def _calls_a_helper_that_runs_a_command() -> None:
    _runs_a_command()


def _pure() -> int:
    return sum(range(3))


def test_direct_and_helper_calls_are_found_and_pure_code_is_not() -> None:
    assert starts_processes(_runs_a_command)
    assert starts_processes(_calls_a_helper_that_runs_a_command)
    assert not starts_processes(_pure)
    assert not starts_processes(len)  # no code object: nothing to read


def test_a_nested_function_counts() -> None:
    def outer() -> Any:
        def inner() -> Any:
            from playwright.sync_api import sync_playwright

            return sync_playwright

        return inner

    assert starts_processes(outer)


def test_this_module_itself_is_quick(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker(MARKER) is None


def test_a_test_that_starts_a_process_is_marked(request: pytest.FixtureRequest) -> None:
    _runs_a_command()
    assert request.node.get_closest_marker(MARKER) is not None
