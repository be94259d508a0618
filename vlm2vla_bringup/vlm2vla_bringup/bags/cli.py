"""``vlm2vla-bag``: record, play, inspect and generate MCAP bags (rosbag2-compatible).

    vlm2vla-bag record -o OUT /camera/image_raw /vlm2vla/instruction [--duration 10]
                       [--compression {none,zstd,lz4}]
    vlm2vla-bag play BAG [--rate 2] [--loop] [--topics /camera/image_raw] [--start-offset 1.5]
                         [--delay 1.0] [--remap /camera/image_raw:=/cam]
    vlm2vla-bag info BAG
    vlm2vla-bag sample OUT [--instruction "pick up the red block"] [--compression none]

On a ROS install, ``ros2 bag play OUT`` plays the same bags. The files are written and read by
``vlm2vla_policy.bags``; --compression is the MCAP chunk compression (default zstd).

A bag that does not exist (or holds no .mcap file), an output that exists already and a bad
value print one line naming the argument and exit with 2, as argparse does for usage errors.
"""

import argparse
import sys
from pathlib import Path

from vlm2vla_policy.bags import COMPRESSIONS, DEFAULT_COMPRESSION, BagReader


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlm2vla-bag", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record topics into a new bag directory")
    rec.add_argument("topics", nargs="+", help="topics to record")
    rec.add_argument("-o", "--output", required=True, help="new bag directory")
    rec.add_argument("--duration", type=_positive, help="stop after this many seconds")
    _compression_option(rec)
    ply = sub.add_parser("play", help="publish a bag with its recorded timing")
    ply.add_argument("bag", help="bag directory or .mcap file")
    ply.add_argument("--rate", type=_positive, default=1.0, help="speed factor (default 1.0)")
    ply.add_argument("--loop", action="store_true", help="repeat until Ctrl-C")
    ply.add_argument("--topics", nargs="+", default=[], help="only these topics")
    ply.add_argument(
        "--start-offset", type=_non_negative, default=0.0, help="skip the first seconds"
    )
    ply.add_argument(
        "--delay", type=_non_negative, default=0.0, help="seconds to wait before playing"
    )
    ply.add_argument("--remap", nargs="+", default=[], help="FROM:=TO topic remaps")
    inf = sub.add_parser("info", help="topics, types and message counts")
    inf.add_argument("bag")
    smp = sub.add_parser("sample", help="write the small sample bag (camera + instruction)")
    smp.add_argument("output", help="new bag directory")
    smp.add_argument("--instruction", default="pick up the red block")
    smp.add_argument("--seconds", type=_positive, default=6.0)
    _compression_option(smp)
    return parser


def _number(text: str, low: float, inclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value >= low if inclusive else value > low):
        raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {low}, got {text}")
    return value


def _positive(text: str) -> float:
    return _number(text, 0.0, inclusive=False)


def _non_negative(text: str) -> float:
    return _number(text, 0.0, inclusive=True)


def _compression_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compression",
        choices=list(COMPRESSIONS),
        default=DEFAULT_COMPRESSION,
        help=f"MCAP chunk compression (default {DEFAULT_COMPRESSION})",
    )


def _open_bag(path: str) -> BagReader:
    """The bag at ``path``; an error naming the BAG argument when there is none."""
    try:
        return BagReader(path)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"BAG: {err}") from None


def _info(path: str) -> None:
    bag = _open_bag(path)
    for topic, info in sorted(bag.topics.items()):
        qos = ",".join(
            f"{q.reliability.name.lower()}/{q.durability.name.lower()}" for q in info.offered_qos
        )
        print(f"{topic:40s} {info.type_name:40s} {info.message_count:6d}  {qos or '-'}")
    start_ns, end_ns = bag.time_range_ns
    print(
        f"{bag.message_count} messages, {(end_ns - start_ns) / 1e9:.3f} s from {start_ns} ns "
        "since the epoch"
    )


def _with_node(name: str, work) -> int:
    import rclpy
    from rclpy.node import Node

    rclpy.init()
    node = Node(name)
    try:
        return work(node)
    except KeyboardInterrupt:
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _remaps(pairs: list[str]) -> dict[str, str]:
    bad = [pair for pair in pairs if ":=" not in pair]
    if bad:
        raise ValueError(f"--remap takes FROM:=TO pairs, got {bad}")
    return dict(pair.split(":=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit code (2 and one line for a usage error)."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (OSError, ValueError, KeyError) as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"vlm2vla-bag {args.command}: error: {text}", file=sys.stderr)
        return 2


def _new_output(path: str, argument: str) -> None:
    """Refuse an output path that exists (before any node starts or file is written)."""
    if Path(path).exists():
        raise FileExistsError(f"{argument} {path} already exists; choose a new bag directory")


def _run(args: argparse.Namespace) -> int:
    if args.command == "info":
        _info(args.bag)
        return 0
    if args.command == "sample":
        from vlm2vla_bringup.bags.sample import write_sample_bag

        _new_output(args.output, "OUTPUT")
        path = write_sample_bag(
            args.output, args.instruction, args.seconds, compression=args.compression
        )
        print(f"wrote {path}")
        return 0
    if args.command == "record":
        from vlm2vla_bringup.bags.record import record

        _new_output(args.output, "--output")

        def work(node) -> int:
            count = record(node, args.output, args.topics, args.duration, args.compression)
            print(f"recorded {count} messages into {args.output}")
            return 0

        return _with_node("vlm2vla_bag_record", work)

    from vlm2vla_bringup.bags.play import PlayOptions, play

    _open_bag(args.bag)  # a missing bag is reported before a node starts
    options = PlayOptions(
        rate=args.rate,
        loop=args.loop,
        topics=tuple(args.topics),
        start_offset_s=args.start_offset,
        remaps=_remaps(args.remap),
        delay_s=args.delay,
    )

    def work(node) -> int:
        print(f"published {play(node, args.bag, options)} messages")
        return 0

    return _with_node("vlm2vla_bag_play", work)


if __name__ == "__main__":
    sys.exit(main())
