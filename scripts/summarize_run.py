"""Print a run's TensorBoard scalars back from its event files: first, last, min, max per tag.

Usage: python scripts/summarize_run.py RUN_DIR [TAG_PREFIX ...]
"""

from __future__ import annotations

from pathlib import Path

from script_args import script_parser

from mbpo.events import read_scalars


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("prefixes", nargs="*", help="only tags starting with one of these")
    args = parser.parse_args()
    scalars = read_scalars(args.run_dir)
    if not scalars:
        raise SystemExit(f"no scalars under {args.run_dir}")
    print(f"{'tag':32s} {'n':>5s} {'first':>12s} {'last':>12s} {'min':>12s} {'max':>12s}  last step")
    for tag in sorted(scalars):
        if args.prefixes and not tag.startswith(tuple(args.prefixes)):
            continue
        values = [v for _, v in scalars[tag]]
        print(f"{tag:32s} {len(values):5d} {values[0]:12.4g} {values[-1]:12.4g} "
              f"{min(values):12.4g} {max(values):12.4g}  {scalars[tag][-1][0]}")


if __name__ == "__main__":
    main()
