"""Helpers for the TUI tests: the text on a running app's screen.

Test folders here are not packages (pytest's prepend import mode), so this module has a
name no other test folder uses.
"""
from __future__ import annotations


def screen_text(app) -> str:
    """What a user reads on the app's screen right now, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips)
