"""Command line: a thin layer over the package's functions (`xrfnb --help`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import book, runner


def _run(args: argparse.Namespace) -> None:
    record = runner.run(args.profile, only=args.only, overrides=args.set)
    print(f"run record: book/executed/run.json ({record['total_seconds']:.1f} s in all stages)")


def _book(args: argparse.Namespace) -> None:
    print(f"book: {book.build(strict=not args.no_strict)}")


def _palette_export(args: argparse.Namespace) -> None:
    from . import pigments

    palette = pigments.paper_palette(n_channels=args.channels)
    print(f"palette: {palette.export_ganx(args.dir)}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="xrfnb", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="execute the notebooks with papermill at a profile")
    p.add_argument("--profile", default="smoke", help="smoke (default), lite or paper")
    p.add_argument("--only", nargs="+", metavar="STAGE", help="run only these stages (e.g. 01 or pigments)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.set_defaults(func=_run)

    p = sub.add_parser("book", help="build the Jupyter Book into _build/html")
    p.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    p.set_defaults(func=_book)

    p = sub.add_parser("palette", help="the pigment palette")
    pal = p.add_subparsers(dest="action", required=True)
    e = pal.add_parser("export", help="write the palette in the layout ganx reads")
    e.add_argument("dir", type=Path)
    e.add_argument("--channels", type=int, default=512)
    e.set_defaults(func=_palette_export)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (runner.RunError, ValueError, FileNotFoundError) as err:
        print(f"xrfnb {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"xrfnb {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
