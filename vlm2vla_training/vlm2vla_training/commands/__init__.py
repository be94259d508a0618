"""Subcommands of ``vlm2vla-train``: one module per subcommand, registered in :data:`COMMANDS`.

A subcommand module defines ``HELP`` (one line for the command list), ``DESCRIPTION`` (the text
of its ``--help``), ``add_arguments(parser)`` and ``run(args) -> list[str]`` (does the work and
returns the lines to show; problems are raised, see :func:`vlm2vla_training.cli.main`). Modules
import only argparse-level code at import time; heavy libraries are imported inside ``run``, so
``vlm2vla-train --help`` stays fast. To add a subcommand,
write ``commands/<name>.py`` and add it here.
"""

from __future__ import annotations

COMMANDS: dict[str, str] = {
    "convert": "vlm2vla_training.commands.convert",
    "relabel": "vlm2vla_training.commands.relabel",
    "build": "vlm2vla_training.commands.build",
    "fit": "vlm2vla_training.commands.fit",
    "eval": "vlm2vla_training.commands.eval",
    "vqa-benchmarks": "vlm2vla_training.commands.vqa_benchmarks",
}
"""Subcommand name -> module, in the order of the data flow."""
