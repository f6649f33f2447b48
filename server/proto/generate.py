"""Regenerate the committed gRPC stubs from the .proto files here.

    python -m ltlsp.server.proto.generate        # rewrite the stubs here
    python -m ltlsp.server.proto.generate --check  # exit 1 if they are stale

protoc derives the generated imports from the proto's path, so the protos are compiled from a
scratch tree that mirrors the import package (`ltlsp/server/proto/NAME.proto`); the stubs
then import each other as `ltlsp.server.proto.NAME_pb2`.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = sorted(HERE.glob("*.proto"))
PACKAGE_PATH = Path("ltlsp", "server", "proto")
OUTPUTS = [f"{p.stem}{suffix}" for p in PROTOS for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")]


def generate_into(out_dir: Path) -> None:
    """Compile every proto into out_dir (the OUTPUTS)."""
    from grpc_tools import protoc  # a test/dev dependency only

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / PACKAGE_PATH).mkdir(parents=True)
        for proto in PROTOS:
            shutil.copy(proto, root / PACKAGE_PATH / proto.name)
        args = ["protoc", f"-I{root}", f"--python_out={root}", f"--pyi_out={root}",
                f"--grpc_python_out={root}", *(str(PACKAGE_PATH / p.name) for p in PROTOS)]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed; see its message above")
        for name in OUTPUTS:
            shutil.copy(root / PACKAGE_PATH / name, out_dir / name)


def stale_outputs() -> list[str]:
    """Names of committed stubs that differ from a fresh compile of the proto."""
    with tempfile.TemporaryDirectory() as fresh:
        generate_into(Path(fresh))
        return [n for n in OUTPUTS
                if not (HERE / n).exists() or (HERE / n).read_bytes() != (Path(fresh) / n).read_bytes()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale stubs")
    if parser.parse_args().check:
        stale = stale_outputs()
        for name in stale:
            print(f"stale: {HERE / name} (run python -m ltlsp.server.proto.generate)", file=sys.stderr)
        return 1 if stale else 0
    generate_into(HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
