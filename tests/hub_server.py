"""A small Hugging Face Hub look-alike on a loopback port, for tests that push and load datasets.

It implements what ``huggingface_hub`` 2.4 uploads through and what ``datasets.load_dataset`` 5.2
(``hf_hub_download`` and ``HfFileSystem``) reads through, found by reading their source; ROUTES
below lists each endpoint with the client call that uses it. Repos, their commit history and the
file blobs live on disk under ``root``. Revisions: ``main`` (the latest commit) or a commit sha
(or a prefix of 7+); a commit may add, overwrite and delete files, and goes to ``main``.

Auth: with a ``token``, writes need ``Authorization: Bearer <token>`` (401 otherwise); a private
repo reads as 401 RepoNotFound without it, like the Hub; a wrong token is a 401 "Invalid
credentials" everywhere. The LFS upload URL needs no header: it is a one-time URL, like S3's.

Why LFS, and why clients must set ``HF_HUB_DISABLE_XET=1``: ``push_to_hub`` preuploads each parquet
shard from a temp file and deletes the file before the commit, so a shard answered "regular" (sent
base64 inside the commit) cannot be read back. The Hub answers "lfs" for parquet, and so does this
server (for binary and large files too), with the git-LFS batch API and a "basic" PUT transfer.
But with ``hf_xet`` installed, huggingface_hub sends every "lfs" file to Xet storage (a CAS service
not emulated here), whatever the server says; ``HF_HUB_DISABLE_XET=1`` is its only switch.
Downloads never use Xet: no reply carries ``X-Xet-*`` headers or a ``xetHash``.

Not implemented: branches other than main, pull requests, multipart LFS, pagination, Xet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".zip", ".gz", ".zst", ".png", ".jpg")
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
BAD_TOKEN = "Invalid credentials in Authorization header"
NAME = r"[A-Za-z0-9][\w.-]*"
REPO = rf"(?P<org>{NAME})/(?P<name>{NAME})"
API = rf"api/(?P<kind>models|datasets|spaces)/{REPO}"
WEB = rf"(?:(?P<kind>datasets|spaces)/)?{REPO}"  # models have no prefix
REV = r"(?P<rev>[^/]+)"  # clients quote the revision and the path in it with safe=""
ROUTES = [  # (method, path regex, handler method): the client calls that use each
    ("POST", r"api/repos/create", "create_repo"),  # create_repo (409 if it exists)
    ("POST", r"api/validate-yaml", "validate_yaml"),  # create_commit, when it has a README.md
    ("GET", rf"{API}(?:/revision/{REV})?", "repo_info"),  # repo_info, dataset_info
    ("GET", rf"{API}/tree/{REV}(?:/(?P<path>.*))?", "tree"),  # list_repo_tree, HfFileSystem.ls
    ("POST", rf"{API}/paths-info/{REV}", "paths_info"),  # get_paths_info, HfFileSystem.info
    ("POST", rf"{API}/preupload/{REV}", "preupload"),  # create_commit: "regular" or "lfs"?
    ("POST", rf"{WEB}\.git/info/lfs/objects/batch", "lfs_batch"),  # "lfs" files: where to PUT
    ("PUT", r"lfs-upload/(?P<oid>[0-9a-f]{64})/(?P<ticket>[\w-]+)", "lfs_put"),  # the PUT
    ("POST", rf"{API}/commit/{REV}", "commit"),  # create_commit: NDJSON operations
    ("GET", rf"{WEB}/resolve/{REV}/(?P<path>.+)", "resolve"),  # hf_hub_download, HfFileSystem
]


class HubError(Exception):
    """An error reply: status, message, and the ``X-Error-Code`` the clients map to exceptions."""

    def __init__(self, status: int, message: str, code: str = "", commit: str = "") -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = {"X-Error-Message": message.encode("unicode_escape").decode("ascii")}
        if code:  # RepoNotFound, RevisionNotFound, EntryNotFound
            self.headers["X-Error-Code"] = code
        if commit:  # hf_hub_download caches "no such file at this commit"
            self.headers["X-Repo-Commit"] = commit


@dataclass
class Recorded:
    """One request as the server received it (header names title-cased: ``Authorization``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class RepoStore:
    """Each repo is a JSON file (its commits, each with its full file table); blobs by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()  # held while a commit reads, changes and saves a repo
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    def _file(self, kind: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{kind}s" / f"{repo_id}.json"

    def load(self, kind: str, repo_id: str) -> dict | None:
        path = self._file(kind, repo_id)
        return json.loads(path.read_text()) if path.exists() else None

    def save(self, kind: str, repo_id: str, repo: dict) -> None:
        path = self._file(kind, repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(json.dumps(repo))
        os.replace(path.with_suffix(".tmp"), path)

    def blob(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def put_blob(self, data: bytes, lfs: bool = False) -> dict:
        """Store ``data``; return the file-table entry that points at it."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.blob(sha256).exists():  # never rewrite a blob that a reader may be reading
            tmp = self.blob(f"{sha256}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self.blob(sha256))
        return {"sha256": sha256, "size": len(data), "oid": git_sha1(data), "lfs": lfs}

    def create(self, kind: str, repo_id: str, private: bool) -> bool:
        with self.lock:
            if self.load(kind, repo_id) is not None:
                return False
            repo = {"private": private, "createdAt": now(), "commits": []}
            files = {".gitattributes": self.put_blob(GITATTRIBUTES.encode())}
            add_commit(repo, files, "initial commit")
            self.save(kind, repo_id, repo)
            return True


def web_url(endpoint: str, kind: str, repo_id: str) -> str:
    return f"{endpoint}/{'' if kind == 'model' else kind + 's/'}{repo_id}"


def add_commit(repo: dict, files: dict, title: str) -> str:
    parent = repo["commits"][-1]["oid"] if repo["commits"] else None
    stamp = json.dumps([parent, files, title, now(), secrets.token_hex(8)])
    oid = hashlib.sha1(stamp.encode()).hexdigest()
    repo["commits"].append({"oid": oid, "title": title, "date": now(), "files": files})
    return oid


def find_commit(repo: dict, rev: str) -> dict:
    if rev == "main":
        return repo["commits"][-1]
    for commit in repo["commits"]:
        if len(rev) >= 7 and commit["oid"].startswith(rev):
            return commit
    raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def file_entry(path: str, meta: dict) -> dict:
    entry = {"type": "file", "path": path, "oid": meta["oid"], "size": meta["size"]}
    if meta["lfs"]:
        entry["lfs"] = {"oid": meta["sha256"], "size": meta["size"], "pointerSize": 134}
    return entry


def dir_entry(path: str) -> dict:
    return {"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest()}


def tree_entries(files: dict, folder: str, recursive: bool) -> list[dict]:
    """The ``tree`` listing of ``folder``: its children, or all below it if ``recursive``."""
    base = folder.strip("/") + "/" if folder.strip("/") else ""
    entries: dict[str, dict] = {}
    for path, meta in sorted(files.items()):
        if not path.startswith(base):
            continue
        parts = path[len(base) :].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            parent = base + "/".join(parts[:depth])
            entries.setdefault(parent, dir_entry(parent))
        if recursive or len(parts) == 1:
            entries[path] = file_entry(path, meta)
    if base and not entries:
        raise HubError(404, f"No folder {folder}", "EntryNotFound")
    return list(entries.values())


def upload_mode(item: dict) -> str:
    binary = b"\0" in base64.b64decode(item.get("sample", ""))
    large = item.get("size", 0) >= LFS_MIN_SIZE
    return "lfs" if binary or large or item["path"].endswith(LFS_SUFFIXES) else "regular"


def apply_operation(store: RepoStore, files: dict, key: str, value: dict) -> None:
    """Apply one NDJSON line of a commit to ``files`` (path -> blob entry)."""
    path = value.get("path", "").strip("/")
    if key == "file":
        content = value["content"]
        base64ed = value.get("encoding") == "base64"
        files[path] = store.put_blob(base64.b64decode(content) if base64ed else content.encode())
    elif key == "lfsFile":
        oid = value["oid"]
        if not re.fullmatch(r"[0-9a-f]{64}", oid) or not store.blob(oid).exists():
            raise HubError(422, f"LFS object {oid} of {path} was never uploaded")
        files[path] = store.put_blob(store.blob(oid).read_bytes(), lfs=True)
    elif key == "deletedFile":
        if files.pop(path, None) is None:
            raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
    elif key == "deletedFolder":
        for gone in [p for p in files if p.startswith(path + "/")]:
            del files[gone]
    elif key != "header":
        raise HubError(400, f"Unsupported commit operation {key!r}")


class HubHandler(BaseHTTPRequestHandler):
    """Matches a request against ROUTES and runs its method; a ``HubError`` is the reply."""

    protocol_version = "HTTP/1.1"  # keep-alive: every reply has a Content-Length
    server: _HTTPServer

    def _dispatch(self) -> None:
        self.hub = self.server.hub
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        try:
            self.body = self._read_body()
            headers = {name.title(): value for name, value in self.headers.items()}
            self.hub.requests.append(Recorded(self.command, self.path, headers, self.body))
            self._route(url.path.strip("/"))
        except HubError as err:
            self._send(err.status, json.dumps({"error": err.message}).encode(), err.headers)
        except Exception as err:  # a bug here: say so (clients retry 5xx, but not 501)
            traceback.print_exc()
            self._send(501, b"", HubError(501, f"hub_server bug: {err!r}").headers)

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; tests read HubServer.requests

    def _route(self, path: str) -> None:
        method = "GET" if self.command == "HEAD" else self.command
        for route_method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path) if method == route_method else None
            if match:
                args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                self.kind = args.get("kind", "models").removesuffix("s")
                self.repo_id = f"{args.get('org')}/{args.get('name')}"
                self.rev, self.path_in_repo = args.get("rev", "main"), args.get("path", "")
                self.args = args
                return getattr(self, handler)()
        raise HubError(404, f"No such endpoint: {self.command} {self.path}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            self.close_connection = True  # the unread body must not be parsed as a request
            raise HubError(411, "Send a Content-Length; chunked bodies are not supported")
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _authorized(self) -> bool:
        """True with the right token (or if the server has none), False with no token at all."""
        sent = self.headers.get("Authorization")
        if self.hub.token is None or sent == f"Bearer {self.hub.token}":
            return True
        if sent is None:
            return False
        raise HubError(401, BAD_TOKEN)

    def _repo(self, write: bool = False) -> dict:
        authorized = self._authorized()
        if write and not authorized:
            raise HubError(401, "Writing needs an Authorization header with a valid token")
        repo = self.hub.store.load(self.kind, self.repo_id)
        if repo is None or (repo["private"] and not authorized):
            status = 404 if authorized else 401
            raise HubError(status, f"Repository {self.repo_id} not found", "RepoNotFound")
        if write and self.query.get("create_pr"):
            raise HubError(400, "Pull requests are not implemented by this test server")
        return repo

    def _files(self, write: bool = False) -> dict:
        return find_commit(self._repo(write), self.rev)["files"]

    # -- endpoints, in ROUTES order ------------------------------------------------------------

    def create_repo(self) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to create a repo")
        body = json.loads(self.body)
        kind, org, name = body.get("type") or "model", body.get("organization") or "", body["name"]
        if not (re.fullmatch(NAME, org) and re.fullmatch(NAME, name)):
            raise HubError(400, f"Invalid repo id {org}/{name}: it needs a namespace")
        url = web_url(self.hub.url, kind, f"{org}/{name}")
        private = body.get("visibility") == "private" or body.get("private") is True
        if not self.hub.store.create(kind, f"{org}/{name}", private):
            # create_repo(exist_ok=True) reads the url from this 409 reply
            return self._json({"error": f"You already created this {kind} repo", "url": url}, 409)
        self._json({"url": url, "name": f"{org}/{name}", "id": f"{org}/{name}"})

    def validate_yaml(self) -> None:
        self._json({"errors": [], "warnings": []})

    def repo_info(self) -> None:
        repo = self._repo()
        commit = find_commit(repo, self.rev)
        siblings = [
            {"rfilename": path, "size": meta["size"], "blobId": meta["oid"]}
            for path, meta in sorted(commit["files"].items())
        ]
        info = {"id": self.repo_id, "author": self.repo_id.split("/")[0], "sha": commit["oid"]}
        info |= {"private": repo["private"], "gated": False, "disabled": False, "tags": []}
        info |= {"createdAt": repo["createdAt"], "lastModified": commit["date"]}
        self._json({**info, "siblings": siblings, "downloads": 0, "likes": 0})

    def tree(self) -> None:
        recursive = self.query.get("recursive", [""])[0].lower() in ("1", "true")
        self._json(tree_entries(self._files(), self.path_in_repo, recursive))

    def paths_info(self) -> None:
        files, out = self._files(), []
        for path in (p.strip("/") for p in parse_qs(self.body.decode()).get("paths", [])):
            if path in files:
                out.append(file_entry(path, files[path]))
            elif any(p.startswith(path + "/") for p in files):
                out.append(dir_entry(path))
        self._json(out)

    def preupload(self) -> None:
        files, out = self._files(write=True), []
        for item in json.loads(self.body)["files"]:
            mode, meta = upload_mode(item), files.get(item["path"])
            oid = meta and (meta["sha256"] if mode == "lfs" else meta["oid"])  # unchanged: no-op
            out.append(
                {"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid}
            )
        self._json({"files": out})

    def lfs_batch(self) -> None:
        self._repo(write=True)
        request = json.loads(self.body)
        if request.get("operation") != "upload":
            raise HubError(400, "Only uploads go through the LFS batch API here")
        objects = []
        for obj in request["objects"]:
            oid, item = obj["oid"], {"oid": obj["oid"], "size": obj["size"]}
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                raise HubError(400, f"Invalid LFS oid {oid}")
            if not self.hub.store.blob(oid).exists():  # else: no "actions", nothing to upload
                ticket = secrets.token_urlsafe(16)
                self.hub.tickets[ticket] = oid
                item["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{oid}/{ticket}"}}
            objects.append(item)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_put(self) -> None:
        oid = self.args["oid"]
        if self.hub.tickets.pop(self.args["ticket"], None) != oid:
            raise HubError(403, "Unknown or already used upload URL")
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, "The uploaded content does not match its sha256")
        self.hub.store.put_blob(self.body)
        self._send(200, b"")

    def commit(self) -> None:
        if self.rev != "main":
            raise HubError(400, f"Commits go to 'main' only, not to {self.rev!r}")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        store = self.hub.store
        with store.lock:
            repo = self._repo(write=True)
            files = dict(repo["commits"][-1]["files"])
            if not repo["commits"][-1]["oid"].startswith(header.get("parentCommit") or ""):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            for line in lines:
                apply_operation(store, files, line["key"], line["value"])
            oid = add_commit(repo, files, header.get("summary", ""))
            store.save(self.kind, self.repo_id, repo)
        url = web_url(self.hub.url, self.kind, self.repo_id)
        self._json({"success": True, "commitOid": oid, "commitUrl": f"{url}/commit/{oid}"})

    def resolve(self) -> None:
        commit = find_commit(self._repo(), self.rev)
        meta = commit["files"].get(self.path_in_repo)
        if meta is None:
            raise HubError(404, f"No file {self.path_in_repo}", "EntryNotFound", commit["oid"])
        data = self.hub.store.blob(meta["sha256"]).read_bytes()
        etag = meta["sha256"] if meta["lfs"] else meta["oid"]  # as on the Hub
        headers = {"X-Repo-Commit": commit["oid"], "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        status, size = 200, len(data)
        # HfFileSystem reads blocks with "bytes=a-b", streams resume with "bytes=a-"
        if span := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
            start, end = int(span[1]), min(int(span[2] or size - 1), size - 1)
            if start > end:
                raise HubError(416, f"Range {span[0]} is outside the {size} bytes")
            status, data = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(status, data, {**headers, "Content-Type": "application/octet-stream"})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer


class HubServer:
    """``with HubServer(tmp_path, token="t") as hub:`` then ``hub.url``, ``hub.requests``."""

    def __init__(self, root: Path, token: str | None = None) -> None:
        self.store = RepoStore(Path(root))
        self.token = token
        self.requests: list[Recorded] = []
        self.tickets: dict[str, str] = {}  # one-time LFS upload URLs: ticket -> sha256
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), HubHandler)
        self._httpd.hub = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
