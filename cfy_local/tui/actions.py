"""Cancel, force-cancel, kill and resume, shared by the executions table and the detail screen.

Each goes through ``cfy_local.executions.api`` (the functions `cfy executions cancel/resume`
call) in a worker thread; the three cancels ask for confirmation first. The command line at
the bottom shows the equivalent `cfy` command and what came of it.
"""
from __future__ import annotations

from typing import Any


def _outcome(record: Any) -> str:
    if isinstance(record, dict) and record.get("status"):
        return f"execution {record.get('id', '')} is {record.get('status_display') or record['status']}"
    return "done"


class ExecutionActions:
    """Mixin for a screen with ``current_execution_id()``."""

    CANCEL_KINDS = {
        # action: (cfy flags, confirmation question, api keyword arguments)
        "cancel": ((), "Cancel execution {id}? The workflow stops between tasks.", {}),
        "force": (("--force",), "Force-cancel execution {id}? Its worker is stopped now.", {"force": True}),
        "kill": (("--kill",), "Kill execution {id}? Its worker and running operations are killed.", {"kill": True}),
    }

    def _ask_cancel(self, kind: str) -> None:
        from cfy_local.tui.screens.confirm import ConfirmScreen

        execution_id = self.current_execution_id()
        if not execution_id:
            return
        flags, question, kwargs = self.CANCEL_KINDS[kind]
        command = self.app.cfy_command("executions", "cancel", execution_id, *flags)

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.app.show_command(command, "not sent")
                return

            def call():
                from cfy_local.executions import api

                return api.cancel(self.app.home, execution_id, **kwargs)

            self.app.perform(command, call, _outcome)

        self.app.push_screen(ConfirmScreen(question.format(id=execution_id), command), confirmed)

    def action_cancel(self) -> None:
        self._ask_cancel("cancel")

    def action_force_cancel(self) -> None:
        self._ask_cancel("force")

    def action_kill(self) -> None:
        self._ask_cancel("kill")

    def action_resume(self) -> None:
        execution_id = self.current_execution_id()
        if not execution_id:
            return
        command = self.app.cfy_command("executions", "resume", execution_id)

        def call():
            from cfy_local.executions import api

            return api.resume(self.app.home, execution_id)

        self.app.perform(command, call, _outcome)
