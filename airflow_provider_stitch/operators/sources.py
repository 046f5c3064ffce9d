"""Source and destination control: create a source or destination, pause or unpause a source.

The operator base and the source reference are in :mod:`~airflow_provider_stitch.operators.base`, the
form helpers in :mod:`~airflow_provider_stitch.operators.forms`. Nothing here imports the hook or
``requests`` at module level: DAG parsing costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.exceptions import StitchAPIError, StitchConfigurationError
from airflow_provider_stitch.operators.base import (
    SourceReference,
    StitchBaseOperator,
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

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.forms import ConnectionForm
    from airflow_provider_stitch.api.objects import Source

IF_EXISTS_CHOICES = ("use_existing", "fail")


# --- pause / unpause -----------------------------------------------------------------------------------


class _SourcePauseOperator(StitchBaseOperator):
    template_fields: Sequence[str] = ("source_id", "source_name", "stitch_conn_id")
    pause: bool

    def __init__(
        self,
        *,
        source_id: int | str | None = None,
        source_name: str | None = None,
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        self.source_id = source_id
        self.source_name = source_name
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        SourceReference(self.source_id, self.source_name).check(rendered=rendered)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_stitch.api.objects import format_timestamp

        self.check_arguments(rendered=True)
        hook = self.hook
        source = SourceReference(self.source_id, self.source_name).resolve(hook)
        changed = source.is_paused != self.pause
        if changed:
            source = hook.pause_source(source.id) if self.pause else hook.unpause_source(source.id)
            self.log.info("Stitch source %s is now %s.", source.label, "paused" if self.pause else "active")
        else:
            self.log.info(
                "Stitch source %s is already %s; nothing to do.",
                source.label,
                "paused" if self.pause else "active",
            )
        return {
            "source_id": source.id,
            "paused": source.is_paused,
            "paused_at": format_timestamp(source.paused_at),
            "changed": changed,
        }


class StitchPauseSourceOperator(_SourcePauseOperator):
    """Pause a Stitch source's scheduled replication (``PUT /v4/sources/{id}`` with ``paused_at``).

    Manual replication jobs still run on a paused source. Idempotent: a paused source is left as is.
    Returns ``{"source_id", "paused", "paused_at", "changed"}``.

    :param source_id: The source's id; or
    :param source_name: its schema name or display name (resolved when the task runs).
    :param stitch_conn_id: The Stitch connection of the client account.
    """

    pause = True


class StitchUnpauseSourceOperator(_SourcePauseOperator):
    """Resume a paused Stitch source's schedule (``paused_at: null``). Idempotent; same return value."""

    pause = False


# --- create source / destination -------------------------------------------------------------------------


class _CreateOperator(StitchBaseOperator):
    def __init__(
        self,
        *,
        properties: Mapping[str, Any] | str | None = None,
        properties_conn_id: str | None = None,
        properties_conn_fields: Mapping[str, str] | None = None,
        if_exists: str = "use_existing",
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        # Each id is also its own XCom, so ``create_source.output["source_id"]`` wires the next task.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        if if_exists not in IF_EXISTS_CHOICES:
            raise StitchConfigurationError(
                f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)}; got {if_exists!r}"
            )
        self.properties = properties
        self.properties_conn_id = properties_conn_id
        self.properties_conn_fields = dict(properties_conn_fields) if properties_conn_fields else None
        self.if_exists = if_exists

    def check_arguments(self, *, rendered: bool) -> None:
        if rendered:
            rendered_mapping(self.properties, "properties")
        else:
            check_mapping(self.properties, "properties")

    def collect_properties(self, form: ConnectionForm) -> dict[str, Any]:
        """Templated ``properties`` first, then the connection's fields (credentials win from there)."""
        return form_properties(form, self.properties, self.properties_conn_id, self.properties_conn_fields)


