"""Data-root resolution, the manifest, and the verified download of a dataset folder."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import shutil
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpo.data.download import (
    DEFAULT_DATA_URL,
    build_manifest,
    ensure_dataset,
    load_manifest,
    resolve_data_dir,
    verify_dataset,
)
from gpo.data.registry import DATASETS, get_benchmark
from gpo.data.wsc import WSC
from gpo.errors import DataError

WSC_FILES = {
    name: json.dumps({"input": f"{name} question?\n(A) x\n(B) y", "output": "(A)"}) + "\n"
    for name in ("train", "eval", "test", "few_shot_examples", "format")
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_archive(path: Path, extra: dict[str, str] | None = None) -> Path:
    """A fake release tarball: GPO-abc/README.md, GPO-abc/data/common-nlp/{WSC,WebNLG}/..."""
    with tarfile.open(path, "w:gz") as tar:
        add_file(tar, "GPO-abc/README.md", "readme\n")
        for name, text in WSC_FILES.items():
            add_file(tar, f"GPO-abc/data/common-nlp/WSC/{name}.jsonl", text)
        add_file(tar, "GPO-abc/data/common-nlp/WSC/.DS_Store", "junk")
        add_file(tar, "GPO-abc/data/common-nlp/WebNLG/train.jsonl", "{}\n")
        for name, text in (extra or {}).items():
            add_file(tar, name, text)
    return path


def write_manifest(path: Path, files: dict[str, str]) -> Path:
    path.write_text(json.dumps({"files": files}))
    return path


def wsc_manifest(tmp_path: Path) -> Path:
    files = {f"common-nlp/WSC/{n}.jsonl": sha256(t) for n, t in WSC_FILES.items()}
    return write_manifest(tmp_path / "manifest.json", files)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """A folder served over HTTP on 127.0.0.1; yields it, its URL is read from .url."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    (root / ".url").write_text(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def url_of(root: Path, name: str) -> str:
    return f"{(root / '.url').read_text()}/{name}"


def leftovers(data_root: Path) -> list[str]:
    return sorted(p.name for p in data_root.glob(".gpo-download-*"))


# ---- data root


