"""Source and destination control: create a source or destination, pause or unpause a source.

Also the small helpers the other onboarding operators share: reading a source reference (id or name),
reading a type's form from Stitch and preparing values for it (an Airflow connection's fields go where
the form names them, so credentials never sit in a DAG file or a rendered template), and checking ids
before any request. Nothing here imports the hook or ``requests``
at module level: DAG parsing costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_stitch.exceptions import StitchAPIError, StitchConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.forms import ConnectionForm
    from airflow_provider_stitch.api.objects import Source
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

IF_EXISTS_CHOICES = ("use_existing", "fail")


# --- argument helpers ----------------------------------------------------------------------------------


def is_templated(value: object) -> bool:
    """A value Airflow will still render (a Jinja string or an XComArg), so it cannot be checked yet."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return not isinstance(value, (int, float, bool, dict, list, tuple, type(None)))


def coerce_id(value: object, what: str) -> int:
    """An object id from an int or a digit string (rendered templates are strings)."""
    if isinstance(value, bool):
        raise StitchConfigurationError(f"{what} must be a numeric Stitch id; got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise StitchConfigurationError(f"{what} must be a positive Stitch id; got {value!r}")
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return coerce_id(int(value.strip()), what)
    raise StitchConfigurationError(f"{what} must be a numeric Stitch id; got {value!r}")


def check_source_reference(source_id: object, source_name: object) -> None:
    """Exactly one of ``source_id`` and ``source_name``; the id must look like one when it is known."""
    if (source_id is None) == (source_name is None):
        raise StitchConfigurationError("Pass exactly one of source_id and source_name.")
    if source_id is not None and not is_templated(source_id):
        coerce_id(source_id, "source_id")
    if source_name is not None and not is_templated(source_name) and not str(source_name).strip():
        raise StitchConfigurationError("source_name must not be empty")


def resolve_source(hook: StitchConnectHook, source_id: object, source_name: object) -> Source:
    """The source by id, or by schema name / display name (resolved at run time, never at parse time)."""
    if source_id is not None:
        return hook.get_source(coerce_id(source_id, "source_id"))
    return hook.find_source(str(source_name))


def check_mapping(value: object, what: str) -> None:
    if value is not None and not is_templated(value) and not isinstance(value, Mapping):
        raise StitchConfigurationError(f"{what} must be a mapping of property name -> value; got {value!r}")


def rendered_mapping(value: object, what: str) -> dict[str, Any]:
    """A rendered templated mapping (a JSON string is accepted, as non-native rendering yields one)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise StitchConfigurationError(f"{what} rendered to a string that is not a JSON object") from None
    if not isinstance(value, Mapping):
        raise StitchConfigurationError(f"{what} must be a mapping; got {type(value).__name__}")
    return dict(value)


def properties_from_connection(conn_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """Form property values read from an Airflow connection (credentials stay out of DAG files).

    :param fields: Connection attribute -> Stitch property name. Attributes: ``host``, ``port``,
        ``login``, ``password``, ``schema``, or ``extra.<key>``. Empty attributes are skipped. Values
        keep their Airflow types (the port is an integer); the form decides what Stitch gets.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    conn = BaseHook.get_connection(conn_id)
    extras = conn.extra_dejson if conn.extra else {}
    properties: dict[str, Any] = {}
    for attribute, prop in fields.items():
        if attribute.startswith("extra."):
            value: Any = extras.get(attribute.removeprefix("extra."))
        elif attribute in ("host", "port", "login", "password", "schema"):
            value = getattr(conn, attribute)
        else:
            raise StitchConfigurationError(
                f"Unknown connection attribute {attribute!r} in the property mapping; use host, port, "
                "login, password, schema or extra.<key>"
            )
        if value in (None, ""):
            continue
        properties[prop] = value
        if attribute == "password":
            mask_secret(str(value))
    return properties


def read_form(hook: StitchConnectHook, kind: str, type_name: str) -> ConnectionForm:
    """The form of a source or destination type, read from Stitch when the task runs."""
    from airflow_provider_stitch.api.forms import ConnectionForm
    from airflow_provider_stitch.exceptions import StitchNotFoundError

    try:
        card = hook.get_source_type(type_name) if kind == "source" else hook.get_destination_type(type_name)
    except StitchNotFoundError:
        raise StitchConfigurationError(
            f"Stitch has no {kind} type {type_name!r}; list them with hook.list_{kind}_types()"
        ) from None
    return ConnectionForm.from_type_card(card)


def form_properties(
    form: ConnectionForm,
    properties: object,
    conn_id: str | None,
    conn_fields: Mapping[str, str] | None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """Templated ``properties`` then a connection's fields, prepared for ``form`` before any write.

    The connection's attributes go where the form names them (``login`` to ``user`` or ``username``,
    ``schema`` to ``dbname`` or ``database``) unless ``conn_fields`` says otherwise. Every problem
    (unknown property, missing required one, wrong type or pattern) is named in one error.
    """
    from airflow.sdk.log import mask_secret

    values: dict[str, Any] = rendered_mapping(properties, "properties")
    if conn_id:
        from_connection = properties_from_connection(conn_id, conn_fields or form.connection_fields())
        if not from_connection:
            raise StitchConfigurationError(
                f"Connection {conn_id!r} gave no value for the {form.type} form (its fields map onto none "
                "of the form's properties); set properties_conn_fields."
            )
        values.update(from_connection)
    prepared = form.prepare(values, partial=partial)  # FormProblems is a StitchConfigurationError
    for name in form.credential_names() & set(prepared):
        # The object itself: Airflow masks each string inside a key file's mapping, not its repr.
        mask_secret(prepared[name])
    return prepared


def describe_api_error(exc: StitchAPIError, action: str) -> str:
    """A sentence naming what Stitch rejected (bad property names, not their values)."""
    details = exc.details if isinstance(exc.details, Mapping) else {}
    bad = details.get("bad_properties")
    if bad:
        names = (
            ", ".join(str(b) for b in bad) if isinstance(bad, Sequence) and not isinstance(bad, str) else bad
        )
        return f"Stitch rejected {action}: invalid or missing properties: {names} ({exc.message})"
    return f"Stitch rejected {action}: {exc.message}"


class _StitchOperator(BaseOperator):
    """Common base: the Stitch connection id and a lazily built hook."""

    def __init__(self, *, stitch_conn_id: str = "stitch_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stitch_conn_id = stitch_conn_id

    def make_hook(self) -> StitchConnectHook:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        return StitchConnectHook(self.stitch_conn_id)


# --- pause / unpause -----------------------------------------------------------------------------------


class _SourcePauseOperator(_StitchOperator):
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
        check_source_reference(source_id, source_name)
        self.source_id = source_id
        self.source_name = source_name

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_stitch.api.objects import format_timestamp

        hook = self.make_hook()
        source = resolve_source(hook, self.source_id, self.source_name)
        if source.is_deleted:
            raise StitchConfigurationError(
                f"Stitch source {source.label} is deleted; it cannot be (un)paused."
            )
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


class _CreateOperator(_StitchOperator):
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
        check_mapping(properties, "properties")
        if if_exists not in IF_EXISTS_CHOICES:
            raise StitchConfigurationError(
                f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)}; got {if_exists!r}"
            )
        self.properties = properties
        self.properties_conn_id = properties_conn_id
        self.properties_conn_fields = dict(properties_conn_fields) if properties_conn_fields else None
        self.if_exists = if_exists

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
        if not is_templated(display_name) and not str(display_name).strip():
            raise StitchConfigurationError("display_name must not be empty")
        if destination_id is not None and not is_templated(destination_id):
            coerce_id(destination_id, "destination_id")
        self.display_name = display_name
        self.source_type = source_type
        self.destination_id = destination_id

    def execute(self, context: Context) -> dict[str, Any]:

        hook = self.make_hook()
        display_name = str(self.display_name).strip()
        if not display_name:
            raise StitchConfigurationError("display_name rendered empty")
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

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.make_hook()
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
