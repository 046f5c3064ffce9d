"""What every Stitch operator and the sensor stand on: one base, and one way to name a source.

- :class:`StitchBaseOperator`: the Stitch connection id, the HTTP retry override and one cached hook
  built with it, and the "check now if rendered, else at run time" rule for arguments.
- :class:`SourceReference`: a source named by id or by name, checked when the DAG file is parsed (what
  is already known) and resolved when the task runs (deleted sources are refused, always).

Nothing here imports the hook or ``requests`` at module level: DAG parsing costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchError

if TYPE_CHECKING:
    from airflow_provider_stitch.api.objects import Source
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

DEFAULT_CONN_ID = "stitch_default"


def is_templated(value: object) -> bool:
    """A value Airflow will still render (a Jinja string or an XComArg), so it cannot be checked yet."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return not isinstance(value, (int, float, bool, dict, list, tuple, type(None)))


def is_given(value: object) -> bool:
    """Present: not None and not an empty (or blank) string, which is what a template rendering to
    nothing leaves."""
    return value is not None and not (isinstance(value, str) and not value.strip())


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


@dataclass(frozen=True)
class SourceReference:
    """A Stitch source named by ``source_id`` or by ``source_name`` (schema name or display name).

    One rule for every operator and the sensor: exactly one of the two is given (a value that renders
    empty counts as not given); an id is a positive integer; a deleted source is refused.
    """

    source_id: object = None
    source_name: object = None

    def check(self, *, rendered: bool = False) -> None:
        """Refuse what is already wrong. Before rendering, a templated value is taken as given."""
        has_id, has_name = is_given(self.source_id), is_given(self.source_name)
        if (
            has_name
            and (rendered or not is_templated(self.source_name))
            and not isinstance(self.source_name, str)
        ):
            raise StitchConfigurationError(f"source_name must be a string; got {self.source_name!r}")
        if has_id == has_name:
            state = "both" if has_id else ("neither (both rendered empty)" if rendered else "neither")
            raise StitchConfigurationError(
                f"Give exactly one of source_id and source_name; got {state}: "
                f"source_id={self.source_id!r}, source_name={self.source_name!r}."
            )
        if has_id and (rendered or not is_templated(self.source_id)):
            coerce_id(self.source_id, "source_id")

    @property
    def is_known(self) -> bool:
        """Both values are final (nothing left to render)."""
        return not (is_templated(self.source_id) or is_templated(self.source_name))

    def resolve(self, hook: StitchConnectHook) -> Source:
        """The source, read from Stitch (by id, or by name among active sources); never a deleted one."""
        self.check(rendered=True)
        if is_given(self.source_id):
            source = hook.get_source(coerce_id(self.source_id, "source_id"))
        else:
            source = hook.find_source(str(self.source_name).strip())
        if source.is_deleted:
            raise StitchConfigurationError(
                f"Stitch source {source.label} is deleted: name an active source (by id or by name)."
            )
        return source

    async def aresolve(self, hook: StitchConnectHook) -> Source:
        """:meth:`resolve`, for the triggerer."""
        self.check(rendered=True)
        if is_given(self.source_id):
            source = await hook.aget_source(coerce_id(self.source_id, "source_id"))
        else:
            source = await hook.afind_source(str(self.source_name).strip())
        if source.is_deleted:
            raise StitchConfigurationError(
                f"Stitch source {source.label} is deleted: name an active source (by id or by name)."
            )
        return source


def checked_event(
    event: object, fields: Mapping[str, type | tuple[type, ...]], *, statuses: Iterable[str], what: str
) -> dict[str, Any]:
    """A trigger event, refused unless it is the shape ``what`` sends: a dict with each of ``fields`` of
    its type and a known ``status``. A foreign or damaged event (another trigger's, a hand-edited row)
    fails with a message naming what is wrong, not with a ``KeyError`` deep in the resume code."""
    if not isinstance(event, Mapping):
        raise StitchError(
            f"Resumed with an event that is not {what}'s: expected a dict, got {type(event).__name__}."
        )
    problems = [
        f"{name!r} missing" if name not in event else f"{name!r} is {type(event[name]).__name__}"
        for name, kind in fields.items()
        if name not in event or not isinstance(event[name], kind)
    ]
    allowed = tuple(statuses)
    if isinstance(event.get("status"), str) and event["status"] not in allowed:
        problems.append(f"status {event.get('status')!r} is not one of {', '.join(allowed)}")
    if problems:
        raise StitchError(f"Resumed with an event that is not {what}'s: {'; '.join(problems)}.")
    return dict(event)


class StitchBaseOperator(BaseOperator):
    """The base of every Stitch operator: connection, HTTP retry override, one hook per task instance.

    Arguments are checked by :meth:`check_arguments` twice: in ``__init__`` (when the DAG file is parsed)
    for every value already known, and again once templates are rendered (subclasses call
    ``self.check_arguments(rendered=True)`` first in ``execute``), so a bad value fails before any
    request whichever way it arrives.

    :param stitch_conn_id: The Stitch connection of the client account.
    :param http_retry_policy: Overrides the connection's HTTP retry settings (a ``RetryPolicy`` or its
        ``to_dict()``). Not Airflow's own ``retry_policy``, which retries the task.
    """

    def __init__(
        self,
        *,
        stitch_conn_id: str = DEFAULT_CONN_ID,
        http_retry_policy: Any = None,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_stitch.api.retry import RetryPolicy  # pure and small: no parse-time cost

        super().__init__(**kwargs)
        self.stitch_conn_id = stitch_conn_id
        policy = RetryPolicy.from_argument(http_retry_policy)
        self.http_retry_policy = policy.to_dict() if policy is not None else None
        self._cached_hook: StitchConnectHook | None = None

    @property
    def hook(self) -> StitchConnectHook:
        """The task's hook, built on first use with the retry override; reused by every call after."""
        if self._cached_hook is None:
            from airflow_provider_stitch.hooks.stitch import StitchConnectHook

            self._cached_hook = StitchConnectHook(
                self.stitch_conn_id, http_retry_policy=self.http_retry_policy
            )
        return self._cached_hook

    def check_arguments(self, *, rendered: bool) -> None:
        """Refuse bad arguments. ``rendered=False`` (parse time) skips values still to be templated."""
