"""Deep nets in the SDE view of SGD: torch models and data as oracles of :mod:`sdesim.sgd`.

Needs the ``torch`` extra (and ``digits`` for :func:`digits`); ``import sdesim`` does not import
this package.

- :class:`TorchOracle`: an ``nn.Module``, a per-example loss and data as a loss oracle,
  vectorised over many copies of the net with ``torch.func.vmap`` (docs/network.md);
- :func:`digits`, :func:`digits_mlp`, :func:`digits_cnn`: scikit-learn's bundled digits and
  small GroupNorm nets for them;
- :func:`batchnorm_layers`: the layers that break per-example independence;
- :func:`to_torchsde`, :func:`from_torchsde`: torchsde interop (Itô, same noise kind).
"""
from .data import Digits, digits
from .nets import digits_cnn, digits_mlp
from .interop import from_torchsde, to_torchsde
from .oracle import TorchOracle, batchnorm_layers

__all__ = ["TorchOracle", "batchnorm_layers", "Digits", "digits", "digits_mlp", "digits_cnn",
           "to_torchsde", "from_torchsde"]
