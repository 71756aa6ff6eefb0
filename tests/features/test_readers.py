"""``read_contract_dir``: CSV as strings, Parquet as typed, folders, and clear errors for strange files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.contract import TABLES, ms
from features.readers import read_contract_dir
from features.storage import write_dataset
from features.validate import ContractError, validate_table

NOW_MS = 1_748_736_000_000  # 2025-06-01T00:00:00Z


def test_csv_columns_are_all_strings_and_empty_is_null(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_text(
        "product_id,shop_id,category,price,launched_at\n"
        '1,2,3,4.5,2024-01-01T00:00:00Z\n'
        '007,,"",abc,\n'
    )
    raw = read_contract_dir(tmp_path)
    table = raw["products"]
    assert all(field.type == pa.string() for field in table.schema)
    assert table.to_pylist()[1] == {"product_id": "007", "shop_id": None, "category": None, "price": "abc",
                                    "launched_at": None}


def test_product_id_lists_in_csv_are_parsed_by_validation(tmp_path: Path) -> None:
    (tmp_path / "posts.csv").write_text(
        "post_id,account_id,kind,format,visibility,created_at,product_ids\n"
        "1,1,product,video,public,2024-01-01,3;4\n"
        '2,1,info,article,private,2024-01-01,""\n'
        "3,1,guide,live,public,2024-01-01,\n"
        "4,1,guide,live,public,2024-01-01, 4 ; 3 \n"
    )
    raw = read_contract_dir(tmp_path)
    result = validate_table("posts", raw["posts"], known_ids={"accounts": np.array([1]),
                                                               "products": np.array([3, 4])}, now_ms=NOW_MS)
    assert result.report.quarantined == 0
    assert result.accepted.column("product_ids").to_pylist() == [[3, 4], [], [], [4, 3]]


def test_parquet_files_and_folders_keep_their_types(tmp_path: Path) -> None:
    users = pa.Table.from_arrays([pa.array([1, 2]), ms(np.array([0, 1]))], schema=TABLES["users"].schema)
    single = tmp_path / "single"
    single.mkdir()
    pq.write_table(users, single / "users.parquet")
    (single / ".DS_Store").write_text("")
    assert read_contract_dir(single)["users"].equals(users)
    stored = tmp_path / "stored"
    write_dataset(stored, {"users": users}, quarantine={"users": pa.table({"reason": ["x"]})})
    # A stored data set reads back too: its quarantine folder is not a table.
    assert read_contract_dir(stored)["users"].equals(users)


def test_tables_come_back_in_contract_order(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id,created_at\n")
    (tmp_path / "accounts.csv").write_text("account_id\n")
    (tmp_path / "events.csv").write_text("event_id\n")
    assert list(read_contract_dir(tmp_path)) == ["accounts", "users", "events"]
    assert read_contract_dir(tmp_path)["users"].num_rows == 0


def test_unknown_file_names_are_errors(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id,created_at\n")
    (tmp_path / "usres.csv").write_text("user_id,created_at\n")
    with pytest.raises(ContractError, match=r"unexpected file 'usres.csv'"):
        read_contract_dir(tmp_path)


def test_unknown_suffix_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text("{}")
    with pytest.raises(ContractError, match=r"users.json"):
        read_contract_dir(tmp_path)


def test_a_table_given_twice_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id,created_at\n")
    users = pa.Table.from_arrays([pa.array([1]), ms(np.array([0]))], schema=TABLES["users"].schema)
    pq.write_table(users, tmp_path / "users.parquet")
    with pytest.raises(ContractError, match=r"'users' is given more than once.*users.csv, users.parquet"):
        read_contract_dir(tmp_path)


def test_empty_csv_and_missing_folder_are_errors(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("")
    with pytest.raises(ContractError, match=r"users.csv: empty CSV"):
        read_contract_dir(tmp_path)
    with pytest.raises(ContractError, match=r"not a folder"):
        read_contract_dir(tmp_path / "absent")
