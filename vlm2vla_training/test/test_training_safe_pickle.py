"""The restricted unpickler against forged Bridge pickles: crashes, memory bombs, bad shapes.

Forged pickles are loaded in child processes, so a segfault shows as a negative return code and an
allocation is measured (tracemalloc peak) without growing the test process.
"""

import io
import json
import pickle
import re
import struct
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

from vlm2vla_training import synthetic
from vlm2vla_training.safe_pickle import (
    RestrictedUnpickler,
    UnsafePickleError,
    allocation_budget,
    load_pickle,
)
from vlm2vla_training.store import EpisodeStore

GiB = 1 << 30

# The pickle: only allow-listed names, but an object dtype over raw bytes, so numpy reads
# 0x4141414141414141 as pointers (SIGSEGV under the unrestricted or name-only unpickler).
FORGED_OBJECT_ARRAY = pickle.dumps(
    {"state": np.full((13, 7), 0x4141414141414141, np.int64)}, protocol=2
).replace(b"i8", b"O8")
# The same array with an int64 dtype whose state sets numpy's object flags (63): no "O" in sight.
_INT_STATE = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
FORGED_DTYPE_FLAGS = pickle.dumps(
    {"state": np.full((13, 7), 0x4141414141414141, np.int64)}, protocol=2
).replace(_INT_STATE, _INT_STATE[:-3] + b"K?t")


class _Call:
    """Pickles as ``func(*args)``, for writing the pickles an attacker would write."""

    def __init__(self, func, *args):
        self.reduced = (func, args)

    def __reduce__(self):
        return self.reduced


BYTEARRAY_BOMB = pickle.dumps(_Call(bytearray, GiB), protocol=3)
# numpy's own _reconstruct(ndarray, (0,), b"b") with the empty shape made 1 GiB long.
RECONSTRUCT_BOMB = pickle.dumps(np.zeros(0, np.int8), protocol=2).replace(
    b"K\x00\x85", b"J" + struct.pack("<i", GiB) + b"\x85", 1
)
# Protocol 5's BYTEARRAY8 declaring 1 GiB of data that the file does not hold.
BYTEARRAY8_BOMB = b"\x80\x05\x96" + struct.pack("<Q", GiB) + b"."
# A 14 x 7 array whose state declares 200 x 7 (numpy would notice; the unpickler must first).
SHAPE_EXCEEDS_BYTES = pickle.dumps(np.zeros((2, 7)), protocol=2).replace(
    b"K\x02K\x07\x86", b"K\xc8K\x07\x86"
)
# 20,000 references to one 8 kB array: 160 MB once numpy converts the list, from a 48 kB file.
SHARED_ARRAY = pickle.dumps([np.zeros(1000)] * 20_000, protocol=2)
# A Python 2 numpy pickle (SHORT_BINSTRING data, numpy.core names), read as latin-1 text.
_PY2_DATA = np.arange(14.0).reshape(2, 7).tobytes()
PY2_PICKLE = (
    b"\x80\x02}q\x00U\nfull_stateq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\n"
    b"q\x03K\x00\x85U\x01b\x87Rq\x04(K\x01K\x02K\x07\x86cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R"
    b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89Up" + _PY2_DATA + b"tbs."
)

FORGED = {
    "object_array": FORGED_OBJECT_ARRAY,
    "dtype_flags": FORGED_DTYPE_FLAGS,
    "object_list_array": pickle.dumps(np.array([None, 1], dtype=object), protocol=2),
    "structured_object_field": pickle.dumps(np.zeros(2, dtype=[("a", "O")]), protocol=2),
    "bytearray_bomb": BYTEARRAY_BOMB,
    "reconstruct_bomb": RECONSTRUCT_BOMB,
    "bytearray8_bomb": BYTEARRAY8_BOMB,
    "shape_exceeds_bytes": SHAPE_EXCEEDS_BYTES,
    "shared_array": SHARED_ARRAY,
}
BOMBS = ("bytearray_bomb", "reconstruct_bomb", "bytearray8_bomb", "shared_array")

# Loads the pickle named on the command line; prints one JSON line: the error (type and message,
# or None), the file size and the tracemalloc peak of loading it, bytes.
_CHILD = """
import json, resource, sys, tracemalloc
from pathlib import Path
from vlm2vla_training.safe_pickle import load_pickle
path = Path(sys.argv[1])
tracemalloc.start()
try:
    load_pickle(path)
    error = None
except Exception as exc:
    error = [type(exc).__name__, str(exc)]
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"error": error, "size": path.stat().st_size, "peak": peak,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Each FORGED pickle loaded by its own child process: name -> error, size, peak."""
    root = tmp_path_factory.mktemp("forged")
    results = {}
    for name, data in FORGED.items():
        path = root / f"{name}.pkl"
        path.write_bytes(data)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        results[name] = (
            json.loads(child.stdout)
            if child.returncode == 0
            else {"error": ["died", f"return code {child.returncode}"], "size": len(data)}
        )
    return results


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("object_array", "holding Python objects"),
        ("dtype_flags", "gives dtype <i8 the state"),
        ("object_list_array", "holding Python objects"),
        ("structured_object_field", "dtype"),
        ("shape_exceeds_bytes", r"declares an array of shape (200, 7)"),
    ],
)
def test_forged_arrays_are_refused_without_crashing(loaded, name, reason):
    assert loaded[name]["error"] is not None, loaded[name]
    error_type, message = loaded[name]["error"]
    assert error_type == "UnsafePickleError" and reason in message, message


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_before_allocating(loaded, name):
    result = loaded[name]
    assert result["error"] is not None and result["error"][0] == "UnsafePickleError", result
    # tracemalloc sees numpy's and Python's allocations; 1 GiB was asked for (160 MB shared)
    assert result["peak"] <= allocation_budget(result["size"]), result


