"""The sans-IO protocol: request building, response parsing, error mapping, retry hints."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qs

import pytest

from airflow_adf_trigger.core.config.settings import RetryPolicy
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfBadRequestError,
    AdfConfigurationError,
    AdfNotFoundError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfThrottledError,
)
from airflow_adf_trigger.core.runs.models import RunStatus
from airflow_adf_trigger.core.wire import protocol
from airflow_adf_trigger.core.wire.protocol import HttpResponse, Target

from .helpers import CLIENT_ID, FACTORY_URL, RUN_ID, SECRET, TENANT, make_settings


def response(status: int, body: object = None, **headers: str) -> HttpResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return HttpResponse.create(status, headers, raw)


def target(**kwargs: str) -> Target:
    return Target(
        factory=make_settings().factory, principal=f"service principal {CLIENT_ID}", **kwargs
    )


class TestTokenRequest:
    def test_v2_asks_for_the_arm_scope(self) -> None:
        request = protocol.build_token_request(make_settings())
        form = parse_qs(request.body.decode())  # type: ignore[union-attr]
        assert request.url == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
        assert form["grant_type"] == ["client_credentials"]
        assert form["scope"] == ["https://management.azure.com/.default"]
        assert "resource" not in form

    def test_v1_asks_for_the_arm_resource(self) -> None:
        request = protocol.build_token_request(make_settings(token_api="v1"))
        form = parse_qs(request.body.decode())  # type: ignore[union-attr]
        assert request.url.endswith(f"/{TENANT}/oauth2/token")
        assert form["resource"] == ["https://management.azure.com/"]
        assert "scope" not in form

    def test_repr_shows_neither_secret_nor_body(self) -> None:
        request = protocol.build_token_request(make_settings())
        assert SECRET not in repr(request)

    def test_china_cloud_uses_its_authority_and_scope(self) -> None:
        request = protocol.build_token_request(make_settings(cloud="china"))
        form = parse_qs(request.body.decode())  # type: ignore[union-attr]
        assert request.url.startswith("https://login.chinacloudapi.cn/")
        assert form["scope"] == ["https://management.chinacloudapi.cn/.default"]


class TestTokenResponse:
    def test_v2_body_with_integer_lifetime(self) -> None:
        body = {"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-v2"}
        token = protocol.parse_token_response(response(200, body), now=1000.0)
        assert token.token == "tok-v2"
        assert token.expires_at == 4599.0

    def test_v1_body_with_numbers_as_strings(self) -> None:
        body = {
            "token_type": "Bearer",
            "expires_in": "3599",
            "expires_on": "1505353525",
            "not_before": "1505349625",
            "resource": "https://management.azure.com/",
            "access_token": "tok-v1",
        }
        token = protocol.parse_token_response(response(200, body), now=1000.0)
        assert token.expires_at == 4599.0

    def test_v1_body_with_only_expires_on(self) -> None:
        body = {"access_token": "tok", "expires_on": "1505353525"}
        assert protocol.parse_token_response(response(200, body), 0).expires_at == 1505353525

    @pytest.mark.parametrize("token", ["Zq9\r\nX-Injected: 1", "Zq9 Zq9", "Zq9\x00", "Zq9ø"])
    def test_a_token_that_is_not_header_safe_is_refused_without_quoting_it(
        self, token: str
    ) -> None:
        body = {"access_token": token, "expires_in": 3599}
        with pytest.raises(AdfAuthenticationError, match="cannot be sent in an HTTP header") as e:
            protocol.parse_token_response(response(200, body), now=1000.0)
        assert "Zq9" not in str(e.value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("expires_in", "abc"), ("expires_in", [1]), ("expires_in", "nan"), ("expires_on", {})],
    )
    def test_an_unreadable_lifetime_is_an_unreadable_token_response(
        self, field: str, value: object
    ) -> None:
        body = {"access_token": "tok", field: value}
        with pytest.raises(AdfAuthenticationError, match=f"unreadable token response: {field}"):
            protocol.parse_token_response(response(200, body), now=1000.0)

    @pytest.mark.parametrize(
        ("status", "kind"),
        [(429, AdfThrottledError), (500, AdfServiceError), (503, AdfServiceError)],
    )
    def test_azure_ad_throttling_or_failing_is_transient_not_a_refusal(
        self, status: int, kind: type[Exception]
    ) -> None:
        with pytest.raises(kind, match=f"could not issue a token now \\(HTTP {status}\\)"):
            protocol.parse_token_response(response(status, {}), now=0.0)

    def test_a_404_from_the_v2_endpoint_suggests_the_v1_one(self) -> None:
        with pytest.raises(AdfAuthenticationError, match="token_api=v1") as caught:
            protocol.parse_token_response(response(404, {}), now=0.0, settings=make_settings())
        assert "ADF_TOKEN_API=v1" in str(caught.value)
        with pytest.raises(AdfAuthenticationError) as v1:
            protocol.parse_token_response(
                response(404, {}), now=0.0, settings=make_settings(token_api="v1")
            )
        assert "token_api=v1" not in str(v1.value)

    def test_token_never_shows_in_repr(self) -> None:
        body = {"expires_in": 3599, "access_token": "very-secret-token"}
        token = protocol.parse_token_response(response(200, body), now=0)
        assert "very-secret-token" not in repr(token)

    @pytest.mark.parametrize(
        ("code", "error", "expected"),
        [
            (7000215, "invalid_client", "secret's value, not its secret ID"),
            (7000222, "invalid_client", "expired"),
            (700016, "unauthorized_client", f"application {CLIENT_ID} was not found"),
            (90002, "invalid_tenant", "check the tenant ID"),
        ],
    )
    def test_aadsts_codes_are_explained(self, code: int, error: str, expected: str) -> None:
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: Something.\r\nTrace ID: abc\r\nTimestamp: x",
            "error_codes": [code],
            "trace_id": "trace-1",
        }
        with pytest.raises(AdfAuthenticationError) as caught:
            protocol.parse_token_response(response(401, body), 0, make_settings())
        message = str(caught.value)
        assert f"AADSTS{code}" in message
        assert expected in message
        assert "\n" not in message
        assert caught.value.code == error
        assert caught.value.request_id == "trace-1"

    def test_unknown_aadsts_code_keeps_azures_first_line(self) -> None:
        body = {"error": "x", "error_description": "AADSTS123: Odd thing.\r\nTrace ID: 1"}
        with pytest.raises(AdfAuthenticationError, match=r"AADSTS123: Odd thing\.") as caught:
            protocol.parse_token_response(response(400, body), 0)
        assert "Trace ID" not in str(caught.value)


class TestCreateRun:
    def test_no_parameters_means_no_body(self) -> None:
        request = protocol.build_create_run(make_settings(), "copy_sales")
        assert request.body is None
        assert request.url == f"{FACTORY_URL}/pipelines/copy_sales/createRun"
        assert request.params == {"api-version": "2018-06-01"}
        assert request.idempotent is False

    def test_parameters_are_the_json_body(self) -> None:
        request = protocol.build_create_run(make_settings(), "p", {"date": "2026-01-31", "n": 3})
        assert json.loads(request.body or b"") == {"date": "2026-01-31", "n": 3}
        assert request.headers["Content-Type"] == "application/json"

    def test_recovery_options_go_in_the_query(self) -> None:
        request = protocol.build_create_run(
            make_settings(),
            "p",
            reference_pipeline_run_id=RUN_ID.upper(),
            is_recovery=True,
            start_activity_name="Copy",
            start_from_failure=False,
        )
        assert request.params == {
            "api-version": "2018-06-01",
            "referencePipelineRunId": RUN_ID,
            "isRecovery": "true",
            "startActivityName": "Copy",
            "startFromFailure": "false",
        }

    def test_a_misspelt_rerun_option_is_refused(self) -> None:
        with pytest.raises(TypeError, match="start_from_falure"):
            protocol.build_create_run(make_settings(), "p", start_from_falure=True)  # type: ignore[call-arg]

    def test_pipeline_name_is_quoted_as_one_path_segment(self) -> None:
        request = protocol.build_create_run(make_settings(), "daily load #1 ü")
        assert request.url.endswith("/pipelines/daily%20load%20%231%20%C3%BC/createRun")

    @pytest.mark.parametrize("name", ["../x", "a/b", "a?b", "a%2F", ""])
    def test_pipeline_names_that_would_change_the_path_are_refused(self, name: str) -> None:
        with pytest.raises(AdfConfigurationError, match="pipeline_name"):
            protocol.build_create_run(make_settings(), name)

    def test_parameters_that_are_not_json_are_refused_before_sending(self) -> None:
        with pytest.raises(AdfConfigurationError, match=r"parameters: cannot be sent as JSON"):
            protocol.build_create_run(make_settings(), "p", {"when": object()})

    def test_run_id_is_read_from_the_answer(self) -> None:
        assert protocol.parse_create_run(response(200, {"runId": RUN_ID}), target()) == RUN_ID

    @pytest.mark.parametrize(
        ("raw", "cause"),
        [
            (b"<html><body>Gateway</body></html>", "not JSON"),
            (b'{"runId": "1234', "not JSON"),
            (b"[]", "not a JSON object"),
            (b"", "not a JSON object"),
            (b"{}", "without a runId"),
            (b'{"runId": 42}', "without a runId"),
            (b'{"runId": "../../evil?x=1"}', "not a GUID"),
        ],
    )
    def test_an_unreadable_answer_leaves_the_outcome_unknown(self, raw: bytes, cause: str) -> None:
        answer = HttpResponse(200, {}, raw, sent_at=1_800_000_000.0, received_at=1_800_000_002.0)
        with pytest.raises(AdfRunOutcomeUnknownError, match=cause) as caught:
            protocol.parse_create_run(answer, target(pipeline_name="copy_sales"))
        assert caught.value.pipeline_name == "copy_sales"
        assert caught.value.sent_at.timestamp() == 1_800_000_000.0
        assert caught.value.gave_up_at.timestamp() == 1_800_000_002.0

    def test_the_run_id_comes_back_lower_case(self) -> None:
        answer = response(200, {"runId": RUN_ID.upper()})
        assert protocol.parse_create_run(answer, target()) == RUN_ID.lower()


class TestRunBody:
    @pytest.mark.parametrize("spelling", ["runDimensions", "runDimension"])
    def test_both_spellings_of_run_dimensions_are_read(self, spelling: str) -> None:
        body = {"runId": RUN_ID, "pipelineName": "p", "status": "Queued", "debugRunId": None}
        body[spelling] = {"JobId": "42"}
        run = protocol.parse_run(response(200, body), target())
        assert run.run_dimensions == {"JobId": "42"}


class TestErrorMessages:
    def test_a_huge_azure_message_is_cut_to_a_readable_size(self) -> None:
        huge = "x" * 10_000_000
        answer = response(400, {"error": {"code": "BadRequest", "message": huge}})
        error = protocol.arm_error(answer, target(pipeline_name="copy_sales"), "create a run of")
        text = str(error)
        assert len(text) < protocol.MESSAGE_CAP + 500
        assert f"({10_000_000 - protocol.MESSAGE_CAP} more characters cut)" in text

    def test_a_huge_azure_ad_message_is_cut_too(self) -> None:
        answer = response(400, {"error": "invalid_request", "error_description": "y" * 100_000})
        with pytest.raises(AdfAuthenticationError) as caught:
            protocol.parse_token_response(answer, now=0.0)
        assert len(str(caught.value)) < protocol.MESSAGE_CAP + 500


class TestGetRun:
    def test_run_id_must_be_a_guid(self) -> None:
        with pytest.raises(AdfConfigurationError, match="run_id: 'abc' is not a GUID"):
            protocol.build_get_run(make_settings(), "abc")

    def test_full_pipeline_run_body(self) -> None:
        body = {
            "runId": RUN_ID,
            "runGroupId": RUN_ID,
            "isLatest": True,
            "pipelineName": "copy_sales",
            "parameters": {"date": "2026-01-31"},
            "invokedBy": {"name": "Manual", "id": "x", "invokedByType": "Manual"},
            "lastUpdated": "2018-06-16T00:41:59.4436054Z",
            "runStart": "2018-06-16T00:37:44.6257014Z",
            "runEnd": "2018-06-16T00:41:59.4436054Z",
            "durationInMs": 254817,
            "status": "Succeeded",
            "message": "",
        }
        run = protocol.parse_run(response(200, body), target(run_id=RUN_ID))
        assert run.status is RunStatus.SUCCEEDED
        assert run.duration_ms == 254817
        assert run.run_end is not None and run.run_end.microsecond == 443605
        assert run.parameters == {"date": "2026-01-31"}
        assert run.invoked_by == "Manual"

    def test_cancelled_run_with_null_end_and_duration(self) -> None:
        body = {
            "runId": RUN_ID,
            "pipelineName": "p",
            "status": "Cancelled",
            "runStart": "2026-01-01T00:00:00Z",
            "runEnd": None,
            "durationInMs": None,
            "message": "Cancelled by user",
        }
        run = protocol.parse_run(response(200, body), target(run_id=RUN_ID))
        assert run.status is RunStatus.CANCELLED
        assert run.run_end is None and run.duration_ms is None
        assert run.status.is_terminal and not run.status.is_successful

    def test_unknown_status_is_not_guessed(self) -> None:
        body = {"runId": RUN_ID, "pipelineName": "p", "status": "NotSucceededYet"}
        with pytest.raises(AdfServiceError, match="NotSucceededYet"):
            protocol.parse_run(response(200, body), target(run_id=RUN_ID))


class TestArmErrors:
    def arm(self, status: int, code: str, message: str = "m") -> HttpResponse:
        return response(
            status, {"error": {"code": code, "message": message}}, **{"x-ms-request-id": "req-7"}
        )

    def test_forbidden_names_the_role_and_scope(self) -> None:
        error = protocol.arm_error(
            self.arm(403, "AuthorizationFailed"), target(pipeline_name="p"), "create a run of"
        )
        assert isinstance(error, AdfAuthorizationError)
        assert "Data Factory Contributor" in str(error)
        assert "/factories/adf-demo" in str(error)
        assert CLIENT_ID in str(error)
        assert (error.status, error.code, error.request_id) == (403, "AuthorizationFailed", "req-7")

    @pytest.mark.parametrize(
        ("code", "pipeline", "expected"),
        [
            ("SubscriptionNotFound", None, "check subscription_id"),
            ("ResourceGroupNotFound", None, "check resource_group"),
            ("ResourceNotFound", None, "check factory_name"),
            ("PipelineNotFound", "copy", "Pipeline 'copy' was not found"),
        ],
    )
    def test_not_found_says_which_thing(
        self, code: str, pipeline: str | None, expected: str
    ) -> None:
        kwargs = {"pipeline_name": pipeline} if pipeline else {}
        error = protocol.arm_error(self.arm(404, code), target(**kwargs), "read")
        assert isinstance(error, AdfNotFoundError)
        assert expected in str(error)

    def test_bad_request_keeps_adfs_message(self) -> None:
        error = protocol.arm_error(
            self.arm(400, "BadRequest", "Parameter x not found"), target(), "create a run of"
        )
        assert isinstance(error, AdfBadRequestError)
        assert "Parameter x not found" in str(error)

    def test_throttled_carries_the_wait_hint(self) -> None:
        throttled = response(429, {"error": {"code": "TooManyRequests"}}, **{"Retry-After": "7"})
        error = protocol.arm_error(throttled, target(), "read")
        assert isinstance(error, AdfThrottledError)
        assert error.retry_after == 7.0

    def test_non_json_error_body_is_still_reported(self) -> None:
        error = protocol.arm_error(
            HttpResponse.create(502, {}, b"<html>Bad Gateway</html>"), target(), "read"
        )
        assert isinstance(error, AdfServiceError)
        assert "HTTP 502" in str(error)


class TestRetryRules:
    def test_reads_retry_on_throttling_and_server_errors(self) -> None:
        read = protocol.build_get_run(make_settings(), RUN_ID)
        assert [
            s for s in (400, 404, 429, 500, 502, 503, 504) if protocol.should_retry_status(read, s)
        ] == [
            429,
            500,
            502,
            503,
            504,
        ]

    def test_create_run_retries_only_on_throttling(self) -> None:
        create = protocol.build_create_run(make_settings(), "p")
        assert [
            s for s in (429, 500, 502, 503, 504) if protocol.should_retry_status(create, s)
        ] == [429]

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"retry-after-ms": "1500"}, 1.5),
            ({"x-ms-retry-after-ms": "250"}, 0.25),
            ({"Retry-After": "12"}, 12.0),
            ({"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}, 10.0),
            ({}, None),
        ],
    )
    def test_retry_after_hints(self, headers: dict[str, str], expected: float | None) -> None:
        assert protocol.retry_after_seconds(headers, now=1767225600.0) == expected

    def test_backoff_grows_and_is_capped(self) -> None:
        policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
        delays = [
            protocol.backoff_delay(policy, attempt, None, random.Random(7))
            for attempt in range(1, 7)
        ]
        assert 0.5 <= delays[0] <= 1.0
        assert all(4.0 <= d <= 8.0 for d in delays[3:])

    def test_azures_hint_wins_over_backoff(self) -> None:
        assert protocol.backoff_delay(RetryPolicy(), 1, 20.0, random.Random(7)) == 20.0
