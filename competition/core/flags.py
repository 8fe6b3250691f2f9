"""Command-line flags generated from the settings' field metadata, grouped by concern; settings read
back from them and from a recipe file (`--config FILE.toml`); the resolved recipe written for a run.

Hand-written glue rather than a library (simple-parsing, tyro): it keeps argparse's familiar
--help and adds no dependency to a Kaggle image. Recipes are TOML keyed by the flags' names without
their dashes, read by the standard library's tomllib; a recipe is a flat table of numbers, strings,
booleans and lists of them, which `write_recipe` writes itself rather than add a TOML writer to every
Kaggle kernel's install (tests read each one back with tomllib).
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from .. import PipelineError
from .config import FLAG_GROUPS, Settings, flag_name
from .io import atomic_path

DEFAULTS = Settings()


def _without_none(kind: Any) -> Any:
    """`float | None` is a float flag whose absence means "not set"."""
    arguments = [argument for argument in typing.get_args(kind) if argument is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(arguments) == 1:
        return arguments[0]
    return kind


_TYPES = {name: _without_none(kind) for name, kind in typing.get_type_hints(Settings).items()}


def setting_fields() -> list[dataclasses.Field]:
    return [field for field in dataclasses.fields(Settings) if field.metadata.get("flag", True)]


def _grouped_fields() -> dict[str, list[dataclasses.Field]]:
    fields = {field.name: field for field in setting_fields()}
    listed = [name for names in FLAG_GROUPS.values() for name in names]
    if sorted(listed) != sorted(fields):
        raise RuntimeError(f"core.config.FLAG_GROUPS must list every flag-bearing setting once; missing "
                           f"{sorted(set(fields) - set(listed))}, unknown or repeated "
                           f"{sorted({n for n in listed if n not in fields or listed.count(n) > 1})}")
    return {group: [fields[name] for name in names] for group, names in FLAG_GROUPS.items()}


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
    """One flag per setting, in its group, its help ending in its default. `choices` adds the
    registries' names (models, tasks, engines), which this floor cannot know."""
    for title, fields in _grouped_fields().items():
        group = parser.add_argument_group(title)
        for field in fields:
            meta, kind = field.metadata, _TYPES[field.name]
            options: dict[str, Any] = {"dest": field.name, "default": None,
                                       "help": f"{meta['help']} (default: {_default_text(field)})"}
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
            group.add_argument(flag_name(field.name), **options)


def _recipe_key(field_name: str) -> str:
    return flag_name(field_name)[2:]


def _recipe_value(field: dataclasses.Field, value: Any, where: str) -> Any:
    """A recipe's value as the setting's type, or an error naming the key and what it expected."""
    kind = _TYPES[field.name]
    key = _recipe_key(field.name)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind in (tuple[str, ...], tuple[float, ...], tuple[float, float]):
        item = str if kind == tuple[str, ...] else float
        if isinstance(value, list) and all(isinstance(v, item) or (item is float and isinstance(v, int)
                                                                   and not isinstance(v, bool)) for v in value):
            return tuple(item(v) for v in value)
    elif isinstance(value, str):
        return value
    expected = {bool: "true or false", float: "a number", int: "a whole number", str: "a string",
                tuple[str, ...]: "a list of strings"}.get(kind, "a list of numbers")
    raise PipelineError(f"{where}: {key} = {value!r} is not {expected} ({flag_name(field.name)}: "
                        f"{field.metadata['help']})")


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib
    try:  # the same parser, before it joined the standard library
        import tomli
    except ImportError:
        raise PipelineError("--config needs a TOML reader: Python 3.11 or newer, or pip install tomli") from None
    return tomli


def read_recipe(path: Path, choices: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The settings a recipe file holds, by field name; an unknown key, a wrong type or a value outside
    the setting's choices (`choices` adds the registries' names, as for the flags) is an error that names
    the file and the key."""
    tomllib = _toml()
    try:
        table = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise PipelineError(f"--config {path}: cannot be read ({error.strerror or error})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PipelineError(f"--config {path}: not a TOML recipe ({error})") from None
    fields = {_recipe_key(field.name): field for field in setting_fields()}
    values = {}
    for key, value in table.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]}?" if close else "; keys are the flags' names without their dashes"
            raise PipelineError(f"--config {path}: {key!r} is not a setting{hint}")
        field = fields[key]
        values[field.name] = _recipe_value(field, value, f"--config {path}")
        allowed = (choices or {}).get(field.name) or field.metadata.get("choices")
        if allowed and values[field.name] not in allowed:
            raise PipelineError(f"--config {path}: {key} = {value!r} is not one of "
                                f"{', '.join(map(str, allowed))}")
    return values


def settings_from_args(args: argparse.Namespace, demo: bool = False, recipe: dict[str, Any] | None = None,
                       **overrides: Any) -> Settings:
    """Settings from the parsed flags over a recipe's values (`read_recipe`) over the defaults (the demo
    defaults with --demo); `overrides` are values the caller resolved itself."""
    values = {}
    for field in setting_fields():
        value = getattr(args, field.name, None)
        if value is None and recipe and field.name in recipe:
            value = recipe[field.name]
        if value is None and demo and field.metadata.get("demo_default") is not None:
            value = field.metadata["demo_default"]
        if value is not None:
            values[field.name] = value
    return Settings(**{**values, **overrides})


def _toml_value(value: Any) -> str:
    """A flat recipe's value in TOML: JSON's spelling of strings and numbers is TOML's too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)


def write_recipe(path: Path, settings: Settings) -> None:
    """The run's resolved settings as a recipe that `--config` reads back: every setting that shapes an
    output (not --workers, which only sets the pace), in --help's order; a setting without a value (None)
    is left out, as TOML has none."""
    lines = ["# The settings of the last finished run in this folder; rerun it with --config this-file."]
    for field in setting_fields():
        value = getattr(settings, field.name)
        if field.metadata.get("shapes_output", True) and value is not None:
            lines.append(f"{_recipe_key(field.name)} = {_toml_value(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        temp.write_text("\n".join(lines) + "\n")
