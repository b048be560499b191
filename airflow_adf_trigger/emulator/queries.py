"""queryPipelineRuns and queryActivityruns: parse the body, filter, order, page. Pure functions.

Records are the JSON bodies the emulator answers with, paired with their lastUpdated time.
A continuation token carries the offset of the next page and a fingerprint of the query,
so independent queries page concurrently and a token is refused by any other query.

Sources: the body and the filter/order enums are datafactory.json RunFilterParameters,
RunQueryFilter and RunQueryOrderBy; both window ends are required and inclusive ("at or
after", "at or before"). A guess: the page size (100 by default), the token's content, its
refusal for another query, and where null values sort.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from airflow_adf_trigger.emulator.wire import BadRequest, parse_time

OPERATORS = ("Equals", "NotEquals", "In", "NotIn")
ORDERS = ("ASC", "DESC")
Kind = Literal["text", "time", "latest"]
Operand = tuple[str, Kind]
"""A filter operand: the JSON field it reads and how it compares."""
Filter = tuple[str, str, tuple[str, ...]]
"""One ``{"operand", "operator", "values"}`` entry, names in ADF's spelling."""


@dataclass(frozen=True, slots=True)
class QueryKind:
    """What one query endpoint can filter on, and which of those operands it orders by."""

    name: str
    operands: Mapping[str, Operand]
    order_fields: tuple[str, ...]


