"""Execution schedules: the time grammar, rules and occurrences, records and history.

Public API in :mod:`cfy_local.schedules.api`. Core package: no click, no textual.
"""
