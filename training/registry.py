"""The model registry: register a logged run as a model version, promote by evidence, roll back.

Each slot has one registered model ``<registry_prefix><slot>``. Three aliases carry the state:
``challenger`` (the latest registered version), ``champion`` (what serving loads) and
``previous_champion`` (where a rollback returns). ``champion`` moves only when the challenger beats it on
the promotion metric measured on the same held-out split; every decision is written as tags on the
challenger's version, so the registry itself explains why it serves what it serves.

Moving aliases is not atomic across aliases; ``champion`` is always set last, so an interrupted promotion
leaves the old champion in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ranking.model_store import CHALLENGER, CHAMPION, CHECKSUM_TAG, MODEL_ARTIFACT_DIR, PREVIOUS_CHAMPION
from training.settings import TrackingSettings
from training.tracking import PYFUNC_TAG, RUN_TAGS, HasTracking, TrackingError, tracking_client, tracking_section

PREVIOUS_TAG = "promotion.previous_champion"  # on a champion version: the champion it replaced
_MAX_TAG = 5000


class RegistryError(TrackingError):
    """A registry operation that cannot be done: unknown run, wrong slot, unregistered model."""


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of :func:`promote`; ``values`` maps ``"champion"``/``"challenger"`` to their metric value."""

    moved: bool
    reason: str
    champion_before: int | None
    challenger: int | None
    values: dict[str, float | None] = field(default_factory=dict)
    metric: str = ""


@dataclass(frozen=True)
class RollbackDecision:
    """Outcome of :func:`rollback`."""

    moved: bool
    reason: str
    champion_before: int | None
    champion_after: int | None


def model_name(settings: TrackingSettings | HasTracking, slot: str) -> str:
    """Registered model name of a slot, e.g. ``weitao-follow_feed``."""
    return f"{tracking_section(settings).registry_prefix}{slot}"


