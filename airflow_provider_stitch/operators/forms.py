"""Form helpers the onboarding operators share: read a type's form from Stitch, prepare values for it.

An Airflow connection's fields go where the form names them, so credentials never sit in a DAG file or a
rendered template; every problem is named before any write. Nothing here imports the hook or
``requests`` at module level: DAG parsing costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.exceptions import StitchAPIError, StitchConfigurationError
from airflow_provider_stitch.operators.base import is_templated

if TYPE_CHECKING:
    from airflow_provider_stitch.api.forms import ConnectionForm
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook


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
