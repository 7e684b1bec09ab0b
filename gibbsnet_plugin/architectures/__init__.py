"""Built-in architectures and the architecture registry (``gibbsnet.architectures`` entry points).

An architecture factory is ``build(x_shape: tuple[int, ...], z_dim: int, **options) ->
Architecture``; ``options`` are the recipe's ``model.options``. For a list ``z_dim`` (a latent
hierarchy) it returns a ``Hierarchy`` or refuses the list with a ``ValueError``.
"""

from gibbsnet_plugin.architectures.base import Architecture, Hierarchy
from gibbsnet_plugin.registry import ARCHITECTURES

names = ARCHITECTURES.names
get = ARCHITECTURES.get
build = ARCHITECTURES.build
entries = ARCHITECTURES.entries
register = ARCHITECTURES.register

from gibbsnet_plugin.architectures import conv, energy, mlp, rbm  # noqa: E402,F401  (registers the built-ins)

__all__ = ["Architecture", "Hierarchy", "build", "entries", "get", "names", "register"]
