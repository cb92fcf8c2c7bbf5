"""Fixtures for the TUI tests: a fixture state dir at a frozen time and a way to drive the
app headless (Textual's ``run_test`` pilot) from plain synchronous tests."""
from __future__ import annotations

import asyncio

import pytest

from cfy_local import clock

import tui_state


@pytest.fixture
def state(home):
    """The fixture state dir (two deployments, seven executions, events, two schedules)."""
    built = tui_state.build(home)
    tui_state.add_schedules(built)
    yield built
    clock.freeze(None)


@pytest.fixture
def drive():
    """``drive(app, scenario, size=(80, 24))`` runs ``await scenario(pilot)`` against the app."""

    def run(app, scenario, size=(80, 24)):
        async def main():
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                await scenario(pilot)

        asyncio.run(main())

    return run
