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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from airflow_adf_trigger.emulator.wire import BadRequest, parse_time

OPERATORS = ("Equals", "NotEquals", "In", "NotIn")
ORDERS = ("ASC", "DESC")
Kind = Literal["text", "time", "latest"]


@dataclass(frozen=True, slots=True)
class Operand:
    """A filter operand: which JSON field it reads and how it compares."""

    field: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class QueryKind:
    """What one query endpoint can filter on, and which of those operands it orders by."""

    name: str
    operands: Mapping[str, Operand]
    order_fields: tuple[str, ...]


PIPELINE_RUNS = QueryKind(
    name="pipeline runs",
    operands={
        "PipelineName": Operand("pipelineName", "text"),
        "Status": Operand("status", "text"),
        "RunGroupId": Operand("runGroupId", "text"),
        "RunStart": Operand("runStart", "time"),
        "RunEnd": Operand("runEnd", "time"),
        "LatestOnly": Operand("isLatest", "latest"),
        # No PipelineRunId: it is not in the spec's RunQueryFilterOperand enum
        # [datafactory.json 2018-06-01, RunQueryFilter]; ADF refuses it (400).
    },
    order_fields=("RunStart", "RunEnd", "PipelineName", "Status"),
)
ACTIVITY_RUNS = QueryKind(
    name="activity runs",
    operands={
        "ActivityName": Operand("activityName", "text"),
        "ActivityType": Operand("activityType", "text"),
        "Status": Operand("status", "text"),
        "ActivityRunStart": Operand("activityRunStart", "time"),
        "ActivityRunEnd": Operand("activityRunEnd", "time"),
    },
    order_fields=("ActivityRunStart", "ActivityRunEnd", "ActivityName", "Status"),
)


@dataclass(frozen=True, slots=True)
class Filter:
    """One ``{"operand", "operator", "values"}`` entry, names in ADF's spelling."""

    operand: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A validated query body."""

    last_updated_after: datetime
    last_updated_before: datetime
    filters: tuple[Filter, ...]
    order_by: tuple[tuple[str, bool], ...]
    """``{"orderBy", "order"}`` entries as (operand, descending)."""
    continuation_token: str | None
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
    canonical = json.dumps(
        [
            scope,
            after.isoformat(),
            before.isoformat(),
            [[f.operand, f.operator, list(f.values)] for f in filters],
            [list(o) for o in order_by],
        ]
    )
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return RunQuery(after, before, filters, order_by, token or None, fingerprint)


def run_query(
    records: Iterable[tuple[datetime, dict[str, Any]]],
    query: RunQuery,
    kind: QueryKind,
    page_size: int,
) -> dict[str, Any]:
    """One page of the answer: ``{"value": [...]}`` plus a continuationToken if more remain."""
    chosen = [
        body
        for updated, body in records
        if query.last_updated_after <= updated <= query.last_updated_before
        and all(_matches(body, f, kind) for f in query.filters)
    ]
    for operand, descending in reversed(query.order_by):
        chosen.sort(key=_sort_key_for(kind.operands[operand]), reverse=descending)
    offset = 0
    if query.continuation_token is not None:
        offset = decode_token(query.continuation_token, query.fingerprint)
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
        padded = token + "=" * (-len(token) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = raw["o"]
        issued_for = raw["q"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise BadRequest("The continuation token is not valid.", "continuationToken") from None
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
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list.", name)
    return value


SINGLE_VALUE_OPERANDS = frozenset({"RunGroupId"})
"""Operands ADF refuses with more than one value [Azure/azure-sdk-for-net issue 22025]."""


def _canonical(name: object, choices: Iterable[str]) -> str | None:
    """The enum value exactly as ADF spells it; None if unknown.

    Names are case-sensitive: the Synapse sibling API refuses ``status`` for ``Status``
    [Azure/azure-rest-api-specs issue 18369]. Order directions are read in any case (a
    guess: no public source shows either way).
    """
    if not isinstance(name, str):
        return None
    return name if name in choices else None


def _filter(raw: object, kind: QueryKind, index: int) -> Filter:
    where = f"filters[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"'{where}' must be an object with operand, operator, values.", where)
    operand = _canonical(raw.get("operand"), kind.operands)
    if operand is None:
        raise BadRequest(
            f"The filter operand '{raw.get('operand')}' is not supported when querying "
            f"{kind.name}. Supported operands: {', '.join(kind.operands)}.",
            f"{where}.operand",
        )
    operator = _canonical(raw.get("operator"), OPERATORS)
    if operator is None:
        raise BadRequest(
            f"The filter operator '{raw.get('operator')}' is not supported. "
            f"Supported operators: {', '.join(OPERATORS)}.",
            f"{where}.operator",
        )
    values = raw.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"'{where}.values' must be a non-empty list of strings.", where)
    if operand in SINGLE_VALUE_OPERANDS and len(values) > 1:
        raise BadRequest(
            f"Filter operand '{operand}' does not support and array of values. Make sure to "
            "provide only one.",
            where,
        )
    spec = kind.operands[operand]
    if spec.kind == "time" and any(parse_time(v) is None for v in values):
        raise BadRequest(f"'{where}.values' must be ISO 8601 date-times for {operand}.", where)
    if spec.kind == "latest" and any(v.lower() not in ("true", "false") for v in values):
        raise BadRequest(f"'{where}.values' must be 'true' or 'false' for {operand}.", where)
    return Filter(operand, operator, tuple(values))


def _order(raw: object, kind: QueryKind, index: int) -> tuple[str, bool]:
    where = f"orderBy[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"'{where}' must be an object with orderBy and order.", where)
    field = _canonical(raw.get("orderBy"), kind.order_fields)
    if field is None:
        raise BadRequest(
            f"Cannot order {kind.name} by '{raw.get('orderBy')}'. "
            f"Supported: {', '.join(kind.order_fields)}.",
            f"{where}.orderBy",
        )
    order = raw.get("order", "ASC")
    if not isinstance(order, str) or order.upper() not in ORDERS:
        raise BadRequest(f"The order '{raw.get('order')}' is not ASC or DESC.", f"{where}.order")
    return field, order.upper() == "DESC"


def _matches(body: Mapping[str, Any], filter_: Filter, kind: QueryKind) -> bool:
    operand = kind.operands[filter_.operand]
    positive = filter_.operator in ("Equals", "In")
    value = body.get(operand.field)
    if operand.kind == "latest":
        wanted = {v.lower() for v in filter_.values}
        latest_only = "true" in wanted if positive else "false" in wanted
        return bool(value) or not latest_only
    if operand.kind == "time":
        moment = parse_time(value)
        found = moment is not None and any(parse_time(v) == moment for v in filter_.values)
    else:
        text = str(value).lower()
        found = any(text == v.lower() for v in filter_.values)
    return found if positive else not found


def _sort_key_for(operand: Operand) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    """A sort key on one field; missing values (a null runEnd) sort first when ascending."""

    def key(body: Mapping[str, Any]) -> tuple[int, Any]:
        value = body.get(operand.field)
        if value is None:
            return (0, "")
        if operand.kind == "time":
            return (1, parse_time(value))
        return (1, str(value).lower())

    return key
