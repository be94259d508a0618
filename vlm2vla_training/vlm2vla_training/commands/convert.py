"""``vlm2vla-train convert``: read a data set into the normalised episode store."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "read a data set (BridgeData raw or RLDS, LeRobot, MCAP bags) into an episode store"
DESCRIPTION = """\
Read episodes with one of the readers and write them into an episode store (one directory per
episode: frames, states and actions in metres/radians in the robot base frame, instruction, fps).
Bad or truncated episodes are skipped and listed with the reason in
<store>/reports/convert-<reader>.json.
Rerunning skips what is already converted, so an interrupted run can simply be started again.

examples:
  vlm2vla-train convert --reader bridge_raw --input ~/data/bridge/raw --store ~/data/store
  vlm2vla-train convert --reader mcap --input ~/bags --store ~/data/store
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``convert``."""
    from vlm2vla_training.readers import READERS

    parser.add_argument("--reader", required=True, choices=sorted(READERS), help="data format")
    parser.add_argument("--input", required=True, type=Path, help="data set path (dir or file)")
    parser.add_argument("--store", required=True, type=Path, help="episode store to write into")
    parser.add_argument(
        "--camera",
        default=None,
        help="camera: bridge_raw index (0 = images0), rlds key (image_0), lerobot feature key, "
        "mcap image topic; default: the reader's first camera",
    )
    parser.add_argument(
        "--actions",
        choices=("states", "raw"),
        default="states",
        help="states: a_t = state_{t+1} - state_t, gripper binarised (default, as the peers "
        "train); raw: the recorded commanded actions (Bridge's policy_out)",
    )
    parser.add_argument(
        "--gripper-threshold", type=float, default=0.5, help="open/closed threshold (1 = open)"
    )
    parser.add_argument(
        "--allow-no-instruction",
        action="store_true",
        help="keep episodes without a language instruction (skipped by default)",
    )
    parser.add_argument(
        "--reader-config",
        type=Path,
        default=None,
        metavar="YAML",
        help="the reader's settings, e.g. an RLDS dataset's keys: {state_key: "
        "observation/eef_state, instruction_key: natural_language_instruction, state_indices: "
        "[0, 1, 2, 3, 4, 5, 7]}; default: Bridge's layout",
    )
    parser.add_argument("--min-steps", type=int, default=2, help="skip shorter episodes")
    parser.add_argument("--limit", type=int, default=None, help="read at most this many sources")
    parser.add_argument(
        "--no-verify-frames",
        action="store_true",
        help="do not decode every frame while converting (faster; corrupt images slip through)",
    )


def run(args: argparse.Namespace) -> list[str]:
    """Convert; return the summary lines (skipped episodes are in the report, not errors)."""
    from vlm2vla_training.conversion import convert
    from vlm2vla_training.episode import ActionOptions
    from vlm2vla_training.readers import ReadOptions, make_reader
    from vlm2vla_training.store import EpisodeStore

    options = ReadOptions(
        actions=ActionOptions(args.actions, args.gripper_threshold),
        require_instruction=not args.allow_no_instruction,
        min_steps=args.min_steps,
        camera=args.camera,
        limit=args.limit,
    )
    reader_config = None
    if args.reader_config is not None:
        import yaml

        if not args.reader_config.is_file():
            raise FileNotFoundError(f"--reader-config: {args.reader_config} does not exist")
        reader_config = yaml.safe_load(args.reader_config.read_text(encoding="utf-8")) or {}
    try:
        reader = make_reader(args.reader, args.input, options, reader_config)
    except ValueError as err:
        raise ValueError(f"--reader-config: {err}") from None
    store = EpisodeStore(args.store)
    report = convert(
        reader,
        store,
        settings={"input": str(args.input), "actions": args.actions, "camera": args.camera},
        verify_frames=not args.no_verify_frames,
        progress=not args.quiet,
    )
    return [report.summary(), f"report: {store.report_path(f'convert-{reader.name}')}"]
