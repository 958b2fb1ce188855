"""`dialoggen push` end to end against the loopback Hub (tests/hub_server.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dialoggen.engines.scripted import ScriptedEngine
from dialoggen.export import build_rows
from dialoggen.run import generate
from dialoggen.sampling import load_inputs
from tests.conftest import DATA
from tests.hub_server import HubServer
from tests.test_export import ByPersona
from tests.test_hub_server import TOKEN, run_client

REPO = "org/support-chats"
LOAD = """
import json, sys
from datasets import load_dataset
ds = load_dataset(*sys.argv[1:])  # the repo, and a config name when given
print(json.dumps({split: ds[split].to_list() for split in ds}))
"""
CARD = """
import sys
from huggingface_hub import hf_hub_download
print(open(hf_hub_download(sys.argv[1], "README.md", repo_type="dataset")).read())
"""


def make_run(folder: Path, name: str) -> Path:
    inputs = load_inputs(
        DATA / "recipes" / "ok.yaml",
        name=name,
        count=10,
        output=str(folder),
        critic={"max_revisions": 0},
        export={"test_size": 0.4},
    )
    with ScriptedEngine(responder=ByPersona()) as engine:
        generate(inputs, engine=engine)
    return folder


def push(hub: HubServer, home: Path, run: Path, *args: str, token: str = TOKEN):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "HF_TOKEN": token,
    }
    return subprocess.run(
        [sys.executable, "-m", "dialoggen", "push", str(run), "--repo", REPO, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    with HubServer(root / "store", token=TOKEN) as server:
        first = make_run(root / "first", "first-run")
        second = make_run(root / "second", "second-run")
        results = [push(server, root / "home", first), push(server, root / "home", second)]
        yield server, root, first, second, results


def rows_of(run: Path) -> dict[str, list]:
    return json.loads(json.dumps(build_rows(run)[2]))


def test_each_run_pushes_to_its_own_config_and_loads_back_identical(hub):
    server, root, first, second, results = hub
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().endswith(REPO)
    for run, args in ((first, ()), (first, ("default",)), (second, ("second-run",))):
        loaded = run_client(server, root / "home", LOAD, REPO, *args)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        assert json.loads(loaded.stdout) == rows_of(run)


def test_the_card_yaml_parses_and_names_every_config(hub):
    server, root, *_ = hub
    card = run_client(server, root / "home", CARD, REPO)
    assert card.returncode == 0, card.stderr[-3000:]
    meta = yaml.safe_load(card.stdout.split("---")[1])
    assert {c["config_name"] for c in meta["configs"]} == {"default", "second-run"}
    assert "synthetic" in meta["tags"] and "## Acceptance funnel" in card.stdout
    stored = {p.name for p in (root / "store").rglob("*") if p.is_file()}
    assert stored  # the server really holds the files


def test_pushing_the_same_config_again_is_refused_not_replaced(hub):
    server, root, first, second, _ = hub
    again = push(server, root / "home", first)
    assert again.returncode == 7
    assert "already holds run 'first-run' as config 'default'" in again.stderr
    assert "--replace --config default" in again.stderr
    taken = push(server, root / "home", second, "--config", "default")
    assert taken.returncode == 7 and "already holds run 'second-run'" in taken.stderr


def test_the_repo_is_private_by_default(hub):
    server, root, *_ = hub
    anonymous = run_client(server, root / "anon", LOAD, REPO, token=None)
    assert anonymous.returncode != 0


def test_the_token_is_in_no_file_log_line_or_error(hub):
    server, root, first, second, results = hub
    for result in results:
        assert TOKEN not in result.stdout + result.stderr
    for folder in (first, second, root / "store", root / "home"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path
    for request in server.requests:
        assert TOKEN not in request.path and TOKEN.encode() not in request.body
    wrong = push(server, root / "home", first, "--config", "third", token="hf_wrong_but_secret")
    assert wrong.returncode == 7 and "hf_wrong_but_secret" not in wrong.stdout + wrong.stderr
    assert wrong.stderr.startswith("error: push to org/support-chats failed")
