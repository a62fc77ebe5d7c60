"""Fakes at the client boundary of Greengrass: the IPC client v2 and the stream manager client.

moto has no Greengrass and there is no nucleus here, so these stand in for the
two SDK clients, with the same method names and keyword arguments as the calls
the components make, answering with the SDK's own model classes. Like the real
IPC client, the fake calls subscription callbacks from threads of its own.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from awsiot.greengrasscoreipc import model
from stream_manager import MessageStreamDefinition, ResourceNotFoundException, StreamManagerException


def _on_thread(call: Callable[[], None]) -> None:
    """Run a callback the way the IPC client does: on another thread; wait for it."""
    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=10)


class FakeOperation:
    """A streaming operation; ``close`` ends the subscription."""

    def __init__(self, on_close: Callable[[], object]) -> None:
        self._on_close = on_close

    def close(self) -> Future[None]:
        self._on_close()
        done: Future[None] = Future()
        done.set_result(None)
        return done


class FakeIpc:
    """``GreengrassCoreIPCClientV2`` as the components use it, plus the nucleus' side to drive it."""

    def __init__(self, configuration: dict[str, Any]) -> None:
        self.configuration = copy.deepcopy(configuration)
        self.published: list[tuple[str, str, bytes]] = []  # (topic, qos, payload)
        self.reports: list[model.ConfigurationValidityReport] = []
        self.publish_error: Exception | None = None
        self.publish_hangs = False
        self.subscriptions: dict[str, tuple[str, Callable[[model.IoTCoreMessage], None]]] = {}
        self._validate: Callable[[model.ValidateConfigurationUpdateEvents], None] | None = None
        self._updated: Callable[[model.ConfigurationUpdateEvents], None] | None = None

    # --- the client's methods -------------------------------------------------------------
    def publish_to_iot_core_async(self, *, topic_name: str, qos: str, payload: bytes) -> Future[Any]:
        answer: Future[Any] = Future()
        if self.publish_error is not None:
            answer.set_exception(self.publish_error)
        elif not self.publish_hangs:
            self.published.append((topic_name, qos, payload))
            answer.set_result(model.PublishToIoTCoreResponse())
        return answer

    def get_configuration(self, *, component_name: str | None = None, key_path: list[str] | None = None) -> Any:
        return model.GetConfigurationResponse(value=copy.deepcopy(self.configuration))

    def subscribe_to_validate_configuration_updates(
        self, *, on_stream_event: Callable[[Any], None], on_stream_error: Callable[[Exception], bool]
    ) -> Any:
        self._validate = on_stream_event
        return model.SubscribeToValidateConfigurationUpdatesResponse(), FakeOperation(lambda: None)

    def send_configuration_validity_report(self, *, configuration_validity_report: Any) -> Any:
        self.reports.append(configuration_validity_report)
        return model.SendConfigurationValidityReportResponse()

    def subscribe_to_configuration_update(
        self,
        *,
        key_path: list[str],
        on_stream_event: Callable[[Any], None],
        on_stream_error: Callable[[Exception], bool],
    ) -> Any:
        self._updated = on_stream_event
        return model.SubscribeToConfigurationUpdateResponse(), FakeOperation(lambda: None)

    def subscribe_to_iot_core(
        self,
        *,
        topic_name: str,
        qos: str,
        on_stream_event: Callable[[Any], None],
        on_stream_error: Callable[[Exception], bool],
    ) -> Any:
        self.subscriptions[topic_name] = (qos, on_stream_event)
        return model.SubscribeToIoTCoreResponse(), FakeOperation(lambda: self.subscriptions.pop(topic_name, None))

    # --- the nucleus' side ----------------------------------------------------------------
    @property
    def subscribed_to_validation(self) -> bool:
        return self._validate is not None

    def propose(self, configuration: dict[str, Any], deployment_id: str) -> model.ConfigurationValidityReport:
        """A deployment arrives: ask the component, return its answer."""
        assert self._validate is not None, "the component did not subscribe to configuration validation"
        event = model.ValidateConfigurationUpdateEvents(
            validate_configuration_update_event=model.ValidateConfigurationUpdateEvent(
                configuration=copy.deepcopy(configuration), deployment_id=deployment_id
            )
        )
        validate = self._validate
        _on_thread(lambda: validate(event))
        return self.reports[-1]

    def apply(self, configuration: dict[str, Any]) -> None:
        """The deployment was accepted: the configuration changes and the component hears of it."""
        assert self._updated is not None, "the component did not subscribe to configuration updates"
        self.configuration = copy.deepcopy(configuration)
        event = model.ConfigurationUpdateEvents(
            configuration_update_event=model.ConfigurationUpdateEvent(component_name="x", key_path=[])
        )
        updated = self._updated
        _on_thread(lambda: updated(event))

    def deliver(self, topic: str, payload: bytes) -> None:
        """IoT Core sends a message to a topic the component subscribed to."""
        _, callback = self.subscriptions[topic]
        message = model.IoTCoreMessage(message=model.MQTTMessage(topic_name=topic, payload=payload))
        _on_thread(lambda: callback(message))


class FakeStreamManager:
    """``StreamManagerClient`` as the stream manager transport uses it."""

    def __init__(self) -> None:
        self.definitions: dict[str, MessageStreamDefinition] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.calls: list[str] = []
        self.error: Exception | None = None
        self.closed = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.error is not None:
            raise self.error

    def list_streams(self) -> list[str]:
        self._call("list_streams")
        return sorted(self.definitions)

    def create_message_stream(self, definition: MessageStreamDefinition) -> None:
        self._call("create_message_stream")
        if definition.name in self.definitions:
            raise StreamManagerException(f"stream {definition.name} already exists")
        self.definitions[definition.name] = definition

    def update_message_stream(self, definition: MessageStreamDefinition) -> None:
        self._call("update_message_stream")
        if definition.name not in self.definitions:
            raise ResourceNotFoundException(f"no stream {definition.name}")
        self.definitions[definition.name] = definition

    def append_message(self, stream_name: str, data: bytes) -> int:
        self._call("append_message")
        if stream_name not in self.definitions:
            raise ResourceNotFoundException(f"no stream {stream_name}")
        self.messages.append((stream_name, data))
        return len(self.messages) - 1

    def close(self) -> None:
        self.closed = True
