"""Model resolution: the embedded model, local folders, the Hub cache."""

import os

import pytest

from dialoggen import models
from dialoggen.errors import ModelNotFoundError


def test_embedded_model_is_a_loadable_folder(embedded_model):
    resolved = models.resolve_model(None)
    assert resolved.local and resolved.source == str(embedded_model)
    assert (embedded_model / "config.json").is_file()
    assert (embedded_model / "tokenizer.json").is_file()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert models.resolve_model("embedded").source == resolved.source


def test_local_folder_must_hold_a_model(tmp_path, embedded_model):
    assert models.resolve_model(str(embedded_model)).source == str(embedded_model)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        models.resolve_model(str(tmp_path / "nope"))
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        models.resolve_model(str(tmp_path))


def test_uncached_hub_id_is_refused_without_download():
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        models.resolve_model("someorg/not-a-cached-model")
    assert models.resolve_model("someorg/x", allow_download=True).local is False


def test_embedded_model_is_materialised_once(monkeypatch, tmp_path, embedded_model):
    monkeypatch.setenv("DIALOGGEN_CACHE", str(tmp_path))
    assert not models.embedded_ready()
    target = models.prepare_embedded_model()
    assert target == tmp_path / "models" / models.EMBEDDED_NAME
    assert (target / "model.safetensors").stat().st_size > 100_000_000
    mtime = (target / "config.json").stat().st_mtime
    assert models.prepare_embedded_model() == target
    assert (target / "config.json").stat().st_mtime == mtime
