"""Push to and load from the loopback Hub (tests/hub_server.py) with the real clients.

Client code runs in subprocesses: huggingface_hub and datasets read HF_ENDPOINT (and the token,
the cache paths, the Xet switch) when they are imported.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import HubServer

TOKEN = "hf_loopbackTestToken0123456789"
WRONG_TOKEN = "hf_wrongTestToken9876543210"
REPO = "org/demo"
ROWS = {
    "train": [
        {"id": f"train-{i}", "messages": [{"role": "user", "content": f"hi {i}"}]} for i in range(5)
    ],
    "test": [
        {
            "id": f"test-{i}",
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ],
        }
        for i in range(2)
    ],
}
SECOND_ROWS = {"train": [{"id": "second-0", "messages": [{"role": "user", "content": "2nd"}]}]}

PUSH = """
import json, os, sys
from datasets import Dataset, DatasetDict
from huggingface_hub import HfApi

repo, config, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
api = HfApi()
if config == "default":
    api.create_repo(repo, repo_type="dataset", private=True)
dd = DatasetDict({split: Dataset.from_list(split_rows) for split, split_rows in rows.items()})
dd.push_to_hub(repo, config_name=config, private=True, token=os.environ["HF_TOKEN"])
if config == "default":  # a hand-written card section on top of the YAML that datasets wrote
    card = open(api.hf_hub_download(repo, "README.md", repo_type="dataset")).read()
    card += "\\n# Demo\\n\\nSynthetic chats.\\n"
    api.upload_file(
        path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo, repo_type="dataset"
    )
"""

LOAD = """
import json, sys
from datasets import load_dataset

out = {}
for config in sys.argv[2:]:
    ds = load_dataset(sys.argv[1], *([config] if config != "-" else []))
    out[config] = {split: ds[split].to_list() for split in ds}
print(json.dumps(out))
"""

HISTORY = """
import json
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download

api, repo, kw = HfApi(), "org/scratch", {"repo_id": "org/scratch", "repo_type": "dataset"}
api.create_repo(repo, repo_type="dataset")
again = api.create_repo(repo, repo_type="dataset", exist_ok=True)  # a 409 that is fine
first = api.upload_file(path_or_fileobj=b"one", path_in_repo="notes/a.txt", **kw).oid
second = api.upload_file(path_or_fileobj=b"two", path_in_repo="notes/a.txt", **kw).oid
api.upload_file(path_or_fileobj=b"hello world", path_in_repo="b.txt", **kw)
api.delete_file("notes/a.txt", **kw)


def read(rev):
    try:
        return open(hf_hub_download(repo, "notes/a.txt", repo_type="dataset", revision=rev)).read()
    except Exception as err:
        return type(err).__name__


