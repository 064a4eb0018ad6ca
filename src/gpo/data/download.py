"""Where the benchmark data lives, and fetching it from the original release when it is missing.

The paper's benchmarks (GPO_REFERENCE section 2) ship with the original code release (txy77/GPO)
under ``data/``. ``resolve_data_dir`` picks the data root (--data_dir, else GPO_DATA_DIR, else
./data). ``ensure_dataset`` installs one dataset folder when it is missing: it downloads the
release tarball at a pinned commit, extracts only ``data/<folder>/`` (regular files only, no path
traversal), checks every file against the SHA-256 manifest shipped with this package, and renames
the verified folder into place, so a failed attempt never leaves a partial folder behind.

Pinned commit: the reference describes the release at HEAD ``1f56a10``, whose full SHA we could not
look up offline. We pin the full SHA of the commit that added the data files
(``51298a7...``); the data files have a single version in the repository's history, and the
manifest (generated from a checked copy of the HEAD data) guards the content either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from gpo.errors import DataError

logger = logging.getLogger(__name__)

ENV_DATA_DIR = "GPO_DATA_DIR"
ENV_DATA_URL = "GPO_DATA_URL"
DEFAULT_DATA_DIR = "data"
DATA_REPO = "txy77/GPO"
DATA_COMMIT = "51298a744a78402ad48e0a784e1dc678edf220cb"
DEFAULT_DATA_URL = f"https://codeload.github.com/{DATA_REPO}/tar.gz/{DATA_COMMIT}"
MANIFEST_PATH = Path(__file__).with_name("manifest.json")
IGNORED_FILES = frozenset({".DS_Store"})
LOCAL_COPY_HINT = f"pass --data_dir or set {ENV_DATA_DIR} to a local copy of the GPO data/ folder"
_CHUNK = 1 << 16


class DatasetFolder(Protocol):
    """What the download needs of a benchmark (``gpo.data.registry.Benchmark`` has it): its name
    and its folder under the data root. Declared here so that this module does not import the
    registry (which imports the custom tasks, which read the data root from here)."""

    name: str
    folder: str


def resolve_data_dir(flag_value: str | None) -> Path:
    """The data root: --data_dir, else $GPO_DATA_DIR, else ./data (relative to the cwd)."""
    value = flag_value or os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR
    return Path(value).expanduser().absolute()


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ---- manifest


def build_manifest(data_root: Path) -> dict[str, str]:
    """SHA-256 of every .jsonl file under ``data_root``, keyed by its POSIX path relative to it."""
    return {
        path.relative_to(data_root).as_posix(): _sha256(path)
        for path in sorted(Path(data_root).rglob("*.jsonl"))
        if path.is_file()
    }


def write_manifest(data_root: Path, out_path: Path = MANIFEST_PATH) -> None:
    """Regenerate the manifest from a trusted copy of the data (a maintainer task)."""
    document = {
        "description": "SHA-256 of the benchmark files of the original GPO release",
        "repository": DATA_REPO,
        "commit": DATA_COMMIT,
        "files": build_manifest(data_root),
    }
    Path(out_path).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def load_manifest(path: Path | None = None) -> dict[str, str]:
    """The manifest's ``files`` table: path relative to the data root -> SHA-256."""
    path = Path(path) if path is not None else MANIFEST_PATH
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"cannot read data manifest {path} ({_one_line(exc)}); reinstall gpo"
        ) from None
    if not isinstance(files, dict):
        raise DataError(f"data manifest {path} has no files table; reinstall gpo")
    return {str(k): str(v) for k, v in files.items()}


def _files_of(manifest: dict[str, str], folder: str) -> dict[str, str]:
    prefix = folder.rstrip("/") + "/"
    return {rel: sha for rel, sha in manifest.items() if rel.startswith(prefix)}


def _check_folder(root: Path, folder: str, manifest: dict[str, str], source: str) -> int:
    """Compare ``root/folder`` with the manifest; raise DataError on any difference."""
    expected = _files_of(manifest, folder)
    if not expected:
        raise DataError(f"the data manifest lists no files for {folder}; reinstall gpo")
    found = {
        path.relative_to(root).as_posix()
        for path in (root / folder).rglob("*")
        if path.is_file() and path.name not in IGNORED_FILES
    }
    missing = sorted(expected.keys() - found)
    unexpected = sorted(found - expected.keys())
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected file {unexpected[0]}"
        raise DataError(
            f"{folder} from {source} does not match the manifest "
            f"({len(missing)} missing, {len(unexpected)} unexpected: {what}); {LOCAL_COPY_HINT}"
        )
    for rel in sorted(expected):
        if _sha256(root / rel) != expected[rel]:
            raise DataError(f"checksum mismatch for {rel} from {source}; {LOCAL_COPY_HINT}")
    return len(expected)


