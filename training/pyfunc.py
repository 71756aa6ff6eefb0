"""A slot model as an MLflow ``pyfunc``, so it loads in any MLflow tool: ``mlflow.pyfunc.load_model(uri)``.

Logged as code (MLflow's "models from code"): this file is stored beside a copy of the sealed model folder,
and loading runs it instead of unpickling anything. Loading verifies the folder's checksums and that its
feature set is the one this code computes (a mismatch is refused with a message naming both), as the
service does. ``predict`` takes a frame with one column per feature (``feature_set.columns``, any order;
extra columns are ignored, missing ones are named in the error) and returns the blended ``score`` and the
calibrated probability of every head (``p_click``, ``p_engage``, …). The project must be installed where the
model is loaded: the heads are read by :mod:`ranking.heads`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

#: Name of the copied model folder among the pyfunc's artifacts.
ARTIFACT = "model"


class SlotModelPyfunc(PythonModel):
    """Scores feature rows with a slot model's heads and blend."""

    def load_context(self, context: PythonModelContext) -> None:
        """Read and verify the model folder shipped with the pyfunc."""
        from features.featuresets import get_feature_set
        from ranking.model_store import load_model_dir

        expected = get_feature_set(context.model_config["feature_set"])
        self.model_ = load_model_dir(Path(context.artifacts[ARTIFACT]), expected).head_model()

    def predict(self, context: PythonModelContext | None, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``score`` and ``p_<head>`` for every row of ``model_input`` (columns named as the features)."""
        names = self.model_.feature_names
        missing = [n for n in names if n not in model_input.columns]
        if missing:
            raise ValueError(f"model_input: missing feature columns {missing}")
        X = model_input[names].to_numpy(dtype=np.float32)
        heads = self.model_.predict_heads(X)
        return pd.DataFrame({"score": self.model_.blended(heads, len(X)),
                             **{f"p_{head}": values for head, values in heads.items()}},
                            index=model_input.index)


set_model(SlotModelPyfunc())
