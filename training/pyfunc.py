"""Logged models as MLflow ``pyfunc``, so they load in any MLflow tool: ``mlflow.pyfunc.load_model(uri)``.

Logged as code (MLflow's "models from code"): this file is stored beside a copy of the sealed model folder,
and loading runs it instead of unpickling anything. Loading verifies the folder's checksums and that its
feature set is the one this code computes (a mismatch is refused with a message naming both), as the
service does. ``predict`` takes a frame with one column per feature (the feature set's columns, any order;
extra columns are ignored, a missing one is named in the error) and returns, for a slot ranker, the blended
``score`` and the calibrated probability of every head (``p_click``, ``p_engage``, …); for the amplifier,
the calibrated ``lift`` (log scale) and the booster's ``raw`` score. ``model_config["kind"]`` says which.
The project must be installed where the model is loaded: the folder is read by its own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

from training.tracking import PYFUNC_MODEL


class WeitaoPyfunc(PythonModel):
    """Scores feature rows with a slot ranker's heads and blend, or with the amplifier."""

    def load_context(self, context: PythonModelContext) -> None:
        """Read and verify the model folder shipped with the pyfunc."""
        from ranking.model_store import load_model_dir

        folder = Path(context.artifacts[PYFUNC_MODEL])
        self.kind_ = context.model_config["kind"]
        if self.kind_ == "amplifier":
            from training.amplifier.model import AmplifierFeatureSet, AmplifierModel

            load_model_dir(folder, AmplifierFeatureSet())
            self.amplifier_ = AmplifierModel.load(folder)
            self.columns_ = list(self.amplifier_.feature_names_)
        else:
            from features.featuresets import get_feature_set

            self.heads_ = load_model_dir(folder, get_feature_set(context.model_config["feature_set"])).head_model()
            self.columns_ = list(self.heads_.feature_names)

    def predict(self, context: PythonModelContext | None, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The model's outputs for every row of ``model_input`` (columns named as the features)."""
        missing = [c for c in self.columns_ if c not in model_input.columns]
        if missing:
            raise ValueError(f"model_input: missing feature columns {missing}")
        X = model_input[self.columns_].to_numpy(dtype=np.float32)
        if self.kind_ == "amplifier":
            return pd.DataFrame({"lift": self.amplifier_.predict(X), "raw": self.amplifier_.predict_raw(X)},
                                index=model_input.index)
        heads = self.heads_.predict_heads(X)
        return pd.DataFrame({"score": self.heads_.blended(heads, len(X)),
                             **{f"p_{head}": values for head, values in heads.items()}},
                            index=model_input.index)


set_model(WeitaoPyfunc())
