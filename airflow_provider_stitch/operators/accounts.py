"""Partner provisioning: create a Stitch client account (or connect one through OAuth) and keep its token
in a new Airflow connection of type ``stitch``, which later tasks use by id.

Airflow 3 tasks cannot write connections to the metadata database, so the token goes through Airflow's
public REST API (:mod:`airflow_provider_stitch.airflow_api`), authenticated by an Airflow connection
the user names (``airflow_api_conn_id``). The token is registered with the secret masker the moment it
arrives and never logged, returned (XCom) or put in an exception: the return value holds the account id
and the connection id only.

Order matters because Stitch shows a token once: every check that can fail without side effects (the
arguments, the partner credentials, the Airflow API login, an existing connection) runs *before* the
account is created.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.airflow_api import DEFAULT_AIRFLOW_API_CONN_ID
from airflow_provider_stitch.exceptions import StitchAccountError, StitchAPIError, StitchConfigurationError
from airflow_provider_stitch.operators.base import StitchBaseOperator, is_given, is_templated

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.airflow_api import AirflowApiClient
    from airflow_provider_stitch.api.endpoints import ClientAccount
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

REGIONS = ("us-east-1", "eu-central-1")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _StoreTokenOperator(StitchBaseOperator):
    """Shared by the create-account and OAuth operators: checks, then token -> Airflow connection."""

    def __init__(
        self,
        *,
        connection_id: str,
        airflow_api_conn_id: str = DEFAULT_AIRFLOW_API_CONN_ID,
        replace_existing: bool = False,
        connection_description: str | None = None,
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        # Each field is also its own XCom: ``create_account.output["connection_id"]`` feeds later tasks.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        self.connection_id = connection_id
        self.airflow_api_conn_id = airflow_api_conn_id
        self.replace_existing = replace_existing
        self.connection_description = connection_description

    def check_arguments(self, *, rendered: bool) -> None:
        if rendered or not is_templated(self.connection_id):
            from airflow_provider_stitch.airflow_api import check_connection_id

            check_connection_id(self.connection_id)

    def _prepare(self, hook: StitchConnectHook, *, need_partner_id: bool) -> AirflowApiClient:
        """Every side-effect-free check: partner credentials, the Airflow API, an existing connection."""
        from airflow_provider_stitch.airflow_api import AirflowApiClient

        settings = hook.settings
        missing = [
            name
            for name, value in (
                ("partner_id", settings.partner_id),
                ("partner_secret", settings.partner_secret),
            )
            if not value and (name == "partner_secret" or need_partner_id)
        ]
        if missing:
            raise StitchConfigurationError(
                f"Stitch connection {self.stitch_conn_id!r} has no {' or '.join(missing)} extra: partner "
                "credentials (both start with 'oc_') are needed to provision client accounts."
            )
        api = AirflowApiClient.from_conn_id(self.airflow_api_conn_id)
        if api.connection_exists(self.connection_id):
            if not self.replace_existing:
                raise StitchConfigurationError(
                    f"Airflow connection {self.connection_id!r} already exists, so no Stitch account was "
                    "created. Pass replace_existing=True to overwrite it, or choose another connection_id."
                )
            self.log.info("Airflow connection %r exists and will be replaced.", self.connection_id)
        return api

    def _store(
        self, api: AirflowApiClient, hook: StitchConnectHook, account: ClientAccount, description: str
    ) -> dict[str, Any]:
        from airflow_provider_stitch.airflow_api import AirflowApiError, stitch_connection_body
        from airflow_provider_stitch.hooks.settings import DEFAULT_APP_URL

        settings = hook.settings
        extra: dict[str, Any] = {}
        if settings.app_url != DEFAULT_APP_URL:
            extra["app_url"] = settings.app_url
        if settings.time_scale != 1.0:
            # The emulator's compressed time (loopback only) carries over to the account made there.
            extra["time_scale"] = settings.time_scale
        body = stitch_connection_body(
            connection_id=self.connection_id,
            access_token=account.access_token,
            stitch_client_id=account.stitch_account_id,
            base_url=settings.base_url,
            description=self.connection_description or description,
            extra=extra or None,
        )
        try:
            outcome = api.store_connection(body, replace_existing=self.replace_existing)
        except AirflowApiError as exc:
            raise StitchAccountError(
                f"Stitch client account {account.stitch_account_id} was created, but its access token could "
                f"not be stored as Airflow connection {self.connection_id!r}: {exc}. Stitch shows a token "
                "only once: create a new API access key for that account in the Stitch web app (Account "
                "Settings -> API access keys) and store it in the connection by hand."
            ) from None
        finally:
            api.close()
        self.log.info(
            "Stored the access token of Stitch client account %s in Airflow connection %r (%s).",
            account.stitch_account_id,
            self.connection_id,
            outcome,
        )
        return {
            "stitch_account_id": account.stitch_account_id,
            "connection_id": self.connection_id,
            "connection": outcome,
        }


class StitchCreateAccountOperator(_StoreTokenOperator):
    """Create a Stitch client account (partners only) and store its token as an Airflow connection.

    The partner id and secret come from the Stitch connection ``stitch_conn_id`` (extras
    ``partner_id`` and ``partner_secret``, both ``oc_...``); its host (API base URL) is copied to the
    new connection. The new connection (type ``stitch``) holds the token in its password and the
    account id in extra ``stitch_client_id``, so later tasks simply use ``stitch_conn_id=<connection_id>``.

    Returns ``{"stitch_account_id", "connection_id", "connection": "created"|"replaced"}``: never the token.

    :param first_name: The account owner's first name (templated); likewise
    :param last_name:, :param company:, :param account_email: (Stitch emails set-up instructions
        there; not ``email``, which is BaseOperator's failure-alert address).
    :param region: ``us-east-1`` (Stitch's default) or ``eu-central-1``; it cannot change later.
    :param connection_id: The Airflow connection to create (templated, e.g. ``stitch_{{ params.customer }}``).
    :param airflow_api_conn_id: The Airflow connection that reaches Airflow's REST API (see the docs).
    :param replace_existing: Overwrite ``connection_id`` if it exists, instead of failing (before any
        account is created).
    :param connection_description: The new connection's description (default: names the account).
    :param stitch_conn_id: The Stitch connection holding the partner credentials.
    """

    template_fields: Sequence[str] = (
        "first_name",
        "last_name",
        "company",
        "account_email",
        "region",
        "connection_id",
        "connection_description",
        "stitch_conn_id",
    )
    ui_color = "#fdf1e1"

    def __init__(
        self,
        *,
        first_name: str,
        last_name: str,
        company: str,
        account_email: str,
        connection_id: str,
        region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection_id=connection_id, **kwargs)
        self.first_name = first_name
        self.last_name = last_name
        self.company = company
        # Not ``email``: BaseOperator's ``email`` receives failure alerts, which must not go to the customer.
        self.account_email = account_email
        self.region = region
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        super().check_arguments(rendered=rendered)
        problems = []
        for name in ("first_name", "last_name", "company", "account_email"):
            value = getattr(self, name)
            if not rendered and is_templated(value):
                continue
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{name} must be a non-empty string")
        email = self.account_email
        email_known = isinstance(email, str) and email.strip() and not (not rendered and is_templated(email))
        if email_known and not _EMAIL.match(email.strip()):
            problems.append(f"account_email {email!r} is not an email address")
        region = self.region
        if region not in (None, "") and not (not rendered and is_templated(region)) and region not in REGIONS:
            problems.append(
                f"region must be one of {', '.join(REGIONS)} (it cannot change later); got {region!r}"
            )
        if problems:
            raise StitchConfigurationError("Cannot create the Stitch account: " + "; ".join(problems))

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_arguments(rendered=True)
        hook = self.hook
        api = self._prepare(hook, need_partner_id=True)
        email = self.account_email.strip()
        self.log.info("Creating a Stitch client account for %s (%s).", email, self.company)
        try:
            account = hook.create_account(
                first_name=self.first_name.strip(),
                last_name=self.last_name.strip(),
                company=self.company.strip(),
                email=email,
                region=self.region or None,
            )
        except StitchAPIError as exc:
            api.close()
            raise StitchAccountError(self._explain(exc, email)) from None
        self.log.info("Created Stitch client account %s.", account.stitch_account_id)
        return self._store(
            api, hook, account, f"Stitch client account {account.stitch_account_id} ({self.company.strip()})"
        )

    def _explain(self, exc: StitchAPIError, email: str) -> str:
        """Stitch's account errors as sentences to act on (https://www.stitchdata.com/docs/developers/stitch-connect/api#create-an-account)."""
        if exc.code == "ExistingUser":
            return (
                f"Stitch already has an active user with email {email}, so no account was created. To drive "
                "that existing account, connect it through OAuth (StitchExchangeOAuthCodeOperator) instead."
            )
        fields = exc.details if isinstance(exc.details, dict) else {}
        partner_fields = sorted(set(fields) & {"partner_id", "partner_secret"})
        if partner_fields or exc.status_code == 401:
            return (
                f"Stitch refused the partner credentials of connection {self.stitch_conn_id!r} "
                f"({', '.join(f'{k}: {fields[k]}' for k in partner_fields) or exc.message}). Check its "
                "'partner_id' and 'partner_secret' extras."
            )
        if fields:
            listed = ", ".join(f"{k}: {v}" for k, v in sorted(fields.items()))
            return f"Stitch refused the account form for {email}: {listed}"
        return f"Stitch refused to create the account for {email}: {exc.message} (HTTP {exc.status_code})"


class StitchExchangeOAuthCodeOperator(_StoreTokenOperator):
    """Connect an existing Stitch account through the partner OAuth flow, token -> connection.

    Stitch's partner authentication guide describes the flow:
    https://www.stitchdata.com/docs/developers/stitch-connect/guides/stitch-partner-authentication-guide

    After the user accepts at ``https://app.stitchdata.com/oauth/authorization?client_id=<partner id>``,
    Stitch redirects with ``?code=...``; pass that code (single use, valid 5 minutes), e.g.
    ``code="{{ dag_run.conf['code'] }}"``. The partner secret comes from ``stitch_conn_id``.
    Returns ``{"stitch_account_id", "connection_id", "connection"}`` like the create-account operator.
    """

    template_fields: Sequence[str] = ("code", "connection_id", "connection_description", "stitch_conn_id")

    def __init__(self, *, code: str, connection_id: str, **kwargs: Any) -> None:
        super().__init__(connection_id=connection_id, **kwargs)
        self.code = code
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        super().check_arguments(rendered=rendered)
        if (rendered or not is_templated(self.code)) and not is_given(self.code):
            raise StitchConfigurationError(
                "code rendered empty: no OAuth authorization code to exchange"
                if rendered
                else "code must be the OAuth authorization code Stitch redirected with"
            )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        self.check_arguments(rendered=True)
        code = str(self.code).strip()
        mask_secret(code)
        hook = self.hook
        api = self._prepare(hook, need_partner_id=False)
        try:
            account = hook.exchange_oauth_code(code)
        except StitchAPIError as exc:
            api.close()
            raise StitchAccountError(
                f"Stitch refused the OAuth code exchange: {exc.message} (HTTP {exc.status_code}). Codes are "
                "single-use and expire after 5 minutes; ask the user to authorize again."
            ) from None
        self.log.info("Connected Stitch client account %s through OAuth.", account.stitch_account_id)
        return self._store(api, hook, account, f"Stitch client account {account.stitch_account_id} (OAuth)")