class StitchCreateSourceOperator(_CreateOperator):
    """Create a Stitch source (``POST /v4/sources``); Stitch then runs its first connection check.

    Idempotent by default: with ``if_exists="use_existing"``, an active source whose schema name or
    display name matches ``display_name`` and whose type matches is returned instead of creating a
    second one (a retried task does not fail on ``InvalidName``). ``if_exists="fail"`` fails instead.

    Returns ``{"source_id", "name", "display_name", "type", "created", "current_step_type",
    "check_job_name"}``. Wait for the connection check with :class:`StitchConnectionCheckOperator`.

    :param display_name: The source's display name; Stitch derives the schema name from it.
    :param source_type: The API type, e.g. ``platform.postgres``.
    :param properties: Non-secret form properties (templated), e.g. ``{"frequency_in_minutes": "60"}``.
    :param properties_conn_id: An Airflow connection whose fields supply more properties (credentials).
    :param properties_conn_fields: Connection attribute -> property name. By default each attribute
        goes where the type's form names it: host, port, password, login -> ``user`` or ``username``,
        schema -> ``dbname`` or ``database``. ``extra.<key>`` reads an extra.
    :param destination_id: The destination that gets the data (optional).
    """

    template_fields: Sequence[str] = (
        "display_name",
        "properties",
        "properties_conn_id",
        "destination_id",
        "stitch_conn_id",
    )
    template_fields_renderers = {"properties": "json"}

    def __init__(
        self,
        *,
        display_name: str,
        source_type: str,
        destination_id: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not str(source_type).strip():
            raise StitchConfigurationError(
                "source_type must be a Stitch source type such as platform.postgres"
            )
        self.display_name = display_name
        self.source_type = source_type
        self.destination_id = destination_id
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        super().check_arguments(rendered=rendered)
        if (rendered or not is_templated(self.display_name)) and not is_given(self.display_name):
            raise StitchConfigurationError(
                "display_name rendered empty" if rendered else "display_name must not be empty"
            )
        if self.destination_id is not None and (rendered or not is_templated(self.destination_id)):
            coerce_id(self.destination_id, "destination_id")

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_arguments(rendered=True)
        hook = self.hook
        display_name = str(self.display_name).strip()
        destination_id = (
            coerce_id(self.destination_id, "destination_id") if self.destination_id is not None else None
        )
        named = hook.find_sources(display_name)
        if len(named) > 1:
            ids = ", ".join(str(source.id) for source in named)
            raise StitchConfigurationError(
                f"Several Stitch sources are named {display_name!r} (ids {ids}): cannot tell which one a "
                "retry should reuse. Rename or delete the extra ones."
            )
        existing = named[0] if named else None
        if existing is not None:
            if self.if_exists == "fail":
                raise StitchConfigurationError(
                    f"A Stitch source named {display_name!r} already exists ({existing.label}); "
                    "use if_exists='use_existing' to reuse it."
                )
            if existing.type != self.source_type:
                raise StitchConfigurationError(
                    f"A Stitch source named {display_name!r} already exists with type {existing.type}, "
                    f"not {self.source_type}; choose another display_name."
                )
            self.log.info(
                "Stitch source %s already exists; reusing it (if_exists='use_existing').", existing.label
            )
            return self._result(existing, created=False)
        # Only a write needs the form: a retry that reuses the source sends nothing to check.
        properties = self.collect_properties(read_form(hook, "source", self.source_type))
        self.log.info(
            "Creating Stitch source %r (%s) with properties: %s",
            display_name,
            self.source_type,
            ", ".join(sorted(properties)) or "none",
        )
        try:
            source = hook.create_source(
                display_name=display_name,
                type=self.source_type,
                properties=properties or None,
                destination_id=destination_id,
            )
        except StitchAPIError as exc:
            raise StitchConfigurationError(describe_api_error(exc, f"source {display_name!r}")) from None
        self.log.info("Created Stitch source %s; it is at step %s.", source.label, source.current_step_type)
        return self._result(source, created=True)

    @staticmethod
    def _result(source: Source, *, created: bool) -> dict[str, Any]:
        return {
            "source_id": source.id,
            "name": source.name,
            "display_name": source.display_name,
            "type": source.type,
            "created": created,
            "current_step_type": source.current_step_type,
            "check_job_name": source.check_job_name,
        }


class StitchCreateDestinationOperator(_CreateOperator):
    """Create a Stitch destination (``POST /v4/destinations``).

    Idempotent by default: with ``if_exists="use_existing"``, an active destination with the same
    ``name`` and type is returned instead. Returns ``{"destination_id", "name", "type", "created",
    "check_job_name"}``.

    :param destination_type: The API type, e.g. ``postgres``, ``snowflake``, ``redshift``.
    :param name: The destination's name (recommended; Stitch derives one from the type otherwise).
    :param properties: Non-secret form properties (templated).
    :param properties_conn_id: An Airflow connection whose fields supply more properties (credentials).
    :param properties_conn_fields: Connection attribute -> property name (see the source operator).
    :param description: Optional description.
    :param ignore_unmapped_sources: False (Stitch's default) maps every unmapped source to it.
    """

    template_fields: Sequence[str] = (
        "name",
        "properties",
        "properties_conn_id",
        "description",
        "stitch_conn_id",
    )
    template_fields_renderers = {"properties": "json"}

    def __init__(
        self,
        *,
        destination_type: str,
        name: str | None = None,
        description: str | None = None,
        ignore_unmapped_sources: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not str(destination_type).strip():
            raise StitchConfigurationError(
                "destination_type must be a Stitch destination type such as postgres"
            )
        self.destination_type = destination_type
        self.name = name
        self.description = description
        self.ignore_unmapped_sources = ignore_unmapped_sources
        self.check_arguments(rendered=False)

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_arguments(rendered=True)
        hook = self.hook
        if self.name:
            for destination in hook.list_destinations():
                if destination.get("name") != self.name or destination.get("deleted_at"):
                    continue
                if self.if_exists == "fail":
                    raise StitchConfigurationError(
                        f"A Stitch destination named {self.name!r} already exists "
                        f"(id {destination.get('id')})."
                    )
                if destination.get("type") != self.destination_type:
                    raise StitchConfigurationError(
                        f"A Stitch destination named {self.name!r} already exists with type "
                        f"{destination.get('type')}, not {self.destination_type}; choose another name."
                    )
                self.log.info(
                    "Stitch destination %r (id %s) already exists; reusing it.", self.name, destination["id"]
                )
                return self._result(destination, created=False)
        properties = self.collect_properties(read_form(hook, "destination", self.destination_type))
        self.log.info(
            "Creating Stitch destination %r (%s) with properties: %s",
            self.name,
            self.destination_type,
            ", ".join(sorted(properties)) or "none",
        )
        try:
            destination = hook.create_destination(
                type=self.destination_type,
                properties=properties,
                name=self.name,
                description=self.description,
                ignore_unmapped_sources=self.ignore_unmapped_sources,
            )
        except StitchAPIError as exc:
            raise StitchConfigurationError(describe_api_error(exc, f"destination {self.name!r}")) from None
        self.log.info(
            "Created Stitch destination %r (id %s).", destination.get("name"), destination.get("id")
        )
        return self._result(destination, created=True)

    @staticmethod
    def _result(destination: Mapping[str, Any], *, created: bool) -> dict[str, Any]:
        return {
            "destination_id": int(destination["id"]),
            "name": destination.get("name"),
            "type": destination.get("type"),
            "created": created,
            "check_job_name": destination.get("check_job_name"),
        }