fs = HfFileSystem()
print(json.dumps({
    "again": again.repo_id,
    "first": first,
    "reads": [read(first), read(second), read("main")],
    "files": api.list_repo_files(repo, repo_type="dataset"),
    "old_listing": fs.ls(f"datasets/{repo}@{first}/notes", detail=False),
    "range": fs.read_bytes(f"datasets/{repo}/b.txt", start=6, end=11).decode(),
}))
"""


def run_client(hub: HubServer, home: Path, script: str, *args: str, token: str | None = TOKEN):
    """Run ``script`` in a fresh interpreter that talks to ``hub`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),  # no cached token, no cached files from elsewhere
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",  # "lfs" files would go to Xet storage otherwise
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets would HEAD an S3 URL on each load
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    """The stdout of a client run that worked and never printed the token."""
    assert result.returncode == 0, result.stderr[-4000:]
    assert TOKEN not in result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Path]]:
    """A server holding org/demo, pushed once by the real clients; yields (server, HF_HOME)."""
    home = tmp_path_factory.mktemp("client")
    with HubServer(tmp_path_factory.mktemp("hub"), token=TOKEN) as hub:
        ok(run_client(hub, home / "push", PUSH, REPO, "default", json.dumps(ROWS)))
        yield hub, home


def test_push_then_load_round_trips_rows(pushed: tuple[HubServer, Path]) -> None:
    hub, home = pushed
    loaded = json.loads(ok(run_client(hub, home / "load", LOAD, REPO, "-")).splitlines()[-1])
    assert loaded["-"] == ROWS
    card = hub.store.blob(head_files(hub)["README.md"]["sha256"]).read_text()
    assert "configs:" in card and "Synthetic chats." in card


def test_push_uses_preupload_lfs_and_ndjson_commits(pushed: tuple[HubServer, Path]) -> None:
    hub, _ = pushed
    calls = {(r.method, r.path.split("?")[0]) for r in hub.requests}
    assert ("POST", f"/api/datasets/{REPO}/preupload/main") in calls
    assert ("POST", f"/api/datasets/{REPO}/commit/main") in calls
    assert ("POST", f"/datasets/{REPO}.git/info/lfs/objects/batch") in calls
    assert any(method == "PUT" and path.startswith("/lfs-upload/") for method, path in calls)
    assert not any("xet" in path for _, path in calls)
    files = head_files(hub)
    parquet = [path for path in files if path.startswith("data/")]
    assert sorted(parquet) == [
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
    ]
    assert all(files[path]["lfs"] for path in parquet) and not files["README.md"]["lfs"]


def test_token_is_only_ever_sent_in_the_authorization_header(pushed: tuple[HubServer, Path]):
    hub, _ = pushed
    writes = [r for r in hub.requests if r.method in ("POST", "PUT")]
    assert writes
    for request in hub.requests:
        assert TOKEN not in request.path and TOKEN.encode() not in request.body
        others = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        assert TOKEN not in json.dumps(others)
    for request in writes:
        if not request.path.startswith("/lfs-upload/"):  # the one-time upload URL is the auth
            assert request.headers.get("Authorization") == f"Bearer {TOKEN}", request.path


def test_private_repo_is_hidden_without_token(pushed: tuple[HubServer, Path], tmp_path: Path):
    hub, _ = pushed
    result = run_client(hub, tmp_path, LOAD, REPO, "-", token=None)
    assert result.returncode != 0
    assert "DatasetNotFoundError" in result.stderr


def test_wrong_token_push_fails_with_401(pushed: tuple[HubServer, Path], tmp_path: Path) -> None:
    hub, _ = pushed
    before = hub.store.load("dataset", REPO)
    result = run_client(hub, tmp_path, PUSH, REPO, "other", json.dumps(ROWS), token=WRONG_TOKEN)
    assert result.returncode != 0
    assert "401" in result.stderr and "Invalid credentials" in result.stderr
    assert WRONG_TOKEN not in result.stdout + result.stderr
    assert hub.store.load("dataset", REPO) == before


def test_second_config_keeps_the_first_loadable(pushed: tuple[HubServer, Path]) -> None:
    hub, home = pushed
    ok(run_client(hub, home / "push2", PUSH, REPO, "second", json.dumps(SECOND_ROWS)))
    out = ok(run_client(hub, home / "load2", LOAD, REPO, "default", "second"))
    loaded = json.loads(out.splitlines()[-1])
    assert loaded == {"default": ROWS, "second": SECOND_ROWS}


def test_overwrite_delete_and_commit_sha_revisions(tmp_path: Path) -> None:
    with HubServer(tmp_path / "hub", token=TOKEN) as hub:
        out = json.loads(ok(run_client(hub, tmp_path / "client", HISTORY)).splitlines()[-1])
    assert out["again"] == "org/scratch"
    assert out["reads"] == ["one", "two", "RemoteEntryNotFoundError"]
    assert sorted(out["files"]) == [".gitattributes", "b.txt"]
    assert out["old_listing"] == [f"datasets/org/scratch@{out['first']}/notes/a.txt"]
    assert out["range"] == "world"
    assert any(r.headers.get("Range") == "bytes=6-10" for r in hub.requests)


def test_raw_protocol_errors_and_one_time_upload_urls(tmp_path: Path) -> None:
    with HubServer(tmp_path, token=TOKEN) as hub:
        create = {"name": "raw", "organization": "org", "type": "dataset", "visibility": "private"}
        assert call(hub, "POST", "/api/repos/create", create, token=None) == (401, None)
        assert call(hub, "POST", "/api/repos/create", create, token=WRONG_TOKEN) == (401, None)
        assert call(hub, "POST", "/api/repos/create", create) == (200, None)
        assert call(hub, "POST", "/api/repos/create", create) == (409, None)
        assert call(hub, "GET", "/api/datasets/org/raw", token=None) == (401, "RepoNotFound")
        assert call(hub, "GET", "/api/datasets/org/raw/revision/abcdef0") == (
            404,
            "RevisionNotFound",
        )
        parent = head_commit(hub, "org/raw")
        assert call(hub, "POST", "/api/datasets/org/raw/commit/main", ndjson(parent)) == (200, None)
        assert call(hub, "POST", "/api/datasets/org/raw/commit/main", ndjson(parent))[0] == 412
        data = b"\0binary"
        oid = hashlib.sha256(data).hexdigest()
        batch = {"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]}
        reply = call(hub, "POST", "/datasets/org/raw.git/info/lfs/objects/batch", batch, raw=True)
        href = json.loads(reply)["objects"][0]["actions"]["upload"]["href"]
        assert TOKEN not in href
        put = href.removeprefix(hub.url)
        assert call(hub, "PUT", put, data, token=None) == (200, None)
        assert call(hub, "PUT", put, data, token=None) == (403, None)


def call(hub: HubServer, method: str, path: str, body: object = None, token=TOKEN, raw=False):
    """One plain HTTP request: (status, X-Error-Code), or the reply body if ``raw``."""
    data = body.encode() if isinstance(body, str) else body
    if not (data is None or isinstance(data, bytes)):
        data = json.dumps(data).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(hub.url + path, data, headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request) as reply:
            return reply.read() if raw else (reply.status, None)
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("X-Error-Code")


def ndjson(parent: str) -> str:
    header = {"key": "header", "value": {"summary": "raw", "parentCommit": parent}}
    file = {"key": "file", "value": {"path": "x.txt", "content": "eA==", "encoding": "base64"}}
    return json.dumps(header) + "\n" + json.dumps(file) + "\n"


def head_commit(hub: HubServer, repo: str) -> str:
    return hub.store.load("dataset", repo)["commits"][-1]["oid"]


def head_files(hub: HubServer, repo: str = REPO) -> dict:
    """The file table (path -> blob entry) of the latest commit of ``repo``."""
    return hub.store.load("dataset", repo)["commits"][-1]["files"]
