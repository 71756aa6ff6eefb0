"""``load_tables`` end to end: a contract folder of CSV files with every defect kind planted, nothing lost,
everything published at once or not at all."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import features.load as load_module
import features.storage as storage_module
from features.contract import TABLES
from features.load import load_tables, validate_dir
from features.readers import read_contract_dir
from features.storage import StorageError, read_quarantine, read_table, write_dataset
from features.validate import KINDS, ContractError, TableReport, Validated

NOW_MS = 1_748_736_000_000  # 2025-06-01T00:00:00Z
GOOD = None
Expect = str | tuple[str, ...] | None

# One table per CSV: header, then rows with the reason fragments expected in quarantine (GOOD = accepted).
CASES: dict[str, tuple[str, list[tuple[str, Expect]]]] = {
    "accounts": ("account_id,kind,tier,tier_state,preferred_shop,category,created_at", [
        ("1,shop,W2,fair,true,10,2024-01-01T00:00:00Z", GOOD),
        ("2,influencer,W1,,false,11,2024-01-02T00:00:00Z", GOOD),
        ("3,official,H1,,0,12,2024-01-03", GOOD),
        ("4,shop,W3,excellent,1,13,2024-01-04T08:00:00+08:00", GOOD),
        ("5,shop,W1,poor,true,10,2024-01-01", "tier_state: must be empty for tier W1 (got 'poor')"),
        ("6,shop,W3,,true,10,2024-01-01", "tier_state: missing for tier W3"),
        ("7,shop,W9,,true,10,2024-01-01", "tier: unknown value 'W9' (allowed: W1, W2, W3, W4, H1)"),
        ("x8,shop,W1,,true,10,2024-01-01", "account_id: 'x8' is not an int64"),
        (",shop,W1,,true,10,2024-01-01", "account_id: missing value"),
        ("1,shop,W2,fair,true,10,2024-01-01T00:00:00Z",
         "account_id: duplicate id 1 (identical row already accepted)"),
        ("2,shop,W1,,false,11,2024-01-02T00:00:00Z",
         "account_id: id 2 reused with different content (differs in: kind)"),
        ("9,shop,W1,,maybe,10,2024-01-01", "preferred_shop: 'maybe' is not a bool"),
        ("10,shop,W1,,true,ten,2024-01-01", "category: 'ten' is not an int32"),
        ("11,shop,W1,,true,10,2031-01-01T00:00:00Z", "created_at: 2031-01-01T00:00:00Z is in the future"),
        ("12,shop,W1,,true,10,1700000000", "created_at: '1700000000' is not a timestamp"),
    ]),
    "users": ("user_id,created_at", [
        ("100,2024-01-01", GOOD),
        ("101,2024-01-01", GOOD),
        ("102,2024-01-01", GOOD),
        ("103,yesterday", "created_at: 'yesterday' is not a timestamp"),
    ]),
    "products": ("product_id,shop_id,category,price,launched_at", [
        ("200,1,10,9.9,2024-02-01T00:00:00Z", GOOD),
        ("201,4,11,19.5,2024-02-01", GOOD),
        ("202,1,10,abc,2024-02-01", "price: 'abc' is not a float64"),
        ("203,99,10,5,2024-02-01", "shop_id: account 99 does not exist"),
        ("204,5,10,5,2024-02-01", "shop_id: account 5 does not exist"),  # account 5 was quarantined
    ]),
    "posts": ("post_id,account_id,kind,format,visibility,created_at,product_ids", [
        ("300,1,product,video,public,2024-03-01T00:00:00Z,200;201", GOOD),
        ("301,2,info,article,private,2024-03-01T00:00:00Z,", GOOD),
        ("302,99,info,article,public,2024-03-01,", "account_id: account 99 does not exist"),
        ("303,1,product,video,public,2024-03-01,200;999", "product_ids: product 999 does not exist"),
        ("304,1,product,video,public,2024-03-01,202", "product_ids: product 202 does not exist"),
        ("305,1,product,hologram,public,2024-03-01,", "format: unknown value 'hologram'"),
        ("306,5,info,article,public,2024-03-01,", "account_id: account 5 does not exist"),
        ("307,1,product,video,public,2024-03-01,200;x", "product_ids: '200;x' is not a list of int64"),
        ("308,1,info,article,public,2099-03-01,", "created_at: 2099-03-01T00:00:00Z is in the future"),
    ]),
    "follows": ("user_id,account_id,followed_at,unfollowed_at", [
        ("100,1,2024-04-01T00:00:00Z,", GOOD),
        ("101,1,2024-04-01T00:00:00Z,2024-05-01T00:00:00Z", GOOD),
        ("100,99,2024-04-01,", "account_id: account 99 does not exist"),
        ("999,1,2024-04-01,", "user_id: user 999 does not exist"),
        ("103,1,2024-04-01,", "user_id: user 103 does not exist"),  # user 103 was quarantined
        ("100,1,2024-04-01T00:00:00Z,",
         "user_id, account_id, followed_at: duplicate key (100, 1, 2024-04-01T00:00:00Z)"),
        ("100,1,2024-04-01T00:00:00Z,2024-04-02T00:00:00Z",
         "reused with different content (differs in: unfollowed_at)"),
        ("102,2,2024-04-01,2031-01-01", "unfollowed_at: 2031-01-01T00:00:00Z is in the future"),
    ]),
    "events": ("event_id,user_id,target_type,target_id,action,slot,source,event_time,dwell_seconds,position", [
        ("1,100,post,300,click,follow_feed,in_app,2024-05-01T00:00:00Z,,3", GOOD),
        ("2,101,product,200,purchase,hotlist,push,2024-05-01T00:00:00Z,,", GOOD),
        ("3,102,account,1,follow,other,external,2024-05-01T00:00:00Z,,", GOOD),
        ("4,100,post,301,dwell,new_arrival,offsite_search,2024-05-01T00:00:01.5Z,12.5,0", GOOD),
        ("5,100,post,999,click,hotlist,in_app,2024-05-01,,", "target_id: post 999 does not exist"),
        ("6,100,product,999,click,hotlist,in_app,2024-05-01,,", "target_id: product 999 does not exist"),
        ("7,100,account,999,follow,hotlist,in_app,2024-05-01,,", "target_id: account 999 does not exist"),
        ("8,100,post,302,click,hotlist,in_app,2024-05-01,,", "target_id: post 302 does not exist"),
        ("9,100,product,202,cart,hotlist,in_app,2024-05-01,,", "target_id: product 202 does not exist"),
        ("10,100,post,300,teleport,hotlist,in_app,2024-05-01,,", "action: unknown value 'teleport'"),
        ("1,100,post,300,click,follow_feed,in_app,2024-05-01T00:00:00Z,,3",
         "event_id: duplicate id 1 (identical row already accepted)"),
        ("2,100,product,200,purchase,hotlist,push,2024-05-01T00:00:00Z,,",
         "event_id: id 2 reused with different content (differs in: user_id)"),
        ("11,100,post,300,click,hotlist,in_app,2031-01-01T00:00:00Z,,",
         "event_time: 2031-01-01T00:00:00Z is in the future"),
        ("12,100,post,300,dwell,hotlist,in_app,2024-05-01,abc,", "dwell_seconds: 'abc' is not a float32"),
        ("13,100,post,300,click,hotlist,in_app,2024-05-01,,70000", "position: '70000' is not an int16"),
        ("14,,post,300,click,hotlist,in_app,2024-05-01,,", "user_id: missing value"),
        ("15,100,post,300,teleport,hotlist,in_app,2031-01-01T00:00:00Z,,",
         ("action: unknown value 'teleport'", "; event_time: 2031-01-01T00:00:00Z is in the future")),
        ("16,100,post,300,click,hotlist,in_app,not-a-time,,", "event_time: 'not-a-time' is not a timestamp"),
    ]),
}


def _write_contract_dir(folder: Path, cases: dict[str, tuple[str, list[tuple[str, Expect]]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (header, rows) in cases.items():
        (folder / f"{name}.csv").write_text("\n".join([header, *(line for line, _ in rows)]) + "\n")
    return folder


def _good_cases() -> dict[str, tuple[str, list[tuple[str, Expect]]]]:
    return {name: (header, [r for r in rows if r[1] is GOOD]) for name, (header, rows) in CASES.items()}


def _fragments(expect: Expect) -> tuple[str, ...]:
    assert expect is not None
    return (expect,) if isinstance(expect, str) else expect


def test_every_planted_defect_is_quarantined_and_every_good_row_is_stored(tmp_path: Path) -> None:
    out = tmp_path / "data"
    report = load_tables(read_contract_dir(_write_contract_dir(tmp_path / "in", CASES)), out, now_ms=NOW_MS)

    assert [row[0] for row in report.rows()] == list(TABLES)
    seen_kinds: set[str] = set()
    for name, (header, rows) in CASES.items():
        table_report = report.tables[name]
        assert table_report.rows_in == len(rows) == table_report.accepted + table_report.quarantined, name
        seen_kinds |= set(table_report.reasons)

        quarantine = read_quarantine(out, name)
        assert quarantine.column_names == [*header.split(","), "row", "reason"]
        reasons = dict(zip(quarantine["row"].to_pylist(), quarantine["reason"].to_pylist(), strict=True))
        planted = {i: expect for i, (_, expect) in enumerate(rows) if expect is not GOOD}
        assert sorted(reasons) == sorted(planted), name
        for i, expect in planted.items():
            for fragment in _fragments(expect):
                assert fragment in reasons[i], (name, i, reasons[i])
        # The quarantined row keeps the input's text, field by field.
        for record in quarantine.to_pylist():
            fields = rows[record["row"]][0].split(",")
            assert [record[c] for c in header.split(",")] == [f or None for f in fields], (name, record)

        stored = read_table(out, name)
        assert stored.schema == TABLES[name].schema
        good = [line for line, expect in rows if expect is GOOD]
        assert stored.num_rows == len(good) == table_report.accepted, name
    assert seen_kinds == set(KINDS)  # every reason kind was exercised

    assert sorted(read_table(out, "events")["event_id"].to_pylist()) == [1, 2, 3, 4]
    events = read_table(out, "events")
    event_4 = events.filter(pc.equal(events["event_id"], 4))
    assert event_4.to_pylist()[0]["dwell_seconds"] == 12.5
    assert event_4["event_time"].cast(pa.int64()).to_pylist() == [1_714_521_601_500]
    accounts = read_table(out, "accounts").to_pylist()
    assert [a["tier_state"] for a in accounts] == ["fair", None, None, "excellent"]
    assert accounts[3]["created_at"].isoformat() == "2024-01-04T00:00:00+00:00"
    assert read_table(out, "posts")["product_ids"].to_pylist() == [[200, 201], []]
    follows = read_table(out, "follows").to_pylist()
    assert [(f["user_id"], f["unfollowed_at"] is None) for f in follows] == [(100, True), (101, False)]


def test_stored_data_set_revalidates_clean(tmp_path: Path) -> None:
    out = tmp_path / "data"
    loaded = load_tables(read_contract_dir(_write_contract_dir(tmp_path / "in", CASES)), out, now_ms=NOW_MS)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    again = validate_dir(out, now_ms=NOW_MS)
    assert again.out == out
    assert again.rows() == [(n, loaded.tables[n].accepted, loaded.tables[n].accepted, 0) for n in TABLES]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing written


def test_validate_dir_flags_a_corrupt_stored_table(tmp_path: Path) -> None:
    good = load_tables(read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases())),
                       tmp_path / "good", now_ms=NOW_MS)
    assert good.tables["follows"].quarantined == 0
    # Written behind validation's back: a follow of account 5, which does not exist.
    follows = read_table(tmp_path / "good", "follows")
    follows = follows.set_column(1, "account_id", pa.array([1, 5], pa.int64()))
    data = tmp_path / "corrupt"
    write_dataset(data, {name: read_table(tmp_path / "good", name) for name in ("accounts", "users")}
                  | {"follows": follows})
    report = validate_dir(data, now_ms=NOW_MS)
    assert report.rows() == [("accounts", 4, 4, 0), ("users", 3, 3, 0), ("follows", 2, 1, 1)]
    assert report.tables["follows"].reasons == {"dangling_reference": 1}
    assert not (data / "quarantine").exists()


def test_nothing_appears_when_a_later_table_is_rejected(tmp_path: Path) -> None:
    cases = _good_cases()
    header, rows = cases["events"]
    cases["events"] = (header + ",actoin", [(line + ",x", expect) for line, expect in rows])
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", cases))
    out = tmp_path / "data"
    with pytest.raises(ContractError, match=r"'events'.*not in the contract: actoin"):
        load_tables(raw, out, now_ms=NOW_MS)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # no staging folder left


def test_nothing_appears_when_writing_fails_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases()))
    real_write = storage_module.write_table

    def failing_write(folder: Path, spec: object, table: pa.Table) -> None:
        if folder.name == "events":
            raise OSError("disk full")
        real_write(folder, spec, table)  # type: ignore[arg-type]

    monkeypatch.setattr(storage_module, "write_table", failing_write)
    with pytest.raises(OSError, match=r"disk full"):
        load_tables(raw, tmp_path / "data", now_ms=NOW_MS)
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_a_broken_count_invariant_stops_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_validate = load_module.validate_table

    def lossy(name: str, raw: pa.Table, **kwargs: object) -> Validated:
        result = real_validate(name, raw, **kwargs)  # type: ignore[arg-type]
        if name != "events":
            return result
        r = result.report
        lost = TableReport(r.table, r.rows_in, r.accepted - 1, r.quarantined, r.reasons)
        return Validated(result.accepted.slice(1), result.quarantine, lost)

    monkeypatch.setattr(load_module, "validate_table", lossy)
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases()))
    with pytest.raises(RuntimeError, match=r"'events'"):
        load_tables(raw, tmp_path / "data", now_ms=NOW_MS)
    assert not (tmp_path / "data").exists()


def test_truth_passes_through_and_clean_tables_get_no_quarantine(tmp_path: Path) -> None:
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases()))
    truth = {"appeal": pa.table({"post_id": [300], "appeal": [0.7]})}
    out = tmp_path / "data"
    report = load_tables(raw, out, now_ms=NOW_MS, truth=truth)
    assert all(q == 0 for _, _, _, q in report.rows())
    assert not (out / "quarantine").exists()
    assert (out / "truth" / "appeal").is_dir()


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases()))
    out = tmp_path / "data"
    load_tables(raw, out, now_ms=NOW_MS)
    with pytest.raises(StorageError, match=r"overwrite"):
        load_tables(raw, out, now_ms=NOW_MS)
    smaller = {name: table for name, table in raw.items() if name in ("accounts", "users")}
    load_tables(smaller, out, now_ms=NOW_MS, overwrite=True)
    assert storage_module.table_names(out) == ["accounts", "users"]


def test_missing_referenced_table_and_unknown_table_are_contract_errors(tmp_path: Path) -> None:
    raw = read_contract_dir(_write_contract_dir(tmp_path / "in", _good_cases()))
    without_posts = {name: table for name, table in raw.items() if name != "posts"}
    with pytest.raises(ContractError, match=r"table 'posts' needed to check events.target_id was not loaded"):
        load_tables(without_posts, tmp_path / "data", now_ms=NOW_MS)
    with pytest.raises(ContractError, match=r"not contract tables: likes"):
        load_tables({**raw, "likes": raw["users"]}, tmp_path / "data", now_ms=NOW_MS)
    assert not (tmp_path / "data").exists()


def test_now_defaults_to_the_wall_clock(tmp_path: Path) -> None:
    cases: dict[str, tuple[str, list[tuple[str, Expect]]]] = {}
    cases["users"] = ("user_id,created_at", [("1,2024-01-01", GOOD), ("2,2999-01-01", "in the future")])
    report = load_tables(read_contract_dir(_write_contract_dir(tmp_path / "in", cases)), tmp_path / "data")
    assert report.rows() == [("users", 2, 1, 1)]
