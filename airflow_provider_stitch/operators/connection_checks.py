"""StitchConnectionCheckOperator: gate a pipeline on a passing Stitch connection check.

Two modes:

- **check the latest** (no ``properties``): read the source's (or destination's) last connection check;
  if it is still running, wait for it; fail with Stitch's own message if it failed.
- **start a fresh check** (``properties`` and/or ``properties_conn_id``): Stitch has no "run a check"
  endpoint; updating properties starts one
  (https://www.stitchdata.com/docs/developers/stitch-connect/guides/create-data-source-with-stitch-connect).
  The operator PUTs the properties (e.g. rotated credentials read from another Airflow connection),
  then waits for *the check that update started*: the one named by the update's ``check_job_name``,
  or, failing that, one started at or after the update's ``updated_at`` (both Stitch's clock).

Blocking and deferrable modes share
:func:`~airflow_provider_stitch.api.connection_checks.judge_connection_check` and return the
same dict: ``{"target", "object_id", "status", "message", "check_name",
"completion_time"}``. Every wait has a deadline (``timeout``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.api import arguments
from airflow_provider_stitch.compat import conf
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchConfigurationError,
    StitchConnectionCheckError,
)
from airflow_provider_stitch.operators.base import (
    SourceReference,
    StitchBaseOperator,
    checked_event,
    coerce_id,
    is_given,
    is_templated,
)
from airflow_provider_stitch.operators.forms import (
    check_mapping,
    describe_api_error,
    form_properties,
    read_form,
    rendered_mapping,
)
from airflow_provider_stitch.operators.waiting import defer_timeout

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.connection_checks import CheckVerdict
    from airflow_provider_stitch.api.objects import ConnectionCheck
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook


#: What a connection-check trigger event's status can be (a verdict, or why there is none).
EVENT_STATUSES = ("succeeded", "failed", "timeout", "error")


class StitchConnectionCheckOperator(StitchBaseOperator):
    """Wait for a Stitch connection check to pass; fail with Stitch's reason if it does not.

    :param source_id: The source to check; or
    :param source_name: its schema or display name (resolved at run time); or
    :param destination_id: a destination to check instead. Destination checks use
        ``/v4/destinations/{id}/last-connection-check``, which Stitch defines but leaves out of its
        published reference: it works where the server offers it (the emulator does).
    :param properties: Properties to update first (templated mapping), which starts a fresh check.
    :param properties_conn_id: An Airflow connection whose fields are added to ``properties`` (e.g.
        rotated credentials); see ``properties_conn_fields``.
    :param properties_conn_fields: Connection attribute -> property name (default: where the object's
        form names them, e.g. login -> ``user`` or ``username``; ``extra.<key>`` reads an extra). The
        values are checked against the form before the update is sent.
    :param poll_interval: Seconds between polls (connection-check reads are not rate-limited).
    :param timeout: How long to wait for the check in total (seconds or a ``timedelta``); then the task
        fails.
    :param deferrable: Wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "source_id",
        "source_name",
        "destination_id",
        "properties",
        "properties_conn_id",
        "stitch_conn_id",
    )
    template_fields_renderers = {"properties": "json"}
    ui_color = "#e8f4fc"

    def __init__(
        self,
        *,
        source_id: int | str | None = None,
        source_name: str | None = None,
        destination_id: int | str | None = None,
        properties: Mapping[str, Any] | str | None = None,
        properties_conn_id: str | None = None,
        properties_conn_fields: Mapping[str, str] | None = None,
        poll_interval: float | timedelta = 10.0,
        timeout: float | timedelta = 900.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        self.source_id = source_id
        self.source_name = source_name
        self.destination_id = destination_id
        self.properties = properties
        self.properties_conn_id = properties_conn_id
        self.properties_conn_fields = dict(properties_conn_fields) if properties_conn_fields else None
        self.poll_interval = arguments.seconds(poll_interval, "poll_interval")
        self.timeout = arguments.seconds(timeout, "timeout")
        self.deferrable = deferrable
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        """One object to check: a destination, or a source named by the one source rule."""
        given = [
            name for name in ("source_id", "source_name", "destination_id") if is_given(getattr(self, name))
        ]
        if not given:
            raise StitchConfigurationError(
                "Give the object to check: a source (source_id or source_name) or destination_id"
                + (" (all rendered empty)." if rendered else ".")
            )
        if is_given(self.destination_id):
            if len(given) > 1:
                raise StitchConfigurationError(
                    "Give a source (source_id or source_name) or destination_id, not both; got "
                    f"{', '.join(given)}."
                )
            if rendered or not is_templated(self.destination_id):
                coerce_id(self.destination_id, "destination_id")
        else:
            SourceReference(self.source_id, self.source_name).check(rendered=rendered)
        if not rendered:
            check_mapping(self.properties, "properties")

    # --- what to check ----------------------------------------------------------------------------

    def _has_new_properties(self) -> bool:
        return bool(rendered_mapping(self.properties, "properties")) or bool(self.properties_conn_id)

    def _new_properties(self, hook: StitchConnectHook, kind: str, type_name: str) -> dict[str, Any]:
        """The new values prepared for the object's form (an update: nothing else is required)."""
        form = read_form(hook, kind, type_name)
        return form_properties(
            form, self.properties, self.properties_conn_id, self.properties_conn_fields, partial=True
        )

    @staticmethod
    def _destination_type(hook: StitchConnectHook, destination_id: int) -> str:
        for destination in hook.list_destinations():
            if int(destination.get("id", 0)) == destination_id and not destination.get("deleted_at"):
                return str(destination.get("type"))
        raise StitchConfigurationError(f"Stitch has no active destination {destination_id}.")

    def _fetch(self, hook: StitchConnectHook, target: str, object_id: int) -> ConnectionCheck | None:
        from airflow_provider_stitch.exceptions import StitchNotFoundError

        try:
            if target == "source":
                return hook.get_last_connection_check(object_id)
            return hook.get_destination_last_connection_check(object_id)
        except StitchNotFoundError:
            return None  # no check yet; the object itself was found before

    def _start(self, hook: StitchConnectHook) -> dict[str, Any]:
        """Resolve the object and, with properties, start a fresh check. Returns the wait parameters."""
        if is_given(self.destination_id):
            target, object_id = "destination", coerce_id(self.destination_id, "destination_id")
            subject = f"destination {object_id}"
            if not self._has_new_properties():
                return {"target": target, "object_id": object_id, "subject": subject, "fresh": False}
            properties = self._new_properties(hook, "destination", self._destination_type(hook, object_id))
            self.log.info(
                "Updating %s properties (%s) to start a connection check.",
                subject,
                ", ".join(sorted(properties)),
            )
            try:
                destination = hook.update_destination(object_id, properties)
            except StitchAPIError as exc:
                raise StitchConfigurationError(describe_api_error(exc, f"the update of {subject}")) from None
            return {
                "target": target,
                "object_id": object_id,
                "subject": subject,
                "fresh": True,
                "expected_check_name": destination.get("check_job_name"),
                "started_after": destination.get("updated_at"),
            }

        source = SourceReference(self.source_id, self.source_name).resolve(hook)
        subject = f"source {source.label}"
        if not self._has_new_properties():
            return {
                "target": "source",
                "object_id": source.id,
                "subject": subject,
                "fresh": False,
                "step": source.current_step_type,
            }
        properties = self._new_properties(hook, "source", str(source.type))
        previous_check = source.check_job_name
        self.log.info(
            "Updating %s properties (%s) to start a connection check.", subject, ", ".join(sorted(properties))
        )
        try:
            updated = hook.update_source(source.id, properties=properties)
        except StitchAPIError as exc:
            raise StitchConfigurationError(describe_api_error(exc, f"the update of {subject}")) from None
        new_check = updated.check_job_name if updated.check_job_name != previous_check else None
        return {
            "target": "source",
            "object_id": source.id,
            "subject": subject,
            "fresh": True,
            "expected_check_name": new_check,
            "started_after": updated.raw.get("updated_at"),
        }

    # --- execute --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_stitch.api.connection_checks import CheckState, judge_connection_check
        from airflow_provider_stitch.api.objects import parse_timestamp

        self.check_arguments(rendered=True)
        deadline = time.time() + self.timeout
        hook = self.hook
        wait = self._start(hook)
        started_after = parse_timestamp(wait.get("started_after"))
        while True:
            verdict = judge_connection_check(
                self._fetch(hook, wait["target"], wait["object_id"]),
                subject=wait["subject"],
                expected_name=wait.get("expected_check_name"),
                started_after=started_after,
            )
            if verdict.state.is_final:
                return self._finish(self._result(wait, verdict.to_dict()))
            if (
                verdict.state is CheckState.NOT_STARTED
                and not wait["fresh"]
                and wait.get("step")
                not in (
                    "discover_schema",
                    None,
                )
            ):
                # Nothing will start a check on its own: only a property update would.
                raise StitchConnectionCheckError(
                    f"Stitch has no connection check for {wait['subject']} (step {wait.get('step')}). Pass "
                    "properties or properties_conn_id to start one."
                )
            remaining = deadline - time.time()
            if remaining <= 0:
                return self._finish(
                    self._result(wait, {"status": "timeout", "message": self._timeout_message(wait, verdict)})
                )
            if self.deferrable:
                self._defer(wait, deadline)
            # Against the emulator, the connection's time_scale extra compresses the interval.
            interval = self.poll_interval / hook.settings.time_scale
            self.log.info("%s Next poll in %.1f s.", verdict.message, min(interval, remaining))
            time.sleep(min(interval, remaining))

    def _timeout_message(self, wait: dict[str, Any], verdict: CheckVerdict) -> str:
        return (
            f"Gave up after {self.timeout:g} s waiting for the connection check of {wait['subject']}: "
            f"{verdict.message}"
        )

    def _defer(self, wait: dict[str, Any], deadline: float) -> None:
        from airflow_provider_stitch.triggers.connection_checks import StitchConnectionCheckTrigger

        self.defer(
            trigger=StitchConnectionCheckTrigger(
                stitch_conn_id=self.stitch_conn_id,
                target=wait["target"],
                object_id=wait["object_id"],
                subject=wait["subject"],
                deadline=deadline,
                poll_interval=self.poll_interval,
                expected_check_name=wait.get("expected_check_name"),
                started_after=wait.get("started_after"),
            ),
            method_name="execute_complete",
            # The trigger's own wall-clock deadline ends the wait; this is only a backstop.
            timeout=defer_timeout(deadline, self.poll_interval),
        )

    @staticmethod
    def _result(wait: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
        return {
            "target": wait["target"],
            "object_id": wait["object_id"],
            "status": outcome["status"],
            "message": outcome["message"],
            "check_name": outcome.get("check_name"),
            "completion_time": outcome.get("completion_time"),
        }

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """Map an outcome (from the blocking loop or a trigger event) to a return value or an error."""
        if result["status"] == "succeeded":
            self.log.info(result["message"])
            return result
        self.log.error(result["message"])
        raise StitchConnectionCheckError(result["message"], result=result)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the same return value, or the same error, as the blocking mode."""
        event = checked_event(
            event,
            {"status": str, "message": str, "target": str, "object_id": int},
            statuses=EVENT_STATUSES,
            what="StitchConnectionCheckTrigger",
        )
        wait = {"target": event["target"], "object_id": event["object_id"]}
        return self._finish(self._result(wait, event))