def _alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def register(settings: TrackingSettings | HasTracking, run_id: str, slot: str) -> int:
    """Register run ``run_id``'s ``model/`` folder as a new version of ``<prefix><slot>``; alias it challenger.

    The version's source is ``runs:/<run_id>/model``: a plain artifact folder, no MLflow flavour or pickle.
    The run's weitao tags (split, snapshot, config hash, feature set, checksum) are copied onto the version, and
    so is ``pyfunc_uri`` when the run holds the model as a pyfunc (``mlflow.pyfunc.load_model`` takes it).
    Raises :class:`RegistryError` if the run is unknown or belongs to another slot.
    """
    client = tracking_client(settings)
    name = model_name(settings, slot)
    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise RegistryError(f"cannot register run {run_id}: {e.message}") from None
    run_tags = run.data.tags
    if run_tags.get("slot") != slot:
        raise RegistryError(f"run {run_id} trained slot {run_tags.get('slot')!r}, not {slot!r}")
    if not run_tags.get(CHECKSUM_TAG):
        raise RegistryError(f"run {run_id} has no {CHECKSUM_TAG} tag: log it with training.tracking.log_model_run")
    try:
        client.create_registered_model(name, description=f"Weitao models of slot {slot}")
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = client.create_model_version(
        name, source=f"runs:/{run_id}/{MODEL_ARTIFACT_DIR}", run_id=run_id,
        tags={k: run_tags[k] for k in (*RUN_TAGS, PYFUNC_TAG) if k in run_tags},
    )
    version = int(mv.version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


@dataclass(frozen=True)
class _Logged:
    """What the gate reads from a version's run, fetched once."""

    metric: float | None
    split: str | None
    fingerprint: str | None


def _logged(client: MlflowClient, mv: Any, metric: str) -> _Logged:
    data = client.get_run(mv.run_id).data
    value = data.metrics.get(metric)
    return _Logged(None if value is None or math.isnan(value) else float(value), data.tags.get("split_id"),
                   data.params.get("feature_set.fingerprint"))


def _judge(
    client: MlflowClient, champion: Any | None, challenger: Any, metric: str, higher: bool, min_delta: float
) -> tuple[bool, str, dict[str, float | None]]:
    """The promotion gate: (move?, reason, values). Pure reading; nothing is changed here."""
    ch_v = int(challenger.version)
    chl = _logged(client, challenger, metric)
    cpl = _logged(client, champion, metric) if champion is not None else None
    ch, cp = chl.metric, (cpl.metric if cpl is not None else None)
    values = {"champion": cp, "challenger": ch}
    if champion is not None and int(champion.version) == ch_v:
        return False, f"challenger v{ch_v} is already the champion", values
    if ch is None:
        return False, f"challenger v{ch_v} has no {metric!r} logged, so it cannot be judged", values
    if champion is None or cpl is None:
        return True, f"first promotion: no champion existed; challenger v{ch_v} has {metric}={ch:.4f}", values
    cp_v = int(champion.version)
    ch_fp, cp_fp = chl.fingerprint, cpl.fingerprint
    if ch_fp is not None and cp_fp is not None and ch_fp != cp_fp:
        # A service refuses a model whose feature set differs from its code's: the newer set wins.
        return True, (f"champion v{cp_v} was trained on another feature set (fingerprint {cp_fp[:12]}) than "
                      f"challenger v{ch_v} ({ch_fp[:12]}); the champion can no longer be served, so the "
                      f"challenger replaces it ({metric}={ch:.4f})"), values
    ch_split, cp_split = chl.split, cpl.split
    if ch_split is None or ch_split != cp_split:
        return False, (f"refused: challenger v{ch_v} was evaluated on split {ch_split!r} and champion v{cp_v} "
                       f"on split {cp_split!r}; {metric} is only comparable on the same held-out split"), values
    if cp is None:
        return False, f"refused: champion v{cp_v} has no {metric!r} logged to compare against", values
    margin = ch - cp if higher else cp - ch
    direction = "higher" if higher else "lower"
    if margin > min_delta:
        return True, (f"challenger v{ch_v} beats champion v{cp_v} on {metric}: {ch:.4f} vs {cp:.4f} "
                      f"({direction} is better, margin {margin:.4f} > min_delta {min_delta:.4f})"), values
    return False, (f"challenger v{ch_v} does not beat champion v{cp_v} on {metric}: {ch:.4f} vs {cp:.4f} "
                   f"({direction} is better, margin {margin:.4f} must exceed min_delta {min_delta:.4f})"), values


def _tag(client: MlflowClient, name: str, version: int, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value[:_MAX_TAG])


def promote(
    settings: TrackingSettings | HasTracking,
    slot: str,
    *,
    metric: str,
    higher_is_better: bool = True,
    min_delta: float = 0.0,
) -> PromotionDecision:
    """Move ``champion`` to the challenger if it beats the champion on ``metric`` on the same split.

    The first promotion (no champion yet) moves without comparison. A challenger evaluated on another
    ``split_id`` than the champion is refused. The reason is written on the challenger's version as tags
    ``promotion.decision`` / ``promotion.reason`` and returned. The replaced champion becomes
    ``previous_champion``.
    """
    client = tracking_client(settings)
    name = model_name(settings, slot)
    challenger = _alias(client, name, CHALLENGER)
    if challenger is None:
        return PromotionDecision(False, f"{name} has no {CHALLENGER!r} version: register a run first",
                                 None, None, {}, metric)
    champion = _alias(client, name, CHAMPION)
    moved, reason, values = _judge(client, champion, challenger, metric, higher_is_better, min_delta)
    ch_v, cp_v = int(challenger.version), (int(champion.version) if champion is not None else None)
    if moved:
        if cp_v is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(cp_v))
            _tag(client, name, ch_v, {PREVIOUS_TAG: str(cp_v)})
        client.set_registered_model_alias(name, CHAMPION, str(ch_v))
    _tag(client, name, ch_v, {"promotion.decision": "promoted" if moved else "not promoted",
                              "promotion.reason": reason, "promotion.metric": metric,
                              "promotion.at": datetime.now(UTC).isoformat(timespec="seconds")})
    return PromotionDecision(moved, reason, cp_v, ch_v, values, metric)


def rollback(settings: TrackingSettings | HasTracking, slot: str) -> RollbackDecision:
    """Move ``champion`` back to ``previous_champion``.

    ``previous_champion`` then steps one further back (to the champion the restored version had replaced),
    or is removed. If the rolled-back version is still the challenger, the challenger alias is removed too,
    so the next :func:`promote` cannot silently bring it back.
    """
    client = tracking_client(settings)
    name = model_name(settings, slot)
    champion, previous = _alias(client, name, CHAMPION), _alias(client, name, PREVIOUS_CHAMPION)
    if champion is None:
        return RollbackDecision(False, f"{name} has no champion to roll back", None, None)
    bad = int(champion.version)
    if previous is None:
        return RollbackDecision(False, f"{name} v{bad} is champion and there is no previous champion", bad, bad)
    good = int(previous.version)
    client.set_registered_model_alias(name, CHAMPION, str(good))
    older = (previous.tags or {}).get(PREVIOUS_TAG)
    if older and int(older) != good:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, older)
    else:
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    challenger = _alias(client, name, CHALLENGER)
    if challenger is not None and int(challenger.version) == bad:
        client.delete_registered_model_alias(name, CHALLENGER)
    reason = f"rolled back from v{bad} to previous champion v{good}"
    _tag(client, name, bad, {"promotion.decision": "rolled back", "promotion.reason": reason,
                             "promotion.at": datetime.now(UTC).isoformat(timespec="seconds")})
    return RollbackDecision(True, reason, bad, good)
