"""StitchSelectStreamsOperator: choose which streams and fields a source replicates, validated first.

The rules live in :mod:`airflow_provider_stitch.api.stream_selection`; this operator only fetches what
they need (the streams list, then each requested stream's schema), applies them, and writes the
result in one ``PUT /v4/sources/{id}/streams/metadata``, or nothing when all is already as asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.exceptions import StitchAPIError, StitchConfigurationError, StreamSelectionError
from airflow_provider_stitch.operators.base import SourceReference, StitchBaseOperator, is_templated

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Steps at which Stitch accepts a selection: before them, the connection check has not passed
#: (https://www.stitchdata.com/docs/developers/stitch-connect/api#connection-step-object).
SELECTABLE_STEPS = ("field_selection", "fully_configured")


class StitchSelectStreamsOperator(StitchBaseOperator):
    """Select a source's streams and fields, with replication method and key, by name.

    ``streams`` is a list of names (``stream_name`` or ``tap_stream_id``), or items / a mapping with
    options per stream::

        streams={
            "deals": {"replication_method": "INCREMENTAL", "replication_key": "updatedAt",
                      "fields": ["dealname", "amount"]},
            "contacts": {"fields": "*"},  # every available field
            "owners": None,  # Stitch's defaults: automatic fields and those selected by default
        }

    Everything is checked before any write: unknown stream or field names (with close matches),
    ``unsupported`` fields, replication methods a stream is forced out of, replication keys outside
    ``valid-replication-keys`` (or not integer / date-time), views without key properties. Fields not
    named are left as they are (Stitch cannot deselect a field it selects by default).

    Idempotent: re-running changes nothing. Returns ``{"source_id", "changed", "streams": [{
    "tap_stream_id", "stream_name", "stream_id", "changed", "changes", "replication_method",
    "replication_key", "replicated_fields"}]}``.

    :param source_id: The source; or
    :param source_name: its schema or display name (resolved at run time).
    :param streams: What to select (templated).
    """

    template_fields: Sequence[str] = ("source_id", "source_name", "streams", "stitch_conn_id")
    template_fields_renderers = {"streams": "json"}

    def __init__(
        self,
        *,
        streams: Sequence[Any] | Mapping[str, Any] | str,
        source_id: int | str | None = None,
        source_name: str | None = None,
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        self.streams = streams
        self.source_id = source_id
        self.source_name = source_name
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        SourceReference(self.source_id, self.source_name).check(rendered=rendered)
        if not rendered and not is_templated(self.streams):
            from airflow_provider_stitch.api.stream_selection import parse_stream_requests

            # A StreamSelectionError fails the DAG file's parse. Once rendered, execute parses the
            # spec itself, so that the error names the source.
            parse_stream_requests(self.streams)

    def execute(self, context: Context) -> dict[str, Any]:
        import json

        from airflow_provider_stitch.api.stream_selection import (
            metadata_body,
            parse_stream_requests,
            plan_selection,
            resolve_streams,
        )

        spec = self.streams
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError:
                spec = [spec]  # a single stream name
        self.check_arguments(rendered=True)
        hook = self.hook
        source = SourceReference(self.source_id, self.source_name).resolve(hook)
        subject = f"the stream selection of source {source.label}"
        if source.current_step_type not in SELECTABLE_STEPS:
            raise StitchConfigurationError(
                f"Stitch source {source.label} is at step {source.current_step_type!r}: streams can be "
                "selected once its connection check has passed (step field_selection). Gate this task on "
                "StitchConnectionCheckOperator."
            )
        try:
            requests = parse_stream_requests(spec)
            streams = hook.list_streams(source.id)
            wanted = resolve_streams(requests, streams)
            schemas = {
                stream.stream_id: hook.get_stream_schema(source.id, stream.stream_id) for stream in wanted
            }
            changes = plan_selection(requests, streams, schemas, subject=subject)
        except StreamSelectionError as exc:
            # Parsing and name resolution know no source; the error the user reads names it.
            raise exc.about(subject) from None

        body = metadata_body(changes)
        if body:
            for change in changes:
                if change.changed:
                    self.log.info(
                        "%s (%s): %s",
                        change.stream.stream_name,
                        change.stream.tap_stream_id,
                        "; ".join(change.changes),
                    )
            try:
                hook.update_stream_metadata(source.id, body)
            except StitchAPIError as exc:
                raise StitchConfigurationError(f"Stitch rejected {subject}: {exc.message}") from None
        else:
            self.log.info(
                "Every requested stream of %s is already selected as asked; nothing to change.", source.label
            )
        return {
            "source_id": source.id,
            "changed": bool(body),
            "streams": [change.summary() for change in changes],
        }