def verify_dataset(
    benchmark: DatasetFolder, data_dir: Path, *, manifest_path: Path | None = None
) -> int:
    """Check an installed dataset folder file by file; return the number of files checked."""
    root = Path(data_dir)
    if not (root / benchmark.folder).is_dir():
        raise DataError(f"benchmark data not found at {root / benchmark.folder}; {LOCAL_COPY_HINT}")
    return _check_folder(root, benchmark.folder, load_manifest(manifest_path), str(root))


# ---- download and extraction


class _LogProgress:
    """Progress reporting through logging when tqdm is not installed."""

    def __init__(self, total: int | None) -> None:
        self.total, self.done = total, 0

    def update(self, n: int) -> None:
        self.done += n

    def close(self) -> None:
        logger.info("downloaded %d bytes", self.done)


@contextmanager
def _progress(total: int | None) -> Iterator[Any]:
    try:
        from tqdm import tqdm
    except ImportError:
        bar: Any = _LogProgress(total)
    else:
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="GPO data", leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _download(url: str, dest: Path, timeout: float) -> None:
    logger.info("downloading benchmark data from %s", url)
    request = urllib.request.Request(url, headers={"User-Agent": "gpo-data-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress(total) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"download of {url} failed (HTTP {exc.code}); {LOCAL_COPY_HINT}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {url} ({_one_line(reason)}); {LOCAL_COPY_HINT}") from None


def _member_target(member: tarfile.TarInfo, prefix: tuple[str, ...], root: Path) -> Path | None:
    """Where an archive member under ``<top>/data/<folder>/`` goes, or None to skip it."""
    path = PurePosixPath(member.name)
    parts = path.parts
    if len(parts) < 1 + len(prefix) or parts[1 : 1 + len(prefix)] != prefix:
        return None  # outside data/<folder>/ (the first part is the archive's top folder)
    if path.is_absolute() or ".." in parts:
        raise DataError(f"unsafe path {member.name!r} in the data archive; {LOCAL_COPY_HINT}")
    if member.isdir() or parts[-1] in IGNORED_FILES:
        return None
    if not member.isfile():
        raise DataError(f"unexpected link {member.name!r} in the data archive; {LOCAL_COPY_HINT}")
    return root.joinpath(*parts[2:])  # parts[1] is "data": keep the path below the data root


def _extract_folder(archive: Path, folder: str, root: Path, source: str) -> int:
    """Extract the regular files of ``data/<folder>/`` into ``root/<folder>/``."""
    prefix = ("data", *PurePosixPath(folder).parts)
    count = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                target = _member_target(member, prefix, root)
                if target is None:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with handle, target.open("wb") as out:
                    while chunk := handle.read(_CHUNK):
                        out.write(chunk)
                count += 1
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(
            f"{source} is not a readable .tar.gz ({_one_line(exc)}); {LOCAL_COPY_HINT}"
        ) from None
    logger.info("extracted %d files of %s", count, folder)
    return count


def ensure_dataset(
    benchmark: DatasetFolder,
    data_dir: Path,
    *,
    download: bool = True,
    manifest_path: Path | None = None,
    url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return ``data_dir/<folder>``, downloading and verifying it first when it is missing.

    The URL is ``url``, else $GPO_DATA_URL, else the pinned release tarball.
    """
    data_dir = Path(data_dir)
    target = data_dir / benchmark.folder
    if target.is_dir():
        return target
    if not download:
        raise DataError(f"{benchmark.name} data not found at {target}; {LOCAL_COPY_HINT}")
    manifest = load_manifest(manifest_path)
    source = url or os.environ.get(ENV_DATA_URL) or DEFAULT_DATA_URL
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".gpo-download-", dir=data_dir) as tmp:
            archive, staging = Path(tmp) / "release.tar.gz", Path(tmp) / "data"
            _download(source, archive, timeout)
            _extract_folder(archive, benchmark.folder, staging, source)
            count = _check_folder(staging, benchmark.folder, manifest, source)
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / benchmark.folder).rename(target)
    except OSError as exc:
        raise DataError(f"cannot install {target} ({_one_line(exc)}); {LOCAL_COPY_HINT}") from None
    logger.info("installed %s (%d files verified) at %s", benchmark.name, count, target)
    return target
