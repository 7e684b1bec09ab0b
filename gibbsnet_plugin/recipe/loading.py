"""Reading recipes: YAML files (UTF-8, no aliases, bounded size), ``KEY=VALUE`` overrides, and
coercion of every value to its schema type with ``file:line`` messages.

Every problem is reported before any work starts, as a ``RecipeError`` that names the key path
(``model.chain_step: unknown key; did you mean chain_steps?``), the file and line where the key
stands, and the closest valid key or registered name.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.recipe.checks import check_values
from gibbsnet_plugin.recipe.schema import Recipe
from gibbsnet_plugin.registry import did_you_mean
from gibbsnet_plugin.utils import SHOWN, short


class _Where:
    """Maps key paths to ``file:line`` for messages; overridden keys to ```overrides``` (the
    command line's ``--set``)."""

    def __init__(self, source: str, lines: dict[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.overridden: set[str] = set()

    def __call__(self, path: str) -> str:
        path = re.sub(r"\[\d+\]$", "", path)
        if any(key == path or key.startswith(path + ".") for key in self.overridden):
            return "`overrides` "
        while path:
            if path in self.overridden:
                return "`overrides` "
            if path in self.lines:
                return f"{self.source}:{self.lines[path]}: "
            path = path.rpartition(".")[0]
        return f"{self.source}: "


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}{key.value}"
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path + "."))
    return lines


