"""Fetch the Data Docs assets of ``include/data_docs_assets/manifest.json`` from npm.

Run by a maintainer when the manifest changes (a GX upgrade that links other files),
never at run time::

    python scripts/vendor_data_docs_assets.py           # fetch, copy, check sha256
    python scripts/vendor_data_docs_assets.py --update  # fetch, copy, record sha256

Each package is fetched with ``npm pack <name>@<version>`` (the npm client, the registry
the machine reaches) into a temporary directory; only the files the manifest lists are
copied, to ``include/data_docs_assets/<name without scope>@<version>/<path>``. Files the
package does not ship (``extra``, e.g. a licence taken from the repository) are kept as
they are. Exit status 1 when a copied file differs from its recorded sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "include" / "data_docs_assets"
MANIFEST = ASSETS / "manifest.json"


def _fetch(npm: str, version: str, into: Path) -> Path:
    """The unpacked ``package/`` directory of ``npm pack npm@version``."""
    into.mkdir(parents=True)
    out = subprocess.run(
        ["npm", "pack", "--silent", f"{npm}@{version}"],
        cwd=into,
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = into / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="record the sha256 of each file")
    args = parser.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text())
    bad: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, pkg in enumerate(manifest["packages"]):
            package = _fetch(pkg["npm"], pkg["version"], Path(tmp) / str(i))
            target = ASSETS / f"{pkg['npm'].split('/')[-1]}@{pkg['version']}"
            sums = pkg.setdefault("sha256", {})
            for name in pkg["files"]:
                dest = target / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package / name, dest)
                digest = hashlib.sha256(dest.read_bytes()).hexdigest()
                if args.update:
                    sums[name] = digest
                elif sums.get(name) != digest:
                    bad.append(f"{target.name}/{name}")
            print(f"{pkg['npm']}@{pkg['version']}: {len(pkg['files'])} file(s)")
    if args.update:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    for name in bad:
        print(f"sha256 differs from the manifest: {name}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
