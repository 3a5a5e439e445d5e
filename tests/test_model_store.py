"""The model download against a local HTTP server that honours Range and can
cut a transfer short, serving a small model-shaped zip built here."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assist.asr import model_store
from assist.asr.model_store import DownloadError, ModelEntry
from assist.cli import models as models_cli


def model_zip(top: str = "vosk-model-test") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/am/final.mdl", os.urandom(150_000))  # random: does not compress
        z.writestr(f"{top}/conf/mfcc.conf", "--sample-frequency=16000\n")
        z.writestr(f"{top}/graph/HCLr.fst", os.urandom(50_000))
        z.writestr(f"{top}/README", "test model\n")
    return buf.getvalue()


class Server:
    """Serves `body` at /model.zip; `cut_after` bytes ends a response early."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.ranges.append(self.headers.get("Range"))
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(outer.body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(outer.body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(outer.body) - 1}/{len(outer.body)}"
                    )
                else:
                    self.send_response(200)
                data = outer.body[start:]
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if outer.cut_after is not None:
                    data = data[: outer.cut_after]
                    self.close_connection = True
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.zip"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server(model_zip())
    yield s
    s.stop()


def entry(s: Server, sha: str | None = None) -> ModelEntry:
    digest = hashlib.sha256(s.body).hexdigest() if sha is None else sha
    return ModelEntry("vosk-model-test", "ko", s.url, len(s.body), "0.2 MB", digest)


def test_good_archive_is_verified_and_unpacked(server, tmp_path, capsys):
    out = io.StringIO()
    dest = model_store.download(entry(server), tmp_path, out=out)
    assert dest == tmp_path / "vosk-model-test"
    assert (dest / "am" / "final.mdl").stat().st_size == 150_000  # top folder stripped
    assert model_store.is_installed(dest)
    assert f"installed in {dest.resolve()}" in out.getvalue()
    assert not (tmp_path / ".downloads" / "vosk-model-test.zip").exists()
    assert server.ranges == [None]


def test_bad_checksum_refuses_to_unpack_and_deletes_the_archive(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        model_store.download(entry(server, sha="0" * 64), tmp_path, out=io.StringIO())
    assert not (tmp_path / "vosk-model-test").exists()
    assert list((tmp_path / ".downloads").iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.cut_after = 70_000
    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        model_store.download(entry(server), tmp_path, out=io.StringIO())
    part = tmp_path / ".downloads" / "vosk-model-test.zip.part"
    assert part.stat().st_size == 70_000
    assert not (tmp_path / "vosk-model-test").exists()

    server.cut_after = None
    out = io.StringIO()
    dest = model_store.download(entry(server), tmp_path, out=out)
    assert server.ranges == [None, "bytes=70000-"]
    assert "resuming" in out.getvalue()
    assert model_store.is_installed(dest)
    assert hashlib.sha256((dest / "conf" / "mfcc.conf").read_bytes()).hexdigest() == (
        hashlib.sha256(b"--sample-frequency=16000\n").hexdigest()
    )


def test_unpinned_archive_needs_an_explicit_flag(server, tmp_path):
    unpinned = entry(server, sha="")
    with pytest.raises(DownloadError, match="--allow-unverified") as e:
        model_store.download(unpinned, tmp_path, out=io.StringIO())
    assert hashlib.sha256(server.body).hexdigest() in str(e.value)  # so it can be pinned
    assert not (tmp_path / "vosk-model-test").exists()
    out = io.StringIO()
    dest = model_store.download(unpinned, tmp_path, allow_unverified=True, out=out)
    assert "UNVERIFIED" in out.getvalue()
    assert model_store.is_installed(dest)
    assert server.ranges == [None]  # the kept archive was not fetched twice


def test_a_zip_that_is_not_a_model_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes/readme.txt", "hello")
    s = Server(buf.getvalue())
    try:
        with pytest.raises(DownloadError, match="does not hold a Vosk model"):
            model_store.download(entry(s), tmp_path, out=io.StringIO())
    finally:
        s.stop()
    assert not (tmp_path / "vosk-model-test").exists()


def test_cli_download_then_list(server, tmp_path, capsys):
    manifest = tmp_path / "manifest.toml"
    digest = hashlib.sha256(server.body).hexdigest()
    manifest.write_text(
        f'[[model]]\nid = "vosk-model-test"\nlanguage = "ko"\ndefault = true\n'
        f'url = "{server.url}"\nsize = {len(server.body)}\nsize_text = "0.2 MB"\n'
        f'sha256 = "{digest}"\n\n'
        f'[[model]]\nid = "vosk-model-other"\nlanguage = "en"\nurl = "{server.url}"\n'
        f'size_text = "1 MB"\nsha256 = ""\n'
    )
    models = tmp_path / "models"
    assert models_cli.main(["--manifest", str(manifest), "download", "--dir", str(models)]) == 0
    assert models_cli.main(["--manifest", str(manifest), "list", "--dir", str(models)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(ln for ln in lines if ln.startswith("vosk-model-test"))
    assert "(default)" in row and f"installed {models / 'vosk-model-test'}" in row
    other = next(ln for ln in lines if ln.startswith("vosk-model-other"))
    assert "NOT PINNED" in other and other.rstrip().endswith("missing")


def test_cli_unknown_model_is_one_clear_line(tmp_path, capsys):
    assert models_cli.main(["download", "no-such-model", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'no-such-model'; known: vosk-model-small-cn-0.22")
    assert err.count("\n") == 1


def test_shipped_manifest_has_the_two_small_models_pinned():
    entries = model_store.read_manifest()
    default = model_store.find(entries, None)
    assert default.id == "vosk-model-small-cn-0.22" and default.language == "zh"
    en = model_store.find(entries, "vosk-model-small-en-us-0.15")
    assert len(default.sha256) == 64 and len(en.sha256) == 64
    assert all(e.url.endswith(f"/{e.id}.zip") for e in entries)
