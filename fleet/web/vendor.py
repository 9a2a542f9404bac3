"""The map library (Leaflet, BSD-2-Clause) from the npm registry, served by
the fleet itself under /ui/vendor/leaflet/ (no CDN: the strict CSP allows
only 'self', and a district's operations room may have no Internet).

It is not committed: `scripts/setup` runs `python -m fleet.web.vendor`, which
downloads the pinned tarball from registry.npmjs.org, checks it against the
registry's own `dist.integrity` (SHA-512, pinned below), and unpacks only the
files the dashboard needs into the user cache directory (outside the
repository: a clone stays clean), or GREENGATE_VENDOR_DIR. Without it the map
page still lists the sites and says how to install the library.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str           # the registry's dist.integrity ("sha512-<base64>")
    files: tuple[str, ...]   # paths inside the tarball's package/ directory we keep

    @property
    def tarball(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.name}-{self.version}.tgz"


LEAFLET = NpmPackage(
    "leaflet", "1.9.4",
    "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
    ("dist/leaflet.js", "dist/leaflet.css", "dist/images/layers.png", "dist/images/layers-2x.png",
     "dist/images/marker-icon.png", "dist/images/marker-icon-2x.png",
     "dist/images/marker-shadow.png", "LICENSE"))
MAX_TARBALL = 8 << 20  # leaflet 1.9.4 is ~1 MB; refuse anything far bigger


class VendorError(Exception):
    """The library could not be fetched or did not match its pinned integrity."""


def vendor_root() -> Path:
    override = os.environ.get("GREENGATE_VENDOR_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_path

    return user_cache_path("greengate", appauthor=False) / "npm"


def package_dir(pkg: NpmPackage = LEAFLET) -> Path:
    """Where the package's files are (their dist/ part is what is served)."""
    return vendor_root() / f"{pkg.name}-{pkg.version}"


def installed(pkg: NpmPackage = LEAFLET) -> bool:
    d = package_dir(pkg)
    return all((d / f).is_file() for f in pkg.files)


def check_integrity(data: bytes, integrity: str) -> None:
    algo, _, want = integrity.partition("-")
    if algo != "sha512":
        raise VendorError(f"unsupported integrity algorithm {algo!r}")
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != want:
        raise VendorError(f"integrity mismatch: got sha512-{got}, pinned {integrity}")


def unpack(data: bytes, pkg: NpmPackage, dest: Path) -> None:
    """Only the listed regular files, each written under `dest` by our own
    name (never a path taken from the archive)."""
    wanted = {"package/" + f: f for f in pkg.files}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                found[wanted[member.name]] = tar.extractfile(member).read()
    missing = sorted(set(pkg.files) - set(found))
    if missing:
        raise VendorError(f"{pkg.name} {pkg.version}: missing in the tarball: {', '.join(missing)}")
    tmp = dest.with_name(dest.name + ".part")
    if tmp.exists():  # left by an interrupted run
        shutil.rmtree(tmp)
    for rel, content in found.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def fetch(pkg: NpmPackage = LEAFLET, opener=urllib.request.urlopen) -> Path:  # noqa: ANN001
    """Download, check, unpack (idempotent: nothing is fetched when present)."""
    dest = package_dir(pkg)
    if installed(pkg):
        return dest
    try:
        with opener(pkg.tarball, timeout=60) as resp:
            data = resp.read(MAX_TARBALL + 1)
    except OSError as e:
        raise VendorError(f"cannot download {pkg.tarball}: {e}") from None
    if len(data) > MAX_TARBALL:
        raise VendorError(f"{pkg.tarball}: larger than {MAX_TARBALL} bytes")
    check_integrity(data, pkg.integrity)
    dest.parent.mkdir(parents=True, exist_ok=True)
    unpack(data, pkg, dest)
    return dest


def main() -> int:
    try:
        path = fetch()
    except VendorError as e:
        print(f"vendor: {e}", file=sys.stderr)
        return 1
    print(f"vendor: {LEAFLET.name} {LEAFLET.version} in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
