"""What plugin code gets from ``get_rest_client()``: the REST client's error and resource
types, and the seam through which the process that runs the engine provides the client.

The engine (``cloudify.manager.get_rest_client()`` in the ``cloudify`` aliases, the operation
host's REST requests) asks :func:`client_for` for a client of a state dir; which client that
is belongs to the process: the worker's entry installs the in-process one over the core
services (``cfy_local.plugins.rest_client``), which the engine cannot import — the services
sit above it. A process that installed none (a library caller of ``run_workflow``) gets
the error a manager-less client would: no REST endpoint.
"""
from __future__ import annotations

from typing import Any, Callable

from cfy_local.engine.ctx_stack import current_ctx, current_workflow_ctx

class CloudifyClientError(Exception):
    """cloudify_rest_client.exceptions.CloudifyClientError: a refused REST call."""

    def __init__(self, message, server_traceback=None, status_code=-1, error_code=None, response=None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.server_traceback = server_traceback
        self.response = response

    def __str__(self):
        if self.status_code != -1:
            return f"{self.status_code}: {self.message}"
        return str(self.message)


class DeploymentEnvironmentCreationInProgressError(CloudifyClientError):
    ERROR_CODE = "deployment_environment_creation_in_progress_error"


class DeploymentEnvironmentCreationPendingError(CloudifyClientError):
    ERROR_CODE = "deployment_environment_creation_pending_error"


class UserUnauthorizedError(CloudifyClientError):
    ERROR_CODE = "unauthorized_error"


class MaintenanceModeActiveError(CloudifyClientError):
    ERROR_CODE = "maintenance_mode_active"


class NotModifiedError(CloudifyClientError):
    ERROR_CODE = "not_modified"


class IllegalExecutionParametersError(CloudifyClientError):
    ERROR_CODE = "illegal_execution_parameters_error"


class NoSuchIncludeFieldError(CloudifyClientError):
    ERROR_CODE = "no_such_include_field_error"


class MissingRequiredDeploymentInputError(CloudifyClientError):
    ERROR_CODE = "missing_required_deployment_input_error"


class UnknownDeploymentInputError(CloudifyClientError):
    ERROR_CODE = "unknown_deployment_input_error"


class DeploymentPluginNotFound(CloudifyClientError):
    ERROR_CODE = "deployment_plugin_not_found"


class ExistingRunningExecutionError(CloudifyClientError):
    ERROR_CODE = "existing_running_execution_error"


EXCEPTION_CLASSES = {cls.__name__: cls for cls in (
    CloudifyClientError, DeploymentEnvironmentCreationInProgressError, DeploymentEnvironmentCreationPendingError,
    UserUnauthorizedError, MaintenanceModeActiveError, NotModifiedError, IllegalExecutionParametersError,
    NoSuchIncludeFieldError, MissingRequiredDeploymentInputError, UnknownDeploymentInputError,
    DeploymentPluginNotFound, ExistingRunningExecutionError)}


class Resource(dict):
    """A REST resource: a dict whose keys are also attributes (``instance.runtime_properties``)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            return None


class ListResponse(list):
    """A page of resources: iterate it, or read ``.items`` and ``.metadata``."""

    def __init__(self, items, total=None):
        super().__init__(items)
        self.items = list(items)
        count = len(self.items) if total is None else total
        self.metadata = Resource(pagination=Resource(total=count, size=len(self.items), offset=0))

_client_factory: Callable[[Any], Any] | None = None


def install_client_factory(factory: Callable[[Any], Any]) -> None:
    """``factory(home)`` returns the client for a state dir."""
    global _client_factory
    _client_factory = factory


def client_for(home: Any) -> Any:
    if _client_factory is None:
        raise CloudifyClientError("get_rest_client(): no REST client in this process (cfy-local provides one to "
                                  "operations and workflows run by its workers)", status_code=503)
    return _client_factory(home)


def current_run():
    """The workflow run of the operation or workflow calling the client, if any."""
    for stack in (current_ctx, current_workflow_ctx):
        if stack.check():
            run = getattr(stack.get_ctx(), "_run", None)
            if run is not None:
                return run
    return None


def get_rest_client(tenant=None, api_token=None) -> Any:
    """``cloudify.manager.get_rest_client()``: the client for the state dir of the running
    operation or workflow."""
    run = current_run()
    if run is None:
        raise CloudifyClientError("get_rest_client() needs a running operation or workflow of cfy-local")
    return client_for(run.home)
