"""Errors of the core and the exit codes they map to (the table in README, "Executions").

The core raises these; the CLI adapter turns them into one line on stderr and the exit
code below. Nothing here knows about click.
"""
from __future__ import annotations


class ExitCode:
    """The one table of process exit codes."""

    OK = 0                 # success; a waited execution ended `terminated`
    ERROR = 1              # bad input, not found, conflict, or a waited execution `failed`
    USAGE = 2              # click usage error
    CANCELLED = 3          # a waited execution ended `cancelled`
    TIMEOUT = 4            # --timeout elapsed while waiting; the execution still runs
    INTERRUPTED = 130      # Ctrl-C while waiting; the execution keeps running


class CfyLocalError(Exception):
    """Base of every error the core reports to a user. ``str(err)`` is the one-line message."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, possible_solutions: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.possible_solutions = possible_solutions or []

    def __str__(self) -> str:
        return self.message


class NotFoundError(CfyLocalError):
    """A record named by the user does not exist."""


class AlreadyExistsError(CfyLocalError):
    """Creating a record whose id is taken."""


class ValidationError(CfyLocalError):
    """Bad input: ids, inputs, parameters, times, rules, options."""


class DSLError(ValidationError):
    """A blueprint that cannot be parsed or validated. The message names file and line."""


class ConflictError(CfyLocalError):
    """The state forbids the request (busy deployment, maintenance, illegal transition)."""


class InvalidTransitionError(ConflictError):
    """An execution status change that the transition table refuses."""


class MaintenanceModeError(ConflictError):
    """Refused because maintenance mode is activating or activated."""


class CorruptRecordError(CfyLocalError):
    """A state file that cannot be read as the record it should be. Names the file."""


class StorageError(CfyLocalError):
    """Writing state failed (disk full, permissions); the previous state is intact."""


def not_found(kind: str, ident: str) -> NotFoundError:
    """Cloudify's wording for a missing resource, e.g. ``Requested `Deployment` with ID `x` was not found``."""
    return NotFoundError(f"Requested `{kind}` with ID `{ident}` was not found")


# Kinds of refusal that Cloudify's REST API reports with their own error codes. The core
# raises them where the rule lives; the CLI treats them as their base class.
class IllegalExecutionParametersError(ValidationError):
    """Workflow parameters undeclared (without allow_custom_parameters), missing or invalid."""


class NonexistentWorkflowError(ValidationError):
    """The deployment has no workflow of that name."""


class ExistingRunningExecutionError(ConflictError):
    """Another execution of the deployment is running (no force, no queue)."""


class EnvironmentCreationPendingError(ConflictError):
    """The deployment's create_deployment_environment run has not started yet."""


class EnvironmentCreationInProgressError(ConflictError):
    """The deployment's create_deployment_environment run is still running."""


class MissingDeploymentInputError(ValidationError):
    """A required deployment input was not given."""


class UnknownDeploymentInputError(ValidationError):
    """A deployment input that the blueprint does not declare."""


class UnknownDeploymentSecretError(ValidationError):
    """Deployment create refused: the blueprint reads secrets that do not exist."""


class ExistingStartedModificationError(ConflictError):
    """Another modification of the deployment is started (scale, ``start_modification``)."""


class ModificationAlreadyEndedError(ConflictError):
    """Finish or rollback of a modification that already finished or rolled back."""


# The error code and HTTP status a Cloudify Manager answers a refusal with — for `cfy
# serve` and for the in-process client of get_rest_client() alike. Most specific first:
# the first class an error is an instance of decides.
MANAGER_ERROR_CODES: list[tuple[type, str, int]] = [
    (IllegalExecutionParametersError, "illegal_execution_parameters_error", 400),
    (NonexistentWorkflowError, "nonexistent_workflow_error", 400),
    (ExistingRunningExecutionError, "existing_running_execution_error", 400),
    (ExistingStartedModificationError, "existing_started_deployment_modification_error", 400),
    (ModificationAlreadyEndedError, "deployment_modification_already_ended_error", 400),
    (EnvironmentCreationPendingError, "deployment_environment_creation_pending_error", 400),
    (EnvironmentCreationInProgressError, "deployment_environment_creation_in_progress_error", 400),
    (MissingDeploymentInputError, "missing_required_deployment_input_error", 400),
    (UnknownDeploymentInputError, "unknown_deployment_input_error", 400),
    (UnknownDeploymentSecretError, "unknown_deployment_secret_error", 400),
    (NotFoundError, "not_found_error", 404),
    (AlreadyExistsError, "conflict_error", 409),
    (DSLError, "invalid_blueprint_error", 400),
    (ValidationError, "bad_parameters_error", 400),
    (InvalidTransitionError, "invalid_execution_status_update_error", 400),
    (ConflictError, "conflict_error", 409),
    (CorruptRecordError, "internal_server_error", 500),
    (StorageError, "internal_server_error", 500),
]


def manager_error(exc: CfyLocalError) -> tuple[str, int]:
    """(error code, HTTP status) of a refusal, as a manager answers it."""
    for kind, code, status in MANAGER_ERROR_CODES:
        if isinstance(exc, kind):
            return code, status
    return "general_error", 400