def test_bytearray_bomb_stays_within_a_small_multiple_of_its_size(loaded):
    result = loaded["bytearray_bomb"]
    assert result["error"] is not None, result
    assert result["size"] < 40 and "bytearray(1073741824)" in result["error"][1]
    assert result["peak"] <= allocation_budget(result["size"]) < 100 * 1024


def test_honest_pickles_of_every_protocol_load_as_pickle_does():
    values = {
        "matrix": np.arange(12.0).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "big_endian": np.arange(5, dtype=">i4"),
        "text": np.array(["ab", "cde"]),
        "bytes": np.array([b"x", b"yz"]),
        "flags": np.array([True, False]),
        "complex": np.array([1 + 2j]),
        "half": np.float16([1, 2]),
        "empty": np.zeros((0, 7)),
        "zero_d": np.array(3.5),
        "strided": np.arange(10)[::2],
        "scalars": [np.float64(1.5), np.int32(3), np.bool_(True), np.str_("hi")],
        "containers": (OrderedDict(a=1), {1, 2}, frozenset([3]), 1j, slice(1, 2), range(3)),
        "raw": (bytearray(b"abc"), b"xyz", b""),
    }
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(values, protocol=protocol)
        expected = pickle.loads(data)
        loaded = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        for key, value in expected.items():
            if isinstance(value, np.ndarray):
                assert loaded[key].dtype == value.dtype, (protocol, key)
                np.testing.assert_array_equal(loaded[key], value)
            else:
                assert loaded[key] == value, (protocol, key)
                assert list(map(type, loaded[key])) == list(map(type, value)), (protocol, key)


def test_python2_numpy_pickle_loads(tmp_path):
    path = tmp_path / "obs_dict.pkl"
    path.write_bytes(PY2_PICKLE)
    np.testing.assert_array_equal(load_pickle(path)["full_state"], np.arange(14.0).reshape(2, 7))


def test_only_lists_dicts_and_sets_take_items_and_calls_are_checked():
    appends_to_bytearray = b"\x80\x03cbuiltins\nbytearray\n)R(K\x01K\x02e."
    with pytest.raises(UnsafePickleError, match="appends to a bytearray"):
        RestrictedUnpickler(io.BytesIO(appends_to_bytearray)).load()
    calls_scalar_type = pickle.dumps(_Call(np.bytes_, GiB), protocol=2)
    with pytest.raises(UnsafePickleError, match="pickle calls"):
        RestrictedUnpickler(io.BytesIO(calls_scalar_type)).load()


def test_nested_rows_are_refused_before_numpy_expands_them(tmp_path):
    from vlm2vla_training.episode import EpisodeError
    from vlm2vla_training.readers.bridge_raw import read_policy_out

    row = [0.0] * 7
    (tmp_path / "policy_out.pkl").write_bytes(pickle.dumps([[row] * 30] * 30, protocol=2))
    with pytest.raises(EpisodeError, match="not a list of rows"):
        read_policy_out(tmp_path)


def _convert(bridge, store):
    argv = ["convert", "--reader", "bridge_raw", "--input", str(bridge), "--store", str(store)]
    done = subprocess.run(
        [sys.executable, "-m", "vlm2vla_training.cli", *argv, "--quiet"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = store / "reports" / "convert-bridge_raw.json"
    return done, json.loads(report.read_text()) if report.is_file() else None


def test_convert_reports_the_forged_episode_and_converts_the_others(tmp_path):
    dirs = synthetic.write_bridge_raw(
        tmp_path / "bridge", 4, seed=3, config=synthetic.SyntheticConfig(num_steps=10)
    )
    (dirs[1] / "obs_dict.pkl").write_bytes(FORGED_OBJECT_ARRAY)
    (dirs[2] / "policy_out.pkl").write_bytes(BYTEARRAY_BOMB)
    store = tmp_path / "store"
    for run in ("first", "rerun"):
        done, report = _convert(tmp_path / "bridge", store)
        # a crash would be a negative return code (the signal) and no report
        assert done.returncode == 0, (run, done.returncode, done.stderr[-2000:])
        assert report is not None, run
        skipped = {s["item"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
        assert set(skipped) == {"traj1", "traj2"}, (run, report["skipped"])
        assert "obs_dict.pkl cannot be read" in skipped["traj1"]
        assert "holding Python objects" in skipped["traj1"]
        assert "policy_out.pkl cannot be read" in skipped["traj2"]
        assert "bytearray(1073741824)" in skipped["traj2"]
        converted = report["done"] if run == "first" else report["already_done"]
        assert sorted(re.split("[-/]", c)[-1] for c in converted) == ["traj0", "traj3"], run
    assert len(EpisodeStore(store).episode_ids()) == 2
