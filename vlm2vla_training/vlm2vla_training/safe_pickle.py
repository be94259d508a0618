"""Loading BridgeData pickles (``obs_dict.pkl``, ``policy_out.pkl``) without trusting them.

A pickle is a program: it names callables and calls them with arguments of its choosing. Refusing
every name but numpy's and a few builtins' (the allow-list) is not enough, because those names can
still be abused: an object-dtype array rebuilt from raw bytes holds forged pointers (numpy
dereferences them and the process dies with SIGSEGV), and ``bytearray(N)`` or an array's declared
shape allocates whatever a few bytes ask for. :class:`RestrictedUnpickler` therefore runs on the
pure-Python unpickler, whose opcodes it can intercept, and checks every call, state and memo
reference before numpy or Python acts on it:

- only plain numeric, bool and string dtypes (kinds ``biufcSU``); object dtypes, structured or
  subarray dtypes, and dtype states that differ from the dtype's own are refused;
- an array's bytes must be exactly its shape times its itemsize;
- everything a call allocates (bytes, bytearrays, arrays, sets) is charged to a budget of
  :data:`ALLOCATION_FACTOR` times the pickle's size plus :data:`ALLOCATION_SLACK`, checked before
  allocating, and so is every further reference to an array (a list of references to one array
  becomes that many copies once numpy converts it);
- items are only added to lists, dicts and sets, and only numpy's arrays and dtypes take a state.

Anything else raises :class:`UnsafePickleError`.
"""

from __future__ import annotations

import _codecs
import io
import math
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

ALLOCATION_FACTOR = 4
"""Bytes a pickle may allocate per byte of its own size (honest pickles need at most about 1)."""
ALLOCATION_SLACK = 64 * 1024
"""Bytes any pickle may allocate on top of ``ALLOCATION_FACTOR`` times its size."""

DTYPE_KINDS = "biufcSU"
"""Dtype kinds an array may have: bool, integers, floats, complex, bytes and unicode strings."""

# The pure-Python unpickler: unlike the C one, its opcodes can be intercepted (joblib does too).
_PyUnpickler = pickle._Unpickler
_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
_MAX_DIMS = 64
# numpy's pickle helpers, from whichever module this numpy keeps them in.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
# bytes() is called with no arguments only: protocols 0-2 pickle b"" (an empty array's data) so.
_BUILTINS = {
    "set": set,
    "frozenset": frozenset,
    "complex": complex,
    "slice": slice,
    "range": range,
    "bytearray": bytearray,
    "bytes": bytes,
}

