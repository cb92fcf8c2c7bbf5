"""The workflow engine: runs an execution's workflow in this process.

Empty on purpose, so importing one light module of the engine (``graphstate.progress``,
``events``) does not load the rest: the worker runs a workflow with
``cfy_local.engine.workflow_run.run_workflow``, which raises ``exceptions.WorkflowRunFailed`` or
``exceptions.WorkflowCancelled``.
"""
