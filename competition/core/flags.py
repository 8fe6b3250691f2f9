"""Command-line flags generated from the settings' field metadata, and settings read back from them.

Hand-written glue rather than a library (simple-parsing, tyro): it is forty lines, keeps
argparse's familiar --help, and adds no dependency to a Kaggle image.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from .config import Settings, flag_name

DEFAULTS = Settings()
_TYPES = typing.get_type_hints(Settings)


def setting_fields() -> list[dataclasses.Field]:
    return [field for field in dataclasses.fields(Settings) if field.metadata.get("flag", True)]


def _default_text(field: dataclasses.Field) -> str:
    meta = field.metadata
    if meta.get("default_text"):
        return meta["default_text"]
    default = getattr(DEFAULTS, field.name)
    text = ",".join(f"{item:g}" if isinstance(item, float) else item for item in default) \
        if isinstance(default, tuple) else str(default)
    return f"{text}, or {meta['demo_default']} with --demo" if meta.get("demo_default") is not None else text


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(word) for word in text.split(",") if word)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, such as 0,20; got {text!r}") from None


def add_setting_flags(parser: argparse.ArgumentParser, choices: dict[str, tuple[str, ...]] | None = None) -> None:
    """One flag per setting, its help ending in its default. `choices` adds the registries'
    names (models, tasks, engines), which this floor cannot know."""
    for field in setting_fields():
        meta, kind = field.metadata, _TYPES[field.name]
        # argparse expands %-formats in help, and a share written "12.5 %" is not one
        options: dict[str, Any] = {"dest": field.name, "default": None,
                                   "help": f"{meta['help']} (default: {_default_text(field)})".replace("%", "%%")}
        named = (choices or {}).get(field.name) or meta.get("choices")
        if named:
            options["choices"] = named
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind == tuple[str, ...]:
            options["type"] = lambda text: tuple(word for word in text.split(",") if word)
            options["metavar"] = "A,B,..."
        elif kind == tuple[float, ...]:
            options["type"] = _numbers
            options["metavar"] = "LOW,HIGH"
        elif kind in (int, float):
            options["type"] = kind
        parser.add_argument(flag_name(field.name), **options)


def settings_from_args(args: argparse.Namespace, demo: bool = False, **overrides: Any) -> Settings:
    """Settings from the parsed flags: a flag left out keeps the setting's default (its demo
    default with --demo); `overrides` are values the caller resolved itself."""
    values = {}
    for field in setting_fields():
        value = getattr(args, field.name, None)
        if value is None and demo and field.metadata.get("demo_default") is not None:
            value = field.metadata["demo_default"]
        if value is not None:
            values[field.name] = value
    return Settings(**{**values, **overrides})
