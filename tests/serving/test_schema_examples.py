"""The request examples shown in /docs stay valid: each parses as its body, and the example event passes the
events contract (a feed-service engineer copies them first)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pydantic import BaseModel

from features.validate import validate_table
from serving.schemas import EventsBody, RankBody


@pytest.mark.parametrize("model", [RankBody, EventsBody])
def test_every_documented_example_parses_as_its_body(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        assert model.model_validate(example).model_dump(exclude_unset=True) == example


def test_the_example_event_passes_the_events_contract() -> None:
    (example,) = EventsBody.model_json_schema()["examples"]
    raw = pa.Table.from_pylist(example["events"])
    row = example["events"][0]
    known = {"users": np.array([row["user_id"]]), "posts": np.array([row["target_id"]]),
             "products": np.array([], np.int64), "accounts": np.array([], np.int64)}
    out = validate_table("events", raw, known_ids=known, now_ms=1_900_000_000_000)
    assert out.report.accepted == 1, out.quarantine.to_pylist()
