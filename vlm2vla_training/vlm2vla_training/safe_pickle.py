"""Loading BridgeData pickles (``obs_dict.pkl``, ``policy_out.pkl``) without trusting them.

BridgeData is a trusted local dataset, but a pickle can name any importable callable. This
unpickler resolves only the numpy and builtin names needed to rebuild arrays, numpy scalars and
plain containers; any other name raises :class:`UnsafePickleError` instead of being imported.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

# (module, name) pairs a Bridge pickle may reference: numpy array / dtype / scalar reconstruction
# under numpy 1.x (numpy.core) and 2.x (numpy._core) names, a few harmless builtins, and
# _codecs.encode, which protocol-2 pickles use to rebuild bytes from text.
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        *(
            (module, name)
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ),
        *((module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),
        *(
            ("builtins", name)
            for name in ("set", "frozenset", "complex", "slice", "range", "bytearray")
        ),
        *(("__builtin__", name) for name in ("set", "frozenset", "complex", "slice")),
    ]
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something other than numpy arrays and builtin containers."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, numpy scalars and builtin containers."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` only when it is on the allow-list (numpy dtypes included)."""
        if (module, name) in _ALLOWED or _is_numpy_scalar_type(module, name):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"pickle references {module}.{name}, which is not a numpy or builtin data type; "
            "refusing to load it (only arrays, numpy scalars and plain containers are allowed)"
        )


def _is_numpy_scalar_type(module: str, name: str) -> bool:
    """True for numpy scalar types (``numpy.float32``...) and dtype classes (``numpy.dtypes.*``)."""
    import numpy as np

    if module == "numpy":
        candidate = getattr(np, name, None)
        return isinstance(candidate, type) and issubclass(candidate, np.generic)
    if module == "numpy.dtypes":
        candidate = getattr(np.dtypes, name, None)
        return isinstance(candidate, type) and issubclass(candidate, np.dtype)
    return False


def load_pickle(path: Path) -> Any:
    """Load ``path`` with :class:`RestrictedUnpickler` (Python 2 pickles read as latin-1).

    Raises ``OSError`` when the file cannot be read, ``pickle.UnpicklingError`` (including
    :class:`UnsafePickleError`), ``EOFError`` or ``ValueError`` when it is truncated or corrupt.
    """
    data = Path(path).read_bytes()
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
