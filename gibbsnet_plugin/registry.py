"""Name -> factory registries for architectures, data sets, corruptions, chain kinds and
metrics, and entry-point discovery.

Built-ins register with a decorator; third-party packages through the entry-point groups
``gibbsnet.architectures``, ``gibbsnet.datasets``, ``gibbsnet.corruptions``,
``gibbsnet.chains`` and ``gibbsnet.metrics``. Discovery is lazy:
entry points are listed on first use, and a plugin is imported only when its name is used
(``get``/``build``) or every entry is listed (``entries``). A plugin that fails to import is
reported, never fatal; a plugin whose name is already built in is refused with a warning.
``GIBBSNET_DISABLE_PLUGIN_AUTOLOAD=1`` turns discovery off.
"""

from __future__ import annotations

import difflib
import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from gibbsnet_plugin.errors import GibbsnetError, PluginLoadError, UnknownNameError

F = TypeVar("F", bound=Callable[..., Any])

BUILTIN = "built-in"
DISABLE_ENV = "GIBBSNET_DISABLE_PLUGIN_AUTOLOAD"


class PluginWarning(UserWarning):
    """A plugin was refused (name collision) or could not be listed."""


@dataclass(frozen=True)
class Entry:
    """One row of ``gibbsnet plugins``: a registered name and where it comes from."""

    name: str
    kind: str
    source: str
    error: str | None = None


@dataclass
class _Plugin:
    entry_point: metadata.EntryPoint
    source: str
    factory: Callable[..., Any] | None = None
    error: str | None = None


