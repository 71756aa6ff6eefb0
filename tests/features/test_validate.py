"""Row checks of ``validate_table``: every defect kind, typed fast path, idempotency, whole-table errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from features.contract import ENUMS, EVENTS, TABLES, TIMESTAMP, enum_array, ms
from features.validate import ContractError, Validated, validate_table

NOW_MS = 1_748_736_000_000  # 2025-06-01T00:00:00Z
KNOWN = {name: np.arange(0, 1_000, dtype=np.int64) for name in ("accounts", "users", "posts", "products")}


def _strings(columns: dict[str, list[str | None]]) -> pa.Table:
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def _validate(name: str, raw: pa.Table, **kwargs: object) -> Validated:
    known = kwargs.pop("known_ids", KNOWN)
    result = validate_table(name, raw, known_ids=known, now_ms=NOW_MS, **kwargs)  # type: ignore[arg-type]
    report = result.report
    assert report.rows_in == report.accepted + report.quarantined == raw.num_rows
    assert result.accepted.num_rows + result.quarantine.num_rows == raw.num_rows
    assert result.accepted.schema == TABLES[name].schema
    return result


def _reasons(result: Validated) -> dict[int, str]:
    q = result.quarantine
    return dict(zip(q.column("row").to_pylist(), q.column("reason").to_pylist(), strict=True))


def _products(**overrides: list[str | None]) -> pa.Table:
    n = len(next(iter(overrides.values()))) if overrides else 1
    columns: dict[str, list[str | None]] = {
        "product_id": [str(i) for i in range(n)], "shop_id": ["1"] * n, "category": ["7"] * n,
        "price": ["9.5"] * n, "launched_at": ["2024-01-01T00:00:00Z"] * n,
    }
    columns.update(overrides)
    return _strings(columns)


def _events(n: int, rng: np.random.Generator) -> pa.Table:
    """A correctly typed events table, built column by column from the contract."""
    arrays: list[pa.Array] = []
    for column in EVENTS.columns:
        if column.enum is not None:
            arrays.append(enum_array(column.enum, rng.integers(0, len(ENUMS[column.enum]), n)))
        elif column.name == "event_id":
            arrays.append(pa.array(np.arange(n, dtype=np.int64)))
        elif column.type == TIMESTAMP:
            arrays.append(ms(NOW_MS - rng.integers(0, 86_400_000 * 30, n)))
        elif pa.types.is_integer(column.type):
            arrays.append(pa.array(rng.integers(0, 1_000, n)).cast(column.type))
        else:
            arrays.append(pa.array(rng.random(n)).cast(column.type))
    return pa.Table.from_arrays(arrays, schema=EVENTS.schema)


def test_string_values_parse_to_the_contract_types() -> None:
    raw = _products(product_id=[" 5", "6", "7"], price=["1e2", ".5", "-3"],
                    launched_at=[" 2024-01-01 ", "2024-01-01T08:30", "2024-01-01 08:30:00.25+08:00"])
    result = _validate("products", raw)
    assert result.report.quarantined == 0
    assert result.accepted.column("product_id").to_pylist() == [5, 6, 7]
    assert result.accepted.column("price").to_pylist() == [100.0, 0.5, -3.0]
    times = result.accepted.column("launched_at").cast(pa.int64()).to_pylist()
    day = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    assert times == [day, day + 30_600_000, day + 1_800_250]  # 08:30:00.25+08:00 is 00:30:00.25Z


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("product_id", "abc", "product_id: 'abc' is not an int64"),
    ("product_id", "1.5", "product_id: '1.5' is not an int64"),
    ("category", "99999999999", "category: '99999999999' is not an int32"),
    ("price", "abc", "price: 'abc' is not a float64"),
    ("price", "inf", "price: 'inf' is not a float64"),
    ("launched_at", "1700000000", "launched_at: '1700000000' is not a timestamp"),
    ("launched_at", "2024-02-30", "launched_at: '2024-02-30' is not a timestamp"),
    ("launched_at", "2024-01-01T25:00:00Z", "launched_at: '2024-01-01T25:00:00Z' is not a timestamp"),
])
def test_wrong_types_are_quarantined_naming_field_and_value(column: str, value: str, expected: str) -> None:
    raw = _products(**{column: ["1", value] if column == "product_id" else [_good(column), value]})
    result = _validate("products", raw)
    assert result.accepted.num_rows == 1
    assert _reasons(result)[1].startswith(expected)
    assert result.report.reasons == {"wrong_type": 1}
    assert result.quarantine.column(column).to_pylist() == [value]  # input kept verbatim


def _good(column: str) -> str:
    return {"category": "7", "price": "9.5", "launched_at": "2024-01-01T00:00:00Z"}[column]


def test_unknown_enum_missing_and_future_time() -> None:
    raw = _strings({
        "user_id": ["1", "2"], "account_id": ["1", None],
        "followed_at": ["2031-01-01T00:00:00Z", "2024-01-01T00:00:00Z"], "unfollowed_at": [None, None],
    })
    reasons = _reasons(_validate("follows", raw))
    assert reasons == {0: "followed_at: 2031-01-01T00:00:00Z is in the future",
                       1: "account_id: missing value"}
    events = _strings({
        "event_id": ["1"], "user_id": ["1"], "target_type": ["post"], "target_id": ["1"],
        "action": ["teleport"], "slot": ["hotlist"], "source": ["push"], "event_time": ["2024-01-01"],
    })
    result = _validate("events", events)
    allowed = ", ".join(ENUMS["action"])
    assert _reasons(result)[0] == f"action: unknown value 'teleport' (allowed: {allowed})"
    assert result.report.reasons == {"unknown_enum": 1}


def test_future_tolerance_is_respected() -> None:
    raw = _products(launched_at=["2025-06-01T00:04:59Z", "2025-06-01T00:05:01Z"])
    result = _validate("products", raw)
    assert list(_reasons(result)) == [1]
    assert _validate("products", raw, tolerance_ms=600_000).report.quarantined == 0


def test_several_defects_make_one_quarantine_row() -> None:
    raw = _products(product_id=["1", "x"], price=["1", "abc"], launched_at=["2024-01-01", "2099-01-01"])
    result = _validate("products", raw)
    assert result.report.quarantined == 1
    reason = _reasons(result)[1]
    assert reason.split("; ") == [
        "product_id: 'x' is not an int64", "price: 'abc' is not a float64",
        "launched_at: 2099-01-01T00:00:00Z is in the future",
    ]
    assert result.report.reasons == {"wrong_type": 1, "future_time": 1}


def test_duplicates_and_reused_ids_in_input_order() -> None:
    raw = _products(product_id=["1", "1", "1", "2"], price=["5", "5", "6", "5"])
    result = _validate("products", raw)
    assert result.accepted.column("price").to_pylist() == [5.0, 5.0]
    reasons = _reasons(result)
    assert reasons[1] == "product_id: duplicate id 1 (identical row already accepted)"
    assert reasons[2] == "product_id: id 1 reused with different content (differs in: price)"
    assert result.report.reasons == {"duplicate": 1, "reused_id": 1}


def test_first_good_row_of_a_key_wins_over_an_earlier_bad_one() -> None:
    raw = _products(product_id=["1", "1"], price=["abc", "5"])
    result = _validate("products", raw)
    assert result.accepted.column("price").to_pylist() == [5.0]
    assert list(_reasons(result)) == [0]


def test_composite_key_duplicates() -> None:
    raw = _strings({
        "user_id": ["1", "1", "1", "1"], "account_id": ["2", "2", "2", "2"],
        "followed_at": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01"],
        "unfollowed_at": [None, None, "2024-03-01", None],
    })
    reasons = _reasons(_validate("follows", raw))
    assert set(reasons) == {1, 2}
    assert reasons[1].startswith("user_id, account_id, followed_at: duplicate key (1, 2, 2024-01-01T00:00:00Z)")
    assert "reused with different content (differs in: unfollowed_at)" in reasons[2]


def test_dangling_references_and_conditional_targets() -> None:
    known = {"users": np.array([1]), "posts": np.array([10]), "products": np.array([20]),
             "accounts": np.array([30])}
    targets = [("post", "10"), ("post", "20"), ("product", "20"), ("product", "10"), ("account", "30"),
               ("account", "99")]
    raw = _strings({
        "event_id": [str(i) for i in range(len(targets))], "user_id": ["1"] * 5 + ["2"],
        "target_type": [t for t, _ in targets], "target_id": [i for _, i in targets],
        "action": ["click"] * 6, "slot": ["other"] * 6, "source": ["in_app"] * 6,
        "event_time": ["2024-01-01"] * 6,
    })
    result = _validate("events", raw, known_ids=known)
    assert _reasons(result) == {
        1: "target_id: post 20 does not exist",
        3: "target_id: product 10 does not exist",
        5: "user_id: user 2 does not exist; target_id: account 99 does not exist",
    }
    assert result.report.reasons == {"dangling_reference": 3}


def test_product_id_lists_every_element_must_exist() -> None:
    known = {"accounts": np.array([1]), "products": np.array([3, 4])}
    raw = _strings({
        "post_id": ["1", "2", "3", "4"], "account_id": ["1"] * 4, "kind": ["product"] * 4,
        "format": ["video"] * 4, "visibility": ["public"] * 4, "created_at": ["2024-01-01"] * 4,
        "product_ids": ["3;4", None, "3;5", "3;x"],
    })
    result = _validate("posts", raw, known_ids=known)
    assert result.accepted.column("product_ids").to_pylist() == [[3, 4], []]
    reasons = _reasons(result)
    assert reasons[2] == "product_ids: product 5 does not exist"
    assert reasons[3].startswith("product_ids: '3;x' is not a list of int64")
    typed = raw.set_column(6, "product_ids", pa.array([[3, 4], [], [3, 5], [4]], pa.list_(pa.int64())))
    assert list(_reasons(_validate("posts", typed, known_ids=known))) == [2]


def test_tier_state_rules() -> None:
    tiers = [("W1", None), ("H1", None), ("W2", "fair"), ("W1", "poor"), ("W4", None), ("H1", "excellent")]
    n = len(tiers)
    raw = _strings({
        "account_id": [str(i) for i in range(n)], "kind": ["shop"] * n, "tier": [t for t, _ in tiers],
        "tier_state": [s for _, s in tiers], "preferred_shop": ["true", "false", "1", "0", "TRUE", "false"],
        "category": ["1"] * n, "created_at": ["2024-01-01"] * n,
    })
    result = _validate("accounts", raw)
    reasons = _reasons(result)
    assert set(reasons) == {3, 4, 5}
    assert reasons[3].startswith("tier_state: must be empty for tier W1 (got 'poor')")
    assert reasons[4].startswith("tier_state: missing for tier W4")
    assert result.report.reasons == {"invalid_state": 3}
    assert result.accepted.column("preferred_shop").to_pylist() == [True, False, True]


def test_typed_events_fast_path_has_nothing_to_quarantine() -> None:
    raw = _events(200_000, np.random.default_rng(7))
    result = _validate("events", raw)
    assert result.report.quarantined == 0
    assert result.report.reasons == {}
    assert result.accepted.equals(raw)
    assert result.quarantine.column_names == [*EVENTS.names, "row", "reason"]


def test_typed_columns_are_checked_too() -> None:
    raw = _events(10, np.random.default_rng(3))
    position = pa.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 70_000], pa.int64())
    raw = raw.set_column(raw.schema.get_field_index("position"), "position", position)
    propensity = pa.array([np.nan, 0.5, np.inf, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    raw = raw.set_column(raw.schema.get_field_index("propensity"), "propensity", propensity)
    result = _validate("events", raw)
    reasons = _reasons(result)
    assert reasons == {2: "propensity: 'inf' is not a float64", 9: "position: '70000' is not an int16"}
    assert result.accepted.column("propensity")[0].as_py() is None  # NaN is a missing value


def test_existing_equal_to_itself_is_all_duplicates() -> None:
    raw = _events(1_000, np.random.default_rng(11))
    result = _validate("events", raw, existing=raw)
    assert result.report.quarantined == raw.num_rows
    assert result.report.reasons == {"duplicate": raw.num_rows}
    changed_rows = [3, 500, 999]
    slot = raw.column("slot").combine_chunks()
    codes = np.asarray(slot.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    codes[changed_rows] = (codes[changed_rows] + 1) % len(ENUMS["slot"])
    modified = raw.set_column(raw.schema.get_field_index("slot"), "slot", enum_array("slot", codes))
    result = _validate("events", modified, existing=raw)
    assert result.report.reasons == {"duplicate": 997, "reused_id": 3}
    reused = [row for row, reason in _reasons(result).items() if "reused" in reason]
    assert reused == changed_rows
    assert _reasons(result)[500] == "event_id: id 500 reused with different content (differs in: slot)"


def test_new_rows_pass_against_existing() -> None:
    raw = _events(100, np.random.default_rng(5))
    result = _validate("events", raw.slice(50), existing=raw.slice(0, 50))
    assert result.report.quarantined == 0


def test_contract_errors_name_table_and_column() -> None:
    raw = _products()
    with pytest.raises(ContractError, match=r"'products'.*required.*price"):
        _validate("products", raw.drop_columns(["price"]))
    with pytest.raises(ContractError, match=r"'products'.*not in the contract: pricee"):
        _validate("products", raw.append_column("pricee", pa.array(["1"])))
    with pytest.raises(ContractError, match=r"table 'posts' needed to check events.target_id was not loaded"):
        validate_table("events", _events(3, np.random.default_rng(0)),
                       known_ids={"users": np.arange(10), "products": np.arange(10), "accounts": np.arange(10)},
                       now_ms=NOW_MS)
    with pytest.raises(ContractError, match=r"'launched_at' of table 'products'.*epoch"):
        _validate("products", raw.set_column(4, "launched_at", pa.array([1_700_000_000])))
    with pytest.raises(ContractError, match=r"'kind' of table 'posts'"):
        _validate("posts", pa.table({"kind": pa.array([1])}).append_column("post_id", pa.array(["1"]))
                  .append_column("account_id", pa.array(["1"])).append_column("format", pa.array(["video"]))
                  .append_column("visibility", pa.array(["public"]))
                  .append_column("created_at", pa.array(["2024-01-01"]))
                  .append_column("product_ids", pa.array(["1"])))
    posts = _strings({"post_id": ["1"], "account_id": ["1"], "kind": ["info"], "format": ["video"],
                      "visibility": ["public"], "created_at": ["2024-01-01"]})
    floats = posts.append_column("product_ids", pa.array([[1.5]], pa.list_(pa.float64())))
    with pytest.raises(ContractError, match=r"'product_ids' of table 'posts' has type list<item: double>"):
        _validate("posts", floats)
    with pytest.raises(ContractError, match=r"'nope' is not a contract table"):
        _validate("nope", raw)


def test_absent_nullable_columns_are_null() -> None:
    raw = _strings({"user_id": ["1"], "account_id": ["1"], "followed_at": ["2024-01-01"]})
    result = _validate("follows", raw)
    assert result.accepted.column("unfollowed_at").to_pylist() == [None]
    assert result.quarantine.column_names == ["user_id", "account_id", "followed_at", "row", "reason"]


def test_empty_input() -> None:
    result = _validate("products", _products().slice(0, 0))
    assert result.report.rows_in == result.report.accepted == result.report.quarantined == 0
