#!/usr/bin/env python3
"""Copy a kit's Gradescope zip, replacing setup.sh and run_autograder with candidate/ versions.

    python3 scripts/gradescope_sim/repack.py autograder.zip candidate.zip [--dir candidate]

For trying a new setup.sh / run_autograder in run.sh before they go into autograder/gradescope.py.
"""
import argparse
import zipfile
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("zip", type=Path)
parser.add_argument("out", type=Path)
parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "candidate",
                    help="folder holding the replacements (default: candidate/ beside this script)")
args = parser.parse_args()
replacements = {p.name: p.read_bytes() for p in args.dir.iterdir() if p.is_file()}
with zipfile.ZipFile(args.zip) as source, zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED) as target:
    for info in source.infolist():
        data = replacements.pop(info.filename, None)
        target.writestr(info, data if data is not None else source.read(info))
    for name, data in replacements.items():  # new files
        info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16
        target.writestr(info, data)
print(f"Wrote {args.out}")