def did_you_mean(name: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _source_of(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return f"entry point {ep.value}"
    return f"{dist.metadata['Name']} {dist.version}"


class Registry(Generic[F]):
    """Factories of one kind keyed by name: built-ins first, then plugins from ``group``.

    ``index`` names the built-ins and the module whose import registers each (with the
    ``register`` decorator): names are listed without importing anything, and a module is
    imported when one of its names is used.
    """

    def __init__(self, kind: str, group: str, index: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self.index = dict(index or {})
        self._builtins: dict[str, F] = {}
        self._plugins: dict[str, _Plugin] | None = None
        self._refused: list[Entry] = []

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator that registers a built-in factory under ``name``."""

        def decorator(factory: F) -> F:
            if name in self._builtins:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builtins[name] = factory
            return factory

        return decorator

    def _discover(self) -> dict[str, _Plugin]:
        if self._plugins is not None:
            return self._plugins
        self._plugins = {}
        if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
            return self._plugins
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            source = _source_of(ep)
            if ep.name in self._builtins or ep.name in self.index or ep.name in self._plugins:
                owner = BUILTIN if ep.name not in self._plugins else self._plugins[ep.name].source
                reason = f"refused: the name is already taken by {owner}"
                warnings.warn(
                    f"plugin {self.kind} '{ep.name}' from {source} is refused: "
                    f"the name is already taken by {owner}, which is kept",
                    PluginWarning,
                    stacklevel=2,
                )
                self._refused.append(Entry(ep.name, self.kind, source, reason))
                continue
            self._plugins[ep.name] = _Plugin(ep, source)
        return self._plugins

    def _load(self, plugin: _Plugin) -> None:
        if plugin.factory is not None or plugin.error is not None:
            return
        try:
            factory = plugin.entry_point.load()
        except SystemExit as exc:  # a plugin that exits on import must not end the caller
            plugin.error = f"it called sys.exit({exc.code!r}) while being imported"
            return
        except Exception as exc:  # a broken plugin must never break the caller
            plugin.error = f"{type(exc).__name__}: {exc}"
            return
        if not callable(factory):
            plugin.error = f"entry point {plugin.entry_point.value} is not callable"
            return
        plugin.factory = factory

    def names(self) -> list[str]:
        """Every usable name, built-in or plugin, sorted; imports no plugin."""
        plugins = self._discover()
        return sorted(set(self._builtins) | set(self.index) | set(plugins))

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def get(self, name: str) -> F:
        """The factory registered as ``name``, importing its plugin if needed.

        Raises:
            UnknownNameError: ``name`` is not registered (the message lists the known names).
            PluginLoadError: ``name`` comes from a plugin that failed to import.
        """
        plugin = self._discover().get(name)
        if name in self.index and name not in self._builtins:
            importlib.import_module(self.index[name])  # its decorator registers the name
        if name in self._builtins:
            return self._builtins[name]
        if plugin is None:
            known = self.names()
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, known)} "
                f"(known: {', '.join(known) or 'none'})"
            )
        self._load(plugin)
        if plugin.factory is None:
            raise PluginLoadError(
                f"{self.kind} '{name}' comes from the plugin {plugin.source} "
                f"({plugin.entry_point.value}), which failed to load: {plugin.error}"
            )
        return plugin.factory  # type: ignore[return-value]

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with the given arguments.

        Raises:
            PluginLoadError: a plugin's factory failed with anything but ``ValueError`` or
                ``TypeError`` (which mean bad options, for the caller to name) or a
                ``GibbsnetError``; the message names the plugin.
        """
        factory = self.get(name)
        try:
            return factory(*args, **kwargs)
        except (ValueError, TypeError, GibbsnetError):
            raise
        except Exception as exc:
            if name in self._builtins:
                raise
            plugin = self._discover()[name]
            raise PluginLoadError(f"{self.kind} '{name}' from the plugin {plugin.source} failed to "
                                  f"build: {type(exc).__name__}: {exc}") from None

    def entries(self) -> list[Entry]:
        """Every built-in, plugin and refused plugin, importing plugins to report broken ones."""
        plugins = self._discover()
        rows = [Entry(name, self.kind, BUILTIN) for name in sorted({*self._builtins, *self.index})]
        for name, plugin in sorted(plugins.items()):
            self._load(plugin)
            rows.append(Entry(name, self.kind, plugin.source, plugin.error))
        return rows + self._refused


def _index(*rows: tuple[str, ...]) -> dict[str, str]:
    """A registry's ``index`` from one row ``(module, *names)`` per built-in module (``module``
    under ``gibbsnet_plugin``, ``names`` in the order it registers them). ``tests/test_registry.py``
    imports every module of the package and fails, naming the row to write, when a row differs
    from what its module registers."""
    return {name: f"gibbsnet_plugin.{module}" for module, *names in rows for name in names}


ARCHITECTURES: Registry[Callable[..., Any]] = Registry("architecture", "gibbsnet.architectures", _index(
    ("architectures.conv", "conv8", "conv28", "conv32"),
    ("architectures.energy", "energy"),
    ("architectures.mlp", "mlp"),
    ("architectures.rbm", "rbm"),
))
DATASETS: Registry[Callable[..., Any]] = Registry("dataset", "gibbsnet.datasets", _index(
    ("data.digits", "digits"),
    ("data.folder", "folder"),
    ("data.mixtures", "grid25", "ring8"),
    ("data.mnist5k", "mnist5k"),
    ("data.tables", "table"),
    ("data.torchvision_sets", "mnist", "svhn", "cifar10"),
))
CORRUPTIONS: Registry[Callable[..., Any]] = Registry("corruption", "gibbsnet.corruptions", _index(
    ("corruptions", "noise", "blur", "downsample", "drop"),
))
CHAINS: Registry[Callable[..., Any]] = Registry("chain kind", "gibbsnet.chains", _index(
    ("chains", "gibbsnet", "hali"),
))
METRICS: Registry[Callable[..., Any]] = Registry("metric", "gibbsnet.metrics", _index(
    ("metrics.critic", "critic"),
    ("metrics.fid", "fid", "fidelity"),
    ("metrics.latent_maps", "tsne"),
    ("metrics.likelihood", "loglik"),
    ("metrics.modes", "modes"),
    ("metrics.probe", "probe"),
    ("metrics.scores", "reconstruction", "inpainting", "imputation", "coverage"),
))


REGISTRIES = (ARCHITECTURES, DATASETS, CORRUPTIONS, CHAINS, METRICS)


def plugin_entries() -> list[Entry]:
    """Every name of every registry: built in (listed without importing them), from plugins
    (imported, so that broken ones are reported) and refused plugins; for ``gibbsnet plugins``."""
    return [entry for registry in REGISTRIES for entry in registry.entries()]