PIPELINE_RUNS = QueryKind(
    name="pipeline runs",
    operands={
        "PipelineName": ("pipelineName", "text"),
        "Status": ("status", "text"),
        "RunGroupId": ("runGroupId", "text"),
        "RunStart": ("runStart", "time"),
        "RunEnd": ("runEnd", "time"),
        "LatestOnly": ("isLatest", "latest"),
        # No PipelineRunId: it is not in the spec's RunQueryFilterOperand enum
        # [datafactory.json 2018-06-01, RunQueryFilter]; ADF refuses it (400).
    },
    order_fields=("RunStart", "RunEnd", "PipelineName", "Status"),
)
ACTIVITY_RUNS = QueryKind(
    name="activity runs",
    operands={
        "ActivityName": ("activityName", "text"),
        "ActivityType": ("activityType", "text"),
        "Status": ("status", "text"),
        "ActivityRunStart": ("activityRunStart", "time"),
        "ActivityRunEnd": ("activityRunEnd", "time"),
    },
    order_fields=("ActivityRunStart", "ActivityRunEnd", "ActivityName", "Status"),
)


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A validated query body: its lastUpdated window (both ends inclusive), filters,
    ``orderBy`` entries as (operand, descending), continuation token and fingerprint."""

    window: tuple[datetime, datetime]
    filters: tuple[Filter, ...]
    order_by: tuple[tuple[str, bool], ...]
    token: str | None
    fingerprint: str


def parse_query(body: Mapping[str, Any], kind: QueryKind, scope: str) -> RunQuery:
    """Validate a query body as ADF does; raises BadRequest naming the field at fault."""
    after = _required_time(body, "lastUpdatedAfter")
    before = _required_time(body, "lastUpdatedBefore")
    if after > before:
        raise BadRequest("'lastUpdatedAfter' must be earlier than 'lastUpdatedBefore'.")
    filters = tuple(_filter(raw, kind, i) for i, raw in enumerate(_list(body, "filters")))
    order_by = tuple(_order(raw, kind, i) for i, raw in enumerate(_list(body, "orderBy")))
    token = body.get("continuationToken")
    if token is not None and not isinstance(token, str):
        raise BadRequest("'continuationToken' must be a string.", "continuationToken")
    canonical = json.dumps([scope, after.isoformat(), before.isoformat(), filters, order_by])
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return RunQuery((after, before), filters, order_by, token or None, fingerprint)


def run_query(
    records: Iterable[tuple[datetime, dict[str, Any]]],
    query: RunQuery,
    kind: QueryKind,
    page_size: int,
) -> dict[str, Any]:
    """One page of the answer: ``{"value": [...]}`` plus a continuationToken if more remain."""
    after, before = query.window
    chosen = [
        body
        for updated, body in records
        if after <= updated <= before and all(_matches(body, f, kind) for f in query.filters)
    ]
    for operand, descending in reversed(query.order_by):
        chosen.sort(key=partial(_sort_key, operand=kind.operands[operand]), reverse=descending)
    offset = 0 if query.token is None else decode_token(query.token, query.fingerprint)
    answer: dict[str, Any] = {"value": chosen[offset : offset + page_size]}
    if offset + page_size < len(chosen):
        answer["continuationToken"] = encode_token(offset + page_size, query.fingerprint)
    return answer


def encode_token(offset: int, fingerprint: str) -> str:
    """An opaque continuation token for the page starting at ``offset``."""
    raw = json.dumps({"v": 1, "o": offset, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> int:
    """The offset a continuation token stands for; BadRequest if garbled or from another query."""
    try:
        raw = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        offset, issued_for = raw["o"], raw["q"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        offset = issued_for = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise BadRequest("The continuation token is not valid.", "continuationToken")
    if issued_for != fingerprint:
        raise BadRequest(
            "The continuation token was issued for a different query; send the same "
            "lastUpdatedAfter, lastUpdatedBefore, filters and orderBy with it.",
            "continuationToken",
        )
    return offset


def _required_time(body: Mapping[str, Any], name: str) -> datetime:
    if body.get(name) in (None, ""):
        raise BadRequest(f"The required property '{name}' is missing from the request.", name)
    value = parse_time(body[name])
    if value is None:
        raise BadRequest(f"The value of '{name}' is not a valid ISO 8601 date-time.", name)
    return value


def _list(body: Mapping[str, Any], name: str) -> Sequence[Any]:
    value = body.get(name)
    if value is not None and not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list.", name)
    return value or ()


SINGLE_VALUE_OPERANDS = frozenset({"RunGroupId"})
"""Operands ADF refuses with more than one value [Azure/azure-sdk-for-net issue 22025]."""


_REFUSALS = {
    "operand": "The filter operand '{value}' is not supported when querying {kind}. "
    "Supported operands: {choices}.",
    "operator": "The filter operator '{value}' is not supported. Supported operators: {choices}.",
    "orderBy": "Cannot order {kind} by '{value}'. Supported: {choices}.",
}


def _named(
    raw: Mapping[str, Any], key: str, choices: Iterable[str], kind: QueryKind, where: str
) -> str:
    """``raw[key]`` if it is one of ``choices`` exactly as ADF spells it, else BadRequest.

    Names are case-sensitive: the Synapse sibling API refuses ``status`` for ``Status``
    [Azure/azure-rest-api-specs issue 18369]. Order directions are read in any case (a
    guess: no public source shows either way).
    """
    value = raw.get(key)
    if not isinstance(value, str) or value not in choices:
        message = _REFUSALS[key].format(value=value, kind=kind.name, choices=", ".join(choices))
        raise BadRequest(message, f"{where}.{key}")
    return value


def _filter(raw: object, kind: QueryKind, index: int) -> Filter:
    where = f"filters[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"'{where}' must be an object with operand, operator, values.", where)
    operand = _named(raw, "operand", kind.operands, kind, where)
    operator = _named(raw, "operator", OPERATORS, kind, where)
    values = raw.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"'{where}.values' must be a non-empty list of strings.", where)
    if operand in SINGLE_VALUE_OPERANDS and len(values) > 1:
        raise BadRequest(
            f"Filter operand '{operand}' does not support and array of values. Make sure to "
            "provide only one.",
            where,
        )
    how = kind.operands[operand][1]
    if how == "time" and any(parse_time(v) is None for v in values):
        raise BadRequest(f"'{where}.values' must be ISO 8601 date-times for {operand}.", where)
    if how == "latest" and any(v.lower() not in ("true", "false") for v in values):
        raise BadRequest(f"'{where}.values' must be 'true' or 'false' for {operand}.", where)
    return operand, operator, tuple(values)


def _order(raw: object, kind: QueryKind, index: int) -> tuple[str, bool]:
    where = f"orderBy[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"'{where}' must be an object with orderBy and order.", where)
    field = _named(raw, "orderBy", kind.order_fields, kind, where)
    order = raw.get("order", "ASC")
    if not isinstance(order, str) or order.upper() not in ORDERS:
        raise BadRequest(f"The order '{raw.get('order')}' is not ASC or DESC.", f"{where}.order")
    return field, order.upper() == "DESC"


def _matches(body: Mapping[str, Any], filter_: Filter, kind: QueryKind) -> bool:
    operand, operator, values = filter_
    field, how = kind.operands[operand]
    positive = operator in ("Equals", "In")
    value = body.get(field)
    if how == "latest":
        wanted = {v.lower() for v in values}
        latest_only = "true" in wanted if positive else "false" in wanted
        return bool(value) or not latest_only
    if how == "time":
        moment = parse_time(value)
        found = moment is not None and any(parse_time(v) == moment for v in values)
    else:
        found = any(str(value).lower() == v.lower() for v in values)
    return found if positive else not found


def _sort_key(body: Mapping[str, Any], operand: Operand) -> tuple[int, Any]:
    """A sort key on one field; missing values (a null runEnd) sort first when ascending."""
    field, how = operand
    value = body.get(field)
    if value is None:
        return (0, "")
    return (1, parse_time(value) if how == "time" else str(value).lower())
