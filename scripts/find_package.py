"""Exit 0 when an ament package is registered on AMENT_PREFIX_PATH outside the excluded prefix.

Usage: python scripts/find_package.py NAME [--exclude PREFIX]
"""

import argparse
import os
import sys
from pathlib import Path


def main() -> int:
    """Return 0 when NAME is found on the ament path (outside --exclude), 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("--exclude", default="", help="an install prefix to ignore")
    args = parser.parse_args()
    exclude = Path(args.exclude).resolve() if args.exclude else None
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        root = Path(prefix).resolve()
        if exclude and (root == exclude or exclude in root.parents):
            continue
        if (root / "share/ament_index/resource_index/packages" / args.name).exists():
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
