"""AWS IoT Core through the Greengrass nucleus: IPC ``PublishToIoTCore`` at QoS 1.

For gateways that run the pipeline as a Greengrass component with
``transport: mqtt``. The nucleus holds the one MQTT connection of the core
device (its certificate, its reconnects, its own offline spool); the component
only asks it over local IPC. With QoS ``AT_LEAST_ONCE`` the IPC call completes
once the nucleus has the message (it resends it until IoT Core acknowledges),
so ``publish`` returns on that answer and raises ``TransportError`` on any
refusal, e.g. a topic outside the recipe's ``accessControl``.

The client is the awsiot ``GreengrassCoreIPCClientV2`` (tests pass a fake with
the same ``publish_to_iot_core_async`` method). Whoever created it closes it:
the same client also carries the component's configuration subscriptions.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from awscrt.exceptions import AwsCrtError
from awsiot.eventstreamrpc import EventStreamError, EventStreamOperationError
from awsiot.greengrasscoreipc.model import QOS, UnauthorizedError

from edge.readings import TransportError

# Errors the IPC client raises for a failed call: refusals by the nucleus, a closed connection, a CRT failure.
IPC_ERRORS = (EventStreamOperationError, EventStreamError, AwsCrtError, ConnectionError)


class IotCorePublisher(Protocol):
    """The part of ``GreengrassCoreIPCClientV2`` this transport uses."""

    def publish_to_iot_core_async(self, *, topic_name: str, qos: str, payload: bytes) -> Any:
        """Returns a ``concurrent.futures.Future`` of the ``PublishToIoTCoreResponse``."""


class GreengrassIpcTransport:
    """``Transport`` over the nucleus' IPC MQTT proxy."""

    def __init__(self, client: IotCorePublisher, *, publish_timeout_s: float = 30.0) -> None:
        self._client = client
        self._timeout_s = publish_timeout_s

    async def connect(self) -> None:
        """Nothing to open: the IPC client connected to the nucleus when it was created."""

    async def publish(self, topic: str, payload: bytes) -> None:
        """Hand one message to the nucleus at QoS 1; returns when the nucleus accepted it."""
        try:
            future = self._client.publish_to_iot_core_async(topic_name=topic, qos=QOS.AT_LEAST_ONCE, payload=payload)
            await asyncio.wait_for(asyncio.wrap_future(future), self._timeout_s)
        except UnauthorizedError as error:
            raise TransportError(
                f"the nucleus refused publishing to {topic}: {error.message}; fix: allow the topic in the "
                "recipe's accessControl (aws.greengrass.ipc.mqttproxy, aws.greengrass#PublishToIoTCore)"
            ) from error
        except TimeoutError:
            raise TransportError(f"no answer from the nucleus for {topic} within {self._timeout_s}s") from None
        except IPC_ERRORS as error:
            raise TransportError(f"IPC publish to {topic} failed: {error!r}") from error

    async def close(self) -> None:
        """Nothing to close here: the entry point that created the IPC client closes it."""
