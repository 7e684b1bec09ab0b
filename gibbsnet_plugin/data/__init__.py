"""Built-in data sets and the data-set registry (``gibbsnet.datasets`` entry points).

A data-set factory is ``build(root: str, train: bool, **options) -> torch.utils.data.Dataset``
whose items are ``x`` or ``(x, y)``: x a float tensor of one fixed shape (images C×H×W in [-1, 1]),
y an int label. ``grid25`` and ``ring8`` are 2-D points in their papers' units (see ``mixtures``).
"""

from gibbsnet_plugin.registry import DATASETS

names = DATASETS.names
get = DATASETS.get
build = DATASETS.build
entries = DATASETS.entries
register = DATASETS.register

# The built-ins register themselves when ``DATASETS`` imports their modules, on first use (see
# ``registry``); torchvision's data sets import torchvision only then.
