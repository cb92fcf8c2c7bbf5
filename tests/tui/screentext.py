"""The text on a running app's screen (what a user reads), for assertions in pilot tests."""
from __future__ import annotations


def screen_text(app) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips)