# (module, name) pairs a Bridge pickle may reference: numpy array / dtype / scalar reconstruction
# under numpy 1.x (numpy.core) and 2.x (numpy._core) names, a few harmless builtins, and
# _codecs.encode, which protocol-2 pickles use to rebuild bytes from text.
_NAMES: dict[tuple[str, str], Any] = {
    **{
        (module, name): value
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name, value in (("_reconstruct", _RECONSTRUCT), ("scalar", _SCALAR))
    },
    **{
        (module, "_frombuffer"): _FROMBUFFER
        for module in ("numpy.core.numeric", "numpy._core.numeric")
    },
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _codecs.encode,
    **{
        (module, name): value
        for module in ("builtins", "__builtin__")
        for name, value in _BUILTINS.items()
    },
    ("__builtin__", "xrange"): range,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names or builds something other than plain arrays, scalars and containers."""


def allocation_budget(size: int) -> int:
    """Bytes a pickle of ``size`` bytes may allocate while it is loaded."""
    return ALLOCATION_FACTOR * size + ALLOCATION_SLACK


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` when it is a plain numeric, bool or string dtype; else UnsafePickleError."""
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"pickle gives {type(dtype).__name__} where a dtype belongs")
    if dtype.hasobject or dtype.kind == "O":
        raise UnsafePickleError(
            f"pickle builds dtype {dtype} holding Python objects; refusing it: an object array's "
            "items are pointers, which a pickle can forge"
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in DTYPE_KINDS:
        raise UnsafePickleError(
            f"pickle builds dtype {dtype}; only plain dtypes of kinds {DTYPE_KINDS!r} are allowed"
        )
    canonical = np.dtype(dtype.str)
    if (canonical, canonical.itemsize, canonical.alignment, canonical.flags) != (
        dtype,
        dtype.itemsize,
        dtype.alignment,
        dtype.flags,
    ):
        raise UnsafePickleError(f"pickle forges the layout or flags of dtype {dtype.str}")
    return dtype


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > _MAX_DIMS:
        raise UnsafePickleError(f"pickle gives {value!r:.80} where an array shape belongs")
    if not all(type(n) is int and n >= 0 for n in value):
        raise UnsafePickleError(f"pickle gives array shape {value!r:.80}")
    return value


def _raw_bytes(value: bytes | str) -> bytes:
    """Array or scalar data: bytes, or text as Python 2 pickles read with latin-1 give it."""
    return value.encode("latin1") if isinstance(value, str) else value


class RestrictedUnpickler(_PyUnpickler):
    """An unpickler that only rebuilds plain numpy arrays, numpy scalars and builtin containers.

    ``file`` is read whole; what the pickle may allocate is ``allocation_budget(size)`` unless
    ``budget`` says otherwise. Other keywords are those of :class:`pickle.Unpickler`.
    """

    dispatch: ClassVar[dict[int, Callable[..., None]]] = dict(_PyUnpickler.dispatch)

    def __init__(self, file: BinaryIO, *, budget: int | None = None, **kwargs: Any) -> None:
        data = file.read()
        super().__init__(io.BytesIO(data), **kwargs)
        self.size = len(data)
        self.budget = allocation_budget(self.size) if budget is None else budget
        self._left = self.budget
        # Arrays and dtypes this pickle made and has not given a state yet, by id.
        self._unbuilt: dict[int, Any] = {}
        self._calls: dict[int, Callable[[tuple], Any]] = {
            id(_RECONSTRUCT): self._reconstruct,
            id(_SCALAR): self._scalar,
            id(_FROMBUFFER): self._frombuffer,
            id(np.dtype): self._dtype,
            id(_codecs.encode): self._encode,
            id(bytearray): self._bytearray,
            id(bytes): lambda args: bytes(*_plain(args, (), 0)),
            id(set): lambda args: self._container(set, args),
            id(frozenset): lambda args: self._container(frozenset, args),
            id(OrderedDict): lambda args: self._container(OrderedDict, args),
            id(complex): lambda args: complex(*_plain(args, (int, float), 2)),
            id(slice): lambda args: slice(*_plain(args, (int, type(None)), 3)),
            id(range): lambda args: range(*_plain(args, (int,), 3)),
        }

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` only when it is on the allow-list (numpy dtypes included)."""
        value = _NAMES.get((module, name))
        if value is None and _is_numpy_scalar_type(module, name):
            value = getattr(np.dtypes if module == "numpy.dtypes" else np, name)
        if value is None:
            raise UnsafePickleError(
                f"pickle references {module}.{name}, which is not a numpy or builtin data type; "
                "refusing to load it (only arrays, numpy scalars and plain containers are allowed)"
            )
        return value

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` against the budget, or refuse ``what`` when they do not fit."""
        if nbytes > self._left:
            raise UnsafePickleError(
                f"pickle asks for {nbytes} bytes ({what}), more than a {self.size}-byte pickle "
                f"may allocate ({self.budget} bytes in all); refusing it"
            )
        self._left -= nbytes

    # --- the calls a pickle may make --------------------------------------------------------

    def call(self, func: Any, args: Any) -> Any:
        """``func(*args)`` after the checks of an allowed ``func``; anything else is refused."""
        check = self._calls.get(id(func))  # the callables are module globals: ids are theirs
        if check is None:
            raise UnsafePickleError(f"pickle calls {func!r:.80}, which only data may be built with")
        if not isinstance(args, tuple):
            raise UnsafePickleError(f"pickle calls {func!r:.80} with {type(args).__name__} args")
        return check(args)

    def _reconstruct(self, args: tuple) -> np.ndarray:
        if len(args) != 3 or args[0] is not np.ndarray:
            raise UnsafePickleError("pickle rebuilds an array with other arguments than numpy's")
        shape, dtype = _shape(args[1]), args[2]
        dtype = check_dtype(np.dtype(dtype) if isinstance(dtype, (str, bytes)) else dtype)
        self.charge(math.prod(shape) * dtype.itemsize, f"an empty array of shape {shape}")
        array = _RECONSTRUCT(np.ndarray, shape, dtype)
        self._unbuilt[id(array)] = array
        return array

    def _scalar(self, args: tuple) -> Any:
        if len(args) != 2:
            raise UnsafePickleError("pickle rebuilds a numpy scalar without (dtype, bytes)")
        dtype, data = check_dtype(args[0]), args[1]
        if not isinstance(data, (bytes, str)) or len(data) != dtype.itemsize:
            raise UnsafePickleError(f"pickle gives {data!r:.40} as the bytes of a {dtype} scalar")
        self.charge(dtype.itemsize, "a numpy scalar")
        return _SCALAR(dtype, _raw_bytes(data))

    def _frombuffer(self, args: tuple) -> np.ndarray:
        if (
            len(args) != 4
            or not isinstance(args[0], (bytes, bytearray))
            or args[3] not in ("C", "F")
        ):
            raise UnsafePickleError("pickle rebuilds an array from a buffer with odd arguments")
        buffer, dtype, shape, order = args[0], check_dtype(args[1]), _shape(args[2]), args[3]
        self._check_size(shape, dtype, len(buffer))
        self.charge(len(buffer), f"an array of shape {shape}")
        return _FROMBUFFER(buffer, dtype, shape, order)

    def _dtype(self, args: tuple) -> np.dtype:
        if not 1 <= len(args) <= 3 or not isinstance(args[0], (str, bytes)):
            raise UnsafePickleError("pickle builds a dtype from something other than its name")
        align = bool(args[1]) if len(args) > 1 else False
        # Always a copy: a state given to numpy's shared builtin dtype would change it everywhere.
        dtype = check_dtype(np.dtype(args[0], align, True))
        self._unbuilt[id(dtype)] = dtype
        return dtype

    def _encode(self, args: tuple) -> bytes:
        if len(args) != 2 or not isinstance(args[0], str) or str(args[1]).lower() not in _LATIN1:
            raise UnsafePickleError("pickle encodes text other than as latin-1 bytes")
        self.charge(len(args[0]), "bytes")
        return _codecs.encode(*args)

    def _bytearray(self, args: tuple) -> bytearray:
        if args == ():
            return bytearray()
        if len(args) == 1 and type(args[0]) is int:
            self.charge(args[0], f"bytearray({args[0]})")
            return bytearray(args[0])
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            self.charge(len(args[0]), "a bytearray")
            return bytearray(args[0])
        if len(args) == 2 and isinstance(args[0], str) and str(args[1]).lower() in _LATIN1:
            self.charge(len(args[0]), "a bytearray")
            return bytearray(args[0], "latin1")
        raise UnsafePickleError("pickle builds a bytearray from something other than bytes")

    def _container(self, kind: type, args: tuple) -> Any:
        """``set``, ``frozenset`` or ``OrderedDict`` of nothing or of a container already built."""
        if args == ():
            return kind()
        if len(args) != 1 or not isinstance(args[0], (list, tuple, set, frozenset, dict)):
            raise UnsafePickleError(f"pickle builds a {kind.__name__} from {args!r:.80}")
        self.charge(8 * len(args[0]), f"a {kind.__name__} of {len(args[0])} items")
        return kind(args[0])

    def _check_size(self, shape: tuple[int, ...], dtype: np.dtype, given: int) -> int:
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != given:
            raise UnsafePickleError(
                f"pickle declares an array of shape {shape} and dtype {dtype} ({nbytes} bytes) "
                f"but gives {given} bytes"
            )
        return nbytes

    # --- opcodes that call, set a state, add items or fetch from the memo ----------------------

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args)

    def _load_newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args)

    def _load_newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        if kwargs:
            raise UnsafePickleError("pickle creates an object with keyword arguments")
        self.stack[-1] = self.call(self.stack[-1], args)

    def _load_instantiate(self) -> None:
        raise UnsafePickleError("pickle instantiates a class (INST/OBJ), which data never needs")

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if self._unbuilt.pop(id(target), None) is not target:
            raise UnsafePickleError(
                f"pickle sets the state of a {type(target).__name__} it did not just create"
            )
        if isinstance(target, np.dtype):
            self._build_dtype(target, state)
        else:
            self._build_array(target, state)

    def _build_dtype(self, dtype: np.dtype, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata]):
        # only the byte order may differ from the dtype's own state.
        own = dtype.__reduce__()[2]
        if not (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and state[2:5] == (None, None, None)
            and state[5:8] == own[5:8]
            and (len(state) == 8 or state[8] is None)
        ):
            raise UnsafePickleError(f"pickle gives dtype {dtype.str} the state {state!r:.120}")
        dtype.__setstate__(state)
        check_dtype(dtype)

    def _build_array(self, array: np.ndarray, state: Any) -> None:
        # ([version,] shape, dtype, is_fortran, data), as numpy's ndarray.__setstate__ takes it.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError(f"pickle gives an array the state {state!r:.120}")
        version = state[0] if len(state) == 5 else 1
        shape, dtype, fortran, data = state[-4:]
        shape, dtype = _shape(shape), check_dtype(dtype)
        if type(version) is not int or not isinstance(fortran, (bool, int)):
            raise UnsafePickleError(f"pickle gives an array the state {state!r:.120}")
        if not isinstance(data, (bytes, str)):  # str: a Python 2 string read as latin-1
            raise UnsafePickleError(f"pickle gives {type(data).__name__} as an array's bytes")
        self.charge(self._check_size(shape, dtype, len(data)), f"an array of shape {shape}")
        array.__setstate__((version, shape, dtype, bool(fortran), _raw_bytes(data)))

    def _load_setitems(self, items: list) -> None:
        target = self.stack[-1]
        if not isinstance(target, dict):
            raise UnsafePickleError(f"pickle sets items of a {type(target).__name__}")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self._load_setitems([key, value])

    def _load_setitems_marked(self) -> None:
        self._load_setitems(self.pop_mark())

    def _load_appends(self, items: list) -> None:
        if type(self.stack[-1]) is not list:
            raise UnsafePickleError(f"pickle appends to a {type(self.stack[-1]).__name__}")
        self.stack[-1].extend(items)

    def _load_append(self) -> None:
        self._load_appends([self.stack.pop()])

    def _load_appends_marked(self) -> None:
        self._load_appends(self.pop_mark())

    def _load_additems(self) -> None:
        items = self.pop_mark()
        if type(self.stack[-1]) is not set:
            raise UnsafePickleError(f"pickle adds items to a {type(self.stack[-1]).__name__}")
        self.stack[-1].update(items)

    def _load_bytearray8(self) -> None:
        (length,) = struct.unpack("<Q", self.read(8))
        if length > self.size:  # checked before bytearray(length) allocates it
            raise UnsafePickleError(
                f"pickle declares a {length}-byte bytearray in {self.size} bytes"
            )
        data = bytearray(length)
        if self.readinto(data) != length:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(data)

    def _memo_fetched(self) -> None:
        fetched = self.stack[-1]
        if isinstance(fetched, np.ndarray):
            self.charge(fetched.nbytes, "another reference to an array")

    def _load_get(self) -> None:
        _PyUnpickler.load_get(self)
        self._memo_fetched()

    def _load_binget(self) -> None:
        _PyUnpickler.load_binget(self)
        self._memo_fetched()

    def _load_long_binget(self) -> None:
        _PyUnpickler.load_long_binget(self)
        self._memo_fetched()

    for _opcode, _handler in (
        (pickle.REDUCE, _load_reduce),
        (pickle.NEWOBJ, _load_newobj),
        (pickle.NEWOBJ_EX, _load_newobj_ex),
        (pickle.INST, _load_instantiate),
        (pickle.OBJ, _load_instantiate),
        (pickle.BUILD, _load_build),
        (pickle.SETITEM, _load_setitem),
        (pickle.SETITEMS, _load_setitems_marked),
        (pickle.APPEND, _load_append),
        (pickle.APPENDS, _load_appends_marked),
        (pickle.ADDITEMS, _load_additems),
        (pickle.BYTEARRAY8, _load_bytearray8),
        (pickle.GET, _load_get),
        (pickle.BINGET, _load_binget),
        (pickle.LONG_BINGET, _load_long_binget),
    ):
        dispatch[_opcode[0]] = _handler
    del _opcode, _handler


def _plain(args: tuple, types: tuple[type, ...], most: int) -> tuple:
    if len(args) > most or not all(isinstance(a, types) for a in args):
        raise UnsafePickleError(f"pickle calls a builtin with {args!r:.80}")
    return args


def _is_numpy_scalar_type(module: str, name: str) -> bool:
    """True for numpy scalar types (``numpy.float32``...) and dtype classes (``numpy.dtypes.*``).

    They may be named (as values), never called.
    """
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
    with Path(path).open("rb") as file:
        return RestrictedUnpickler(file, encoding="latin1").load()
