"""`ltlsp`: the command line. A thin client: it never imports torch, faiss or ltlsp.model,
and `--help` imports nothing beyond argparse; the commands live in ltlsp.server.commands.
"""

import argparse
import importlib
import sys

from ltlsp.server import __version__


# Commands run by their own module's main(argv), imported only for them: the daemon loads torch,
# the language server pygls; neither needs the CLI's commands (grpc is imported when used).
PASSTHROUGH = {"serve": "ltlsp.server.daemon", "lsp": "ltlsp.lsp.server",
               "logs": "ltlsp.server.logs.cli", "hooks": "ltlsp.server.hooks"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltlsp", description="Local semantic code search.")
    parser.add_argument("--version", action="version", version=f"ltlsp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index a repository, or bring its index up to date")
    p.add_argument("path", nargs="?", default=".", help="a path inside the git work tree (default: .)")
    p.add_argument("--rebuild", action="store_true", help="embed everything again")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("search", help="find code by a natural-language query")
    p.add_argument("query")
    _add_result_options(p)

    p = sub.add_parser("similar", help="find code similar to PATH:LINE[-END]")
    p.add_argument("spans", nargs="+", metavar="PATH:LINE[-END]")
    _add_result_options(p)

    p = sub.add_parser("status", help="show the daemon and the indexed repositories")
    p.add_argument("--repo", help="only this repository")
    p.add_argument("--json", action="store_true")

    # These parse their own options (e.g. `ltlsp serve --help`); see PASSTHROUGH.
    for name, summary in (("serve", "run the daemon in the foreground"),
                          ("lsp", "run the language server on stdio"),
                          ("logs", "train, score and watch logs"),
                          ("hooks", "install, remove or show the git hooks that keep the index current")):
        sub.add_parser(name, help=summary, add_help=False)

    sub.add_parser("stop", help="stop the daemon")
    return parser


def _add_result_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", default=".", help="a path inside the git work tree (default: .)")
    p.add_argument("--top-k", type=_positive, default=10, metavar="K", help="results (default 10)")
    p.add_argument("--json", action="store_true", help="JSON lines, best first")
    p.add_argument("--path", default="", metavar="GLOB", help="only paths matching this shell pattern")
    p.add_argument("--lang", default="", metavar="LANG", help="only files of this language (e.g. python)")
    p.add_argument("--mode", choices=("hybrid", "dense", "lexical"), default="hybrid",
                   help="rank by both retrievers fused (default), by embeddings, or by BM25")


def _positive(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number between 1 and 1000")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in PASSTHROUGH:
        return importlib.import_module(PASSTHROUGH[args.command]).main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from ltlsp.server import commands
    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
