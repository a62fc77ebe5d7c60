"""The component side of Greengrass configuration: read it, validate deployments, hear about changes.

Thin wrappers around ``GreengrassCoreIPCClientV2`` (tests pass a fake with the
same methods). Callbacks of the IPC client run on its executor threads, not on
the event loop: they only validate (plain, synchronous code) or hand a signal
to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from awsiot.greengrasscoreipc.model import (
    ConfigurationUpdateEvents,
    ConfigurationValidityReport,
    ConfigurationValidityStatus,
    ValidateConfigurationUpdateEvents,
)

from edge.greengrass.config import ConfigurationError

log = logging.getLogger(__name__)


class ConfigurationIpc(Protocol):
    """The part of ``GreengrassCoreIPCClientV2`` used here."""

    def get_configuration(self, *, component_name: str | None = None, key_path: list[str] | None = None) -> Any: ...

    def subscribe_to_validate_configuration_updates(
        self,
        *,
        on_stream_event: Callable[[ValidateConfigurationUpdateEvents], None],
        on_stream_error: Callable[[Exception], bool],
    ) -> Any: ...

    def send_configuration_validity_report(
        self, *, configuration_validity_report: ConfigurationValidityReport
    ) -> Any: ...

    def subscribe_to_configuration_update(
        self,
        *,
        key_path: list[str],
        on_stream_event: Callable[[ConfigurationUpdateEvents], None],
        on_stream_error: Callable[[Exception], bool],
    ) -> Any: ...


def read_configuration(ipc: ConfigurationIpc) -> dict[str, Any]:
    """This component's whole configuration, as the nucleus holds it now."""
    return dict(ipc.get_configuration(key_path=[]).value or {})


Check = Callable[[Mapping[str, Any]], Any]  # raises ConfigurationError for a configuration it cannot run with


def validity_report(
    component: str, configuration: Mapping[str, Any], deployment_id: str | None, check: Check
) -> ConfigurationValidityReport:
    """ACCEPTED, or REJECTED with one line per problem; a failing check rejects rather than lets through."""
    try:
        check(configuration)
    except ConfigurationError as error:
        message = f"{component} configuration rejected:\n" + "\n".join(error.problems)
        return ConfigurationValidityReport(
            status=ConfigurationValidityStatus.REJECTED, deployment_id=deployment_id, message=message
        )
    except Exception as error:  # a validation bug must not wave a configuration through
        log.exception("validating deployment %s failed", deployment_id)
        message = f"{component} configuration could not be validated ({error!r}); fix: see the component log"
        return ConfigurationValidityReport(
            status=ConfigurationValidityStatus.REJECTED, deployment_id=deployment_id, message=message
        )
    return ConfigurationValidityReport(
        status=ConfigurationValidityStatus.ACCEPTED,
        deployment_id=deployment_id,
        message=f"{component} configuration accepted",
    )


class DeploymentValidator:
    """Answers each deployment's proposed configuration with ACCEPTED or REJECTED, before the nucleus applies it."""

    def __init__(self, ipc: ConfigurationIpc, component: str, check: Check) -> None:
        self._ipc = ipc
        self._component = component
        self._check = check

    def subscribe(self) -> None:
        self._ipc.subscribe_to_validate_configuration_updates(
            on_stream_event=self.on_event, on_stream_error=keep_stream_open
        )

    def on_event(self, event: ValidateConfigurationUpdateEvents) -> None:
        update = event.validate_configuration_update_event
        if update is None:
            return
        report = validity_report(self._component, update.configuration or {}, update.deployment_id, self._check)
        log.info("deployment %s: %s", update.deployment_id, report.message)
        self._ipc.send_configuration_validity_report(configuration_validity_report=report)


def watch_configuration(ipc: ConfigurationIpc, changed: Callable[[], object]) -> None:
    """Call ``changed`` (on an IPC thread) whenever the nucleus applied a new configuration."""

    def on_event(_event: ConfigurationUpdateEvents) -> None:
        changed()

    ipc.subscribe_to_configuration_update(key_path=[], on_stream_event=on_event, on_stream_error=keep_stream_open)


def keep_stream_open(error: Exception) -> bool:
    """``on_stream_error`` of every subscription: log, and keep receiving."""
    log.warning("IPC subscription error (the stream stays open): %r", error)
    return False  # False: keep the stream; True would close it
