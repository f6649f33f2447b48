"""`python bench/with_mode.py MODE ARGS...`: run `ltlsp ARGS...`, adding `--mode MODE` to search
and similar, so the shared benchmark scripts (which take a --cmd) can compare ranking modes."""

import sys

from ltlsp.server.cli import main

if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if args and args[0] in ("search", "similar"):
        args += ["--mode", mode]
    sys.exit(main(args))
