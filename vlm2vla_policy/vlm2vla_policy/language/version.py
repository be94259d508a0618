"""The version of the text format the model reads and writes.

An adapter records the version it was trained with; the runtime calls
:func:`check_format_version` before using it. Bump :data:`FORMAT_VERSION` whenever a prompt
template, an answer syntax, the plan vocabulary or a default of the language config changes in a
way that a model trained on the old text would notice.
"""

from __future__ import annotations

from vlm2vla_policy.language.errors import ErrorKind, FormatVersionError

FORMAT_VERSION: int = 2
"""Version of every prompt and answer format defined in :mod:`vlm2vla_policy.language`."""

SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1, 2)
"""Versions this library can read and write."""

FREE_PLANS_SINCE: int = 2
"""First version with free-form plans (``PlanConfig.style``); version 1 had vocabulary plans
only, so a version-1 language config without a plan style reads as ``vocabulary``."""


def check_format_version(found: object) -> int:
    """Return ``found`` as an int if this library speaks that format version, else raise.

    Raises :class:`FormatVersionError` when ``found`` is not an integer version or is one this
    library does not support (an adapter trained with another release of the language module).
    """
    if isinstance(found, bool) or not isinstance(found, (int, str)):
        raise FormatVersionError(
            ErrorKind.VERSION,
            f"format version {found!r} is not an integer; record FORMAT_VERSION from "
            "vlm2vla_policy.language in the adapter metadata",
        )
    try:
        version = int(found)
    except ValueError:
        raise FormatVersionError(
            ErrorKind.VERSION,
            f"format version {found!r} is not an integer; record FORMAT_VERSION from "
            "vlm2vla_policy.language in the adapter metadata",
        ) from None
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise FormatVersionError(
            ErrorKind.VERSION,
            f"the adapter was trained with language format {version}, this library speaks "
            f"{list(SUPPORTED_FORMAT_VERSIONS)}; install the vlm2vla_policy release that "
            "matches the adapter or retrain it",
        )
    return version
