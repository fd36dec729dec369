"""Embedded models: the catalog, and turning a catalog id or a local path into a verified GGUF file."""

from .cache import default_cache_dir
from .catalog import CATALOG, DEFAULT_MODEL_ID, ModelSpec, install_hint
from .errors import ModelInstallError
from .install import ensure_model_file
from .resolve import ResolvedModel, resolve_model
from .status import ModelStatus, format_model_table, list_models

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL_ID",
    "ModelInstallError",
    "ModelSpec",
    "ModelStatus",
    "ResolvedModel",
    "default_cache_dir",
    "ensure_model_file",
    "format_model_table",
    "install_hint",
    "list_models",
    "resolve_model",
]
