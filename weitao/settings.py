"""The one settings tree: a TOML file (``--config``) with ``WEITAO_…`` environment overrides.

Unknown keys and wrong types are errors that name the key. This is the only module that reads the
process environment; everything else receives settings as an argument.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from experiments.settings import EvaluationSettings, SimulatorSettings
from features.settings import DataSettings, FeatureSettings
from ranking.gate.settings import GateSettings
from ranking.settings import RankingSettings
from serving.settings import ServingSettings
from training.amplifier.settings import AmplifierSettings
from training.ranker_settings import RankerSettings
from training.settings import TrackingSettings
from training.tiers_settings import TierSettings

ENV_PREFIX = "WEITAO_"
#: Path of the effective settings (JSON) that `weitao serve` hands to its worker processes.
WORKER_SETTINGS_ENV = "WEITAO_WORKER_SETTINGS_FILE"
DEFAULT_CONFIG = Path("weitao.toml")


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the offending key."""


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data: DataSettings = Field(default_factory=DataSettings, description="Contract tables and checks.")
    features: FeatureSettings = Field(default_factory=FeatureSettings, description="Feature pipelines.")
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings, description="Simulated world.")
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings, description="Evaluation.")
    ranking: RankingSettings = Field(default_factory=RankingSettings, description="Slot pipelines.")
    gate: GateSettings = Field(default_factory=GateSettings, description="Amplification gate.")
    rankers: RankerSettings = Field(default_factory=RankerSettings, description="Slot rankers.")
    amplifier: AmplifierSettings = Field(
        default_factory=AmplifierSettings, description="Amplifier model (predicted public lift of fans-only posts).")
    tracking: TrackingSettings = Field(default_factory=TrackingSettings, description="MLflow tracking, registry.")
    tiers: TierSettings = Field(default_factory=TierSettings, description="Monthly tier assessment and rewards.")
    serving: ServingSettings = Field(default_factory=ServingSettings, description="The ranking service.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file, which arrives as init kwargs.
        return (env_settings, init_settings)

    def config_hash(self) -> str:
        """Stable short hash of the effective settings, stored with every model and report."""
        blob = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(blob).hexdigest()[:16]


def _known_env_keys(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, info in model.model_fields.items():
        key = f"{prefix}{name.upper()}"
        yield key
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _known_env_keys(ann, key + "__")


def _check_env(environ: Mapping[str, str]) -> None:
    known = set(_known_env_keys(Settings, ENV_PREFIX)) | {WORKER_SETTINGS_ENV}
    for key in environ:
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            if any(key.upper().startswith(k + "__") for k in known):
                continue  # inside a dict-valued key such as simulator.scales
            raise SettingsError(f"unknown setting in environment: {key}")


def _format_error(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"{loc}: {e['msg']}" + (f" (got {e['input']!r})" if "input" in e else ""))
    return f"invalid settings from {origin}: " + "; ".join(lines)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings tree from ``config`` (default ``./weitao.toml`` if present) and the environment.

    ``overrides`` are applied on top of the file (tests use them); the environment wins over both.
    """
    data: dict[str, Any] = {}
    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path is not None:
        if not path.exists():
            raise SettingsError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {path} is not valid TOML: {e}") from e
    for key, value in overrides.items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.__setitem__(key, value)
    _check_env(os.environ)
    try:
        return Settings(**data)
    except ValidationError as e:
        raise SettingsError(_format_error(e, str(path) if path else "defaults/environment")) from None


def describe(settings: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """Yield (dotted key, effective value, description) for every leaf setting."""
    for name, info in type(settings).model_fields.items():
        value = getattr(settings, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from describe(value, key + ".")
        else:
            yield key, settings.model_dump(mode="json", include={name})[name], info.description or ""


def export_for_workers(settings: Settings, path: Path) -> None:
    """Write the effective settings (secrets included, file mode 0600) for worker processes to read back."""
    body = settings.model_dump(mode="json")
    body["serving"]["admin_token"] = settings.serving.admin_token.get_secret_value()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # also when the file was there before, with other permissions
    path.write_bytes(orjson.dumps(body))
    os.environ[WORKER_SETTINGS_ENV] = str(path.resolve())


def settings_for_worker() -> Settings:
    """The settings a worker process was handed by :func:`export_for_workers`."""
    path = os.environ.get(WORKER_SETTINGS_ENV)
    if not path:
        raise SettingsError(f"{WORKER_SETTINGS_ENV} is not set: start workers with `weitao serve`")
    try:
        return Settings(**orjson.loads(Path(path).read_bytes()))
    except (OSError, orjson.JSONDecodeError) as e:
        raise SettingsError(f"{WORKER_SETTINGS_ENV}: cannot read {path}: {e}") from e
    except ValidationError as e:
        raise SettingsError(_format_error(e, path)) from None