MAX_RECIPE_BYTES = 1 << 20
"""A recipe file larger than this (1 MiB) is refused before it is parsed."""
class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (``*name``): they are the way to a "billion laughs"
    document or a recursive value, and a recipe has no need for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "recipes may not use YAML aliases (*name); write the value out",
                self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """(``:line`` or "", the problem) of a PyYAML error."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return (f":{mark.line + 1}" if mark else ""), (exc.problem or exc.context or "invalid YAML")
    return "", (str(exc).splitlines() or ["invalid YAML"])[0]


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.chain_steps=5"`` -> ``("model.chain_steps", 5)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"`overrides` {short(text)}: expected KEY=VALUE, e.g. model.chain_steps=5")
    if not key.isprintable() or len(key) > 200 or any(c.isspace() for c in key):
        raise RecipeError(f"`overrides` {short(key)}: a key is names joined by dots, without spaces or "
                          "control characters, e.g. model.chain_steps")
    if "\0" in raw:
        raise RecipeError(f"`overrides` {short(key)}: the value contains a NUL character")
    try:
        value = yaml.load(raw, Loader=_RecipeLoader) if raw.strip() else ""
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)[1]
        raise RecipeError(f"`overrides` {short(key)}: the value {short(raw)} is not valid YAML "
                          f"({problem})") from None
    except (ValueError, RecursionError):
        raise RecipeError(f"`overrides` {short(key)}: the value {short(raw)} is too long or too deeply "
                          "nested to read") from None
    return key, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], set[str]]:
    """A copy of ``raw`` with each ``KEY=VALUE`` applied; also the set of key paths overridden."""
    raw = copy.deepcopy(raw)
    touched: set[str] = set()
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise RecipeError(f"`overrides` {key}: {prefix} is a value, not a section")
            node = child
        node[parts[-1]] = value
        touched.add(key)
    return raw, touched


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(map(str, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in get_args(tp))
    if origin is list:
        return f"a list, each {_type_name(get_args(tp)[0])}"
    if origin in (list, tuple):
        args = get_args(tp)
        return f"a list of {len(args)} numbers" if origin is tuple else "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _coerce(value: Any, tp: Any, path: str, where: _Where) -> Any:
    """``value`` checked against the annotation ``tp``; RecipeError naming ``path`` otherwise."""

    def fail(extra: str = "") -> RecipeError:
        return RecipeError(
            f"{where(path)}{path}: expected {_type_name(tp)}, got {short(value)}{extra}"
        )

    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise fail(did_you_mean(str(value), [str(c) for c in choices]))
        return value
    if tp is type(None):
        if value is not None:
            raise fail()
        return None
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(value, arg, path, where)
            except RecipeError:
                continue
        raise fail()
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise fail()
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_coerce(v, a, f"{path}[{i}]", where) for i, (v, a) in pairs)
    if origin is list:
        if not isinstance(value, list):
            raise fail()
        (item,) = get_args(tp)
        return [_coerce(v, item, f"{path}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise fail()
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if tp is float:
        # PyYAML reads 1e-4 (no dot) as a string: accept any string that is a float.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail()
        return value
    raise TypeError(f"unsupported recipe annotation {tp!r} at {path}")


def _build(cls: type, raw: Any, path: str, where: _Where) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{where(path)}{path or 'recipe'}: expected a mapping of keys, got {short(raw)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            name = key if isinstance(key, str) and key.isprintable() and len(key) <= SHOWN else short(key)
            full = f"{path}.{name}" if path else name
            raise RecipeError(
                f"{where(full)}{full}: unknown key{did_you_mean(str(key), list(fields))}"
                f" (valid keys{' of ' + path if path else ''}: {', '.join(fields)})"
            )
    kwargs = {}
    for name, f in fields.items():
        full = f"{path}.{name}" if path else name
        tp = hints[name]
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(f"{where(path)}{full}: missing required key")
            continue
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], full, where)
        else:
            kwargs[name] = _coerce(raw[name], tp, full, where)
    return cls(**kwargs)


def recipe_from_dict(
    raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (), source: str = "recipe",
    lines: dict[str, int] | None = None, default_name: str | None = None,
) -> Recipe:
    """Validate a raw mapping (plus ``KEY=VALUE`` overrides) into a ``Recipe``."""
    where = _Where(source, lines or {})
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    raw, touched = apply_overrides(raw, list(overrides))
    where.overridden = touched
    if "name" not in raw and default_name:
        raw["name"] = default_name
    recipe = _build(Recipe, raw, "", where)
    check_values(recipe, where)
    return recipe


def shipped_recipe(name: str) -> Path:
    """The file of a recipe shipped with the package (``recipes/NAME.yaml`` of the source tree,
    installed as package data), e.g. ``shipped_recipe("table")``.

    Raises:
        RecipeError: no shipped recipe of that name, listing those there are.
    """
    try:
        shipped = {f.name[:-5]: f for f in files("gibbsnet_plugin.recipes").iterdir()
                   if f.name.endswith(".yaml")}
    except ModuleNotFoundError:  # a source checkout: the package next to recipes/
        shipped = {f.stem: f for f in (Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml")}
    if name not in shipped:
        raise RecipeError(f"no shipped recipe '{name}' (there are {', '.join(sorted(shipped))})"
                          f"{did_you_mean(name, list(shipped))}")
    return Path(str(shipped[name]))


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override and validate a YAML recipe; a missing ``name`` defaults to the file stem.

    Raises:
        RecipeError: missing file, YAML syntax error (with its line), unknown key, wrong type,
            unknown registry name or out-of-range value.
    """
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path}: {path.stat().st_size:,} bytes; a recipe is a small YAML "
                              f"file (at most {MAX_RECIPE_BYTES:,} bytes)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory; expected a recipe file (.yaml)") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror})") from None
    text = _recipe_text(path, data)
    try:
        raw = yaml.load(text, Loader=_RecipeLoader)
        lines = _key_lines(_RecipeLoader(text).get_single_node())
    except yaml.YAMLError as exc:
        line, problem = _yaml_problem(exc)
        raise RecipeError(f"{path}{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise RecipeError(f"{path}: invalid YAML: nested too deeply") from None
    except ValueError:  # int() of a number longer than Python reads (4300 digits)
        raise RecipeError(f"{path}: invalid YAML: a number too long to read") from None
    if raw is None:
        raise RecipeError(f"{path}: the recipe is empty")
    return recipe_from_dict(raw, overrides, source=str(path), lines=lines, default_name=path.stem)


def _recipe_text(path: Path, data: bytes) -> str:
    """The text of a recipe file: UTF-8 (a byte-order mark is allowed), no NUL characters."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RecipeError(f"{path}: the recipe is UTF-16 text; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); a recipe is a YAML "
                          "text file saved as UTF-8") from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise RecipeError(f"{path}:{line}: a NUL character; a recipe is a YAML text file, not a "
                          "binary one")
    return text
