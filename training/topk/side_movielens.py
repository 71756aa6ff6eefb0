"""MovieLens-100k attributes the data contract does not carry, read from the raw files beside the ratings.

The contract keeps one primary genre per movie (as its account) and nothing about users. The re-ranker can
also use every genre of a movie, its release year, and a user's age, gender and occupation, so this module
reads them from the GroupLens (``u.user``, ``u.item``) or RecBole (``ml-100k.user``, ``ml-100k.item``)
files. It is deliberately separate from the contract adapter: these columns exist only for this data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.topk.side import SideFeatures

#: Genre flags of GroupLens ``u.item`` in file order (the same names as RecBole's ``class`` tokens).
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


def _users(age: pd.Series, gender: pd.Series, occupation: pd.Series, ids: pd.Series) -> pd.DataFrame:
    occupations = sorted(occupation.unique())
    return pd.DataFrame({
        "age": pd.to_numeric(age, errors="coerce").to_numpy(np.float64),
        "gender_male": (gender.str.upper() == "M").to_numpy(np.float64),
        "occupation": occupation.map({o: i for i, o in enumerate(occupations)}).to_numpy(np.float64),
    }, index=pd.Index(ids.astype(np.int64).to_numpy(), name="user"))


def _grouplens(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    u = pd.read_csv(folder / "u.user", sep="|", header=None, encoding="latin-1", dtype=str)
    users = _users(u[1], u[2], u[3], u[0])
    it = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
    ids = it[0].astype(np.int64).to_numpy()
    year = pd.to_datetime(it[2], format="%d-%b-%Y", errors="coerce").dt.year.to_numpy(np.float64)
    flags = it.iloc[:, -len(GENRES):].to_numpy() == "1"
    rows, cols = np.nonzero(flags)
    genres = pd.DataFrame({"item": ids[rows], "label": np.asarray(GENRES)[cols]})
    return users, pd.DataFrame({"release_year": year}, index=pd.Index(ids, name="item")), genres


def _recbole(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    u = pd.read_csv(folder / "ml-100k.user", sep="\t", dtype=str, keep_default_na=False)
    u.columns = [c.split(":")[0] for c in u.columns]
    users = _users(u["age"], u["gender"], u["occupation"], u["user_id"])
    it = pd.read_csv(folder / "ml-100k.item", sep="\t", dtype=str, keep_default_na=False)
    it.columns = [c.split(":")[0] for c in it.columns]
    ids = it["item_id"].astype(np.int64).to_numpy()
    year = pd.to_numeric(it["release_year"], errors="coerce").to_numpy(np.float64)
    labels = it["class"].str.split()
    genres = pd.DataFrame({"item": np.repeat(ids, labels.str.len()), "label": np.concatenate(labels.to_list())})
    return users, pd.DataFrame({"release_year": year}, index=pd.Index(ids, name="item")), genres


def movielens_side(folder: Path) -> SideFeatures:
    """Age, gender, occupation (users); release year and all genres (items) of a MovieLens-100k folder.

    Raises
    ------
    FileNotFoundError
        When ``folder`` holds neither the GroupLens nor the RecBole user and item files.
    """
    folder = Path(folder)
    if (folder / "u.user").is_file() and (folder / "u.item").is_file():
        users, items, genres = _grouplens(folder)
    elif (folder / "ml-100k.user").is_file() and (folder / "ml-100k.item").is_file():
        users, items, genres = _recbole(folder)
    else:
        raise FileNotFoundError(f"{folder}: no u.user/u.item or ml-100k.user/ml-100k.item files")
    return SideFeatures(users=users, items=items, groups={"genre": genres}, categorical=("occupation",))
