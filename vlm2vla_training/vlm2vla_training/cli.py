"""``vlm2vla-train``: the training pipeline's command line (convert -> relabel -> build -> ...).

Each subcommand lives in its own module under :mod:`vlm2vla_training.commands`, listed in
:data:`~vlm2vla_training.commands.COMMANDS`. An error message naming a config field
(``TrainConfig.max_steps``, ``ModelConfig.model``) is shown with the flag that sets it, from the
command's ``options()`` and ``error_flags()`` when it has them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from vlm2vla_policy.cli_options import flag_message
from vlm2vla_training.commands import COMMANDS

PROG = "vlm2vla-train"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Training pipeline of VLM2VLA: convert data sets into an episode store, "
        "relabel episodes into subtasks, build training samples, fine-tune (fit) and evaluate "
        "(eval). Run '%(prog)s <command> --help'.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.set_defaults(run=module.run, command_module=module)
    return parser


def error_message(module: ModuleType, error: BaseException) -> str:
    """The error in one line, with the fields it names spelled as the command's flags."""
    options = (module.options(),) if hasattr(module, "options") else ()
    flags = module.error_flags() if hasattr(module, "error_flags") else None
    return flag_message(error, *options, flags=flags)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vlm2vla-train`` with ``argv`` (default: the process arguments); return the status.

    Problems of the user's making (a missing path, a missing optional package, a rejected API key,
    a mismatched output directory, a model that cannot be loaded) print one line and return 2;
    bad episodes never do (they are reported by each stage).
    """
    from vlm2vla_policy.runtime.errors import PolicyRuntimeError
    from vlm2vla_training.readers import ReaderUnavailableError
    from vlm2vla_training.relabel import LabelerFatalError

    args = build_parser().parse_args(argv)
    user_errors = (OSError, ValueError, PolicyRuntimeError, ReaderUnavailableError,
                   LabelerFatalError)  # fmt: skip
    try:
        lines = args.run(args)
    except user_errors as exc:
        print(f"{PROG} {args.command}: error: {error_message(args.command_module, exc)}",
              file=sys.stderr)  # fmt: skip
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