def test_resolve_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GPO_DATA_DIR", raising=False)
    assert resolve_data_dir(None) == tmp_path / "data"
    monkeypatch.setenv("GPO_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir("flag") == tmp_path / "flag"
    assert resolve_data_dir(str(tmp_path / "abs")) == tmp_path / "abs"


# ---- manifest


def test_manifest_covers_the_435_files_and_matches_the_shared_data(data_dir):
    manifest = load_manifest()
    assert len(manifest) == 435
    assert all(key.endswith(".jsonl") and not key.startswith("/") for key in manifest)
    assert manifest == build_manifest(data_dir)
    checked = [verify_dataset(get_benchmark(d), data_dir) for d in DATASETS]
    assert checked == [135, 285, 5, 5, 5]
    assert DEFAULT_DATA_URL.startswith("https://codeload.github.com/txy77/GPO/tar.gz/")


def test_verify_dataset_detects_an_edited_file(tmp_path, data_dir):
    shutil.copytree(data_dir / "common-nlp" / "WSC", tmp_path / "common-nlp" / "WSC")
    target = tmp_path / "common-nlp" / "WSC" / "eval.jsonl"
    target.write_bytes(target.read_bytes().replace(b"(A)", b"(B)", 1))
    with pytest.raises(DataError, match="checksum mismatch for common-nlp/WSC/eval.jsonl"):
        verify_dataset(WSC(), tmp_path)


# ---- download


def test_download_installs_and_verifies(served, tmp_path):
    make_archive(served / "release.tar.gz")
    data_root = tmp_path / "data"
    path = ensure_dataset(
        WSC(), data_root, manifest_path=wsc_manifest(tmp_path), url=url_of(served, "release.tar.gz")
    )
    assert path == data_root / "common-nlp" / "WSC"
    assert sorted(p.name for p in path.iterdir()) == sorted(f"{n}.jsonl" for n in WSC_FILES)
    for name, text in WSC_FILES.items():
        assert (path / f"{name}.jsonl").read_text() == text
    assert not (data_root / "common-nlp" / "WebNLG").exists()
    assert not (data_root / "README.md").exists()
    assert leftovers(data_root) == []
    assert len(WSC().load("wsc", data_root).train) == 1
    # an installed folder is used as it is: no second download
    assert ensure_dataset(WSC(), data_root, url="http://127.0.0.1:9/unused") == path


def test_download_url_from_environment(served, tmp_path, monkeypatch):
    make_archive(served / "mirror.tar.gz")
    monkeypatch.setenv("GPO_DATA_URL", url_of(served, "mirror.tar.gz"))
    path = ensure_dataset(WSC(), tmp_path / "data", manifest_path=wsc_manifest(tmp_path))
    assert (path / "test.jsonl").read_text() == WSC_FILES["test"]


def test_checksum_mismatch_leaves_no_partial_folder(served, tmp_path):
    make_archive(served / "release.tar.gz")
    files = {f"common-nlp/WSC/{n}.jsonl": sha256(t) for n, t in WSC_FILES.items()}
    files["common-nlp/WSC/test.jsonl"] = "0" * 64
    manifest = write_manifest(tmp_path / "bad.json", files)
    data_root = tmp_path / "data"
    with pytest.raises(DataError) as err:
        ensure_dataset(
            WSC(), data_root, manifest_path=manifest, url=url_of(served, "release.tar.gz")
        )
    message = str(err.value)
    assert "checksum mismatch for common-nlp/WSC/test.jsonl" in message
    assert "--data_dir" in message and "GPO_DATA_DIR" in message and "\n" not in message
    assert not (data_root / "common-nlp").exists()
    assert leftovers(data_root) == []


def test_missing_and_unexpected_files_fail(served, tmp_path):
    make_archive(served / "release.tar.gz")
    files = {f"common-nlp/WSC/{n}.jsonl": sha256(t) for n, t in WSC_FILES.items()}
    manifest = write_manifest(tmp_path / "more.json", {**files, "common-nlp/WSC/x.jsonl": "0"})
    url = url_of(served, "release.tar.gz")
    with pytest.raises(DataError, match="1 missing, 0 unexpected: missing common-nlp/WSC/x"):
        ensure_dataset(WSC(), tmp_path / "data", manifest_path=manifest, url=url)
    del files["common-nlp/WSC/format.jsonl"]
    manifest = write_manifest(tmp_path / "less.json", files)
    with pytest.raises(DataError, match="unexpected file common-nlp/WSC/format.jsonl"):
        ensure_dataset(WSC(), tmp_path / "data", manifest_path=manifest, url=url)
    assert not (tmp_path / "data" / "common-nlp").exists()


def test_path_traversal_is_refused(served, tmp_path):
    evil = {"GPO-abc/data/common-nlp/WSC/../../../../evil.jsonl": "{}\n"}
    make_archive(served / "evil.tar.gz", extra=evil)
    with pytest.raises(DataError, match="unsafe path"):
        ensure_dataset(
            WSC(),
            tmp_path / "data",
            manifest_path=wsc_manifest(tmp_path),
            url=url_of(served, "evil.tar.gz"),
        )
    assert not list(tmp_path.rglob("evil.jsonl"))
    assert not (tmp_path / "data" / "common-nlp").exists()


def test_links_are_refused(served, tmp_path):
    path = make_archive(served / "plain.tar.gz")
    linked = served / "link.tar.gz"
    with tarfile.open(path) as src, tarfile.open(linked, "w:gz") as tar:
        for member in src:
            tar.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("GPO-abc/data/common-nlp/WSC/passwd.jsonl")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(DataError, match="unexpected link"):
        ensure_dataset(
            WSC(),
            tmp_path / "data",
            manifest_path=wsc_manifest(tmp_path),
            url=url_of(served, "link.tar.gz"),
        )


def test_not_an_archive_and_http_errors(served, tmp_path):
    (served / "junk.tar.gz").write_text("this is not gzip")
    manifest = wsc_manifest(tmp_path)
    with pytest.raises(DataError, match="not a readable .tar.gz"):
        ensure_dataset(
            WSC(), tmp_path / "data", manifest_path=manifest, url=url_of(served, "junk.tar.gz")
        )
    with pytest.raises(DataError, match="HTTP 404.*GPO_DATA_DIR"):
        ensure_dataset(WSC(), tmp_path / "data", manifest_path=manifest, url=url_of(served, "none"))
    assert leftovers(tmp_path / "data") == []


def test_unreachable_url_names_the_fix(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError) as err:
        ensure_dataset(
            WSC(),
            tmp_path / "data",
            manifest_path=wsc_manifest(tmp_path),
            url=f"http://127.0.0.1:{port}/release.tar.gz",
            timeout=5,
        )
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message
    assert "--data_dir" in message and "GPO_DATA_DIR" in message and "\n" not in message
    assert not (tmp_path / "data" / "common-nlp").exists()


def test_download_disabled_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="wsc data not found at .*WSC.*--data_dir.*GPO_DATA_DIR"):
        ensure_dataset(WSC(), tmp_path, download=False)
