"""The Frey data: loading, the fixed split, minibatch schedule, and the checksum-verified download
(against a small HTTP server on 127.0.0.1 started by the test)."""

from __future__ import annotations

import hashlib
import http.server
import socket

import numpy as np
import pytest
import scipy.io
from helpers.reliability import local_http_server

from core import data
from core.data import BatchSchedule, DataError, download, ensure_data, load_frey, split_indices, split_of


# ------------------------------------------------------------------ loading and splitting
@pytest.mark.frey
def test_load_frey_shape_dtype_range(frey, frey_path):
    assert frey.shape == (1965, 560)
    assert frey.dtype == np.float32
    assert frey.flags.c_contiguous
    assert 0.0 <= frey.min() and frey.max() <= 1.0
    ff = scipy.io.loadmat(str(frey_path))["ff"]
    np.testing.assert_array_equal(frey[0], (ff[:, 0] / np.float32(255.0)).astype(np.float32))
    np.testing.assert_allclose(frey[1234], ff[:, 1234] / 255.0, rtol=1e-6)
    # row-major 28×20: the first 20 pixels of a row are the top image row (ff is stored column per face)
    np.testing.assert_array_equal(frey[7].reshape(28, 20)[0], frey[7][:20])
    assert frey.std() > 0.1  # real faces, not a constant


def test_split_sizes_disjoint_and_documented_formula():
    train, test = split_indices()
    assert len(train) == 1768 and len(test) == 197
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1965))
    perm = np.random.default_rng(0).permutation(1965)  # the formula in the docstring
    np.testing.assert_array_equal(test, perm[:197])
    np.testing.assert_array_equal(train, perm[197:])
    # stable between calls, and split_of agrees
    np.testing.assert_array_equal(split_indices()[1], test)
    assert split_of(int(test[0])) == "test" and split_of(int(train[0])) == "train"


def test_batch_schedule_covers_each_epoch_without_repeats():
    ids = np.arange(100, 150)  # 50 image ids, batch 16 -> 4 batches per epoch (16, 16, 16, 2)
    sched = BatchSchedule(ids, 16, seed=7)
    assert sched.batches_per_epoch == 4
    epochs = []
    for e in range(3):
        batches = [sched.batch(e * 4 + b) for b in range(4)]
        assert [len(b) for b in batches] == [16, 16, 16, 2]
        seen = np.concatenate(batches)
        assert len(set(seen.tolist())) == 50  # no image twice within the epoch
        assert set(seen.tolist()) == set(ids.tolist())  # every image once
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch


def test_batch_schedule_depends_on_the_step_alone():
    a = BatchSchedule(np.arange(40), 8, seed=1)
    b = BatchSchedule(np.arange(40), 8, seed=1)
    forward = [a.batch(s).tolist() for s in range(12)]
    backward = [b.batch(s).tolist() for s in reversed(range(12))][::-1]  # a resumed run jumps around
    assert forward == backward
    it = iter(BatchSchedule(np.arange(40), 8, seed=1))
    assert [next(it).tolist() for _ in range(12)] == forward
    assert BatchSchedule(np.arange(40), 8, seed=2).batch(0).tolist() != forward[0]


def test_batch_larger_than_dataset_or_zero_raises():
    with pytest.raises(ValueError, match="larger"):
        BatchSchedule(np.arange(10), 11)
    with pytest.raises(ValueError, match="> 0"):
        BatchSchedule(np.arange(10), 0)
    assert BatchSchedule(np.arange(10), 10).batches_per_epoch == 1


# ------------------------------------------------------------------ finding the file
def test_ensure_data_with_explicit_missing_path_raises(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA", raising=False)
    missing = tmp_path / "nope.mat"
    with pytest.raises(DataError, match="not found"):
        ensure_data(missing)
    assert not missing.exists()  # no download into an explicit path


def test_ensure_data_with_missing_env_path_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA", str(tmp_path / "env.mat"))
    with pytest.raises(DataError, match="env.mat"):
        ensure_data(None)


def test_ensure_data_without_download_permission(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA", raising=False)
    monkeypatch.setattr(data, "DEFAULT_PATH", tmp_path / "frey_rawface.mat")
    with pytest.raises(DataError, match="--data"):
        ensure_data(None, allow_download=False)


def test_ensure_data_returns_existing_file(frey_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA", raising=False)
    assert ensure_data(frey_path) == frey_path


def test_load_frey_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_frey(tmp_path / "missing.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(DataError):
        load_frey(junk)
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"faces": np.zeros((560, 1965), np.uint8)})
    with pytest.raises(DataError, match="'ff'"):
        load_frey(other)
    wrong = tmp_path / "wrong.mat"
    scipy.io.savemat(str(wrong), {"ff": np.zeros((560, 10), np.uint8)})
    with pytest.raises(DataError, match="shape"):
        load_frey(wrong)


# ------------------------------------------------------------------ download
PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several 64 kB chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/frey.mat":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/cut.mat":  # promises more than it sends, then drops the connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD) + 50_000))
            self.end_headers()
            self.wfile.write(PAYLOAD)
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    yield from local_http_server(_Handler)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_download_success_with_progress(server, tmp_path):
    calls = []
    dest = tmp_path / "sub" / "frey.mat"
    out = download(f"{server}/frey.mat", dest, sha256=PAYLOAD_SHA, progress=lambda d, t: calls.append((d, t)))
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert len(calls) >= 2
    assert all(t == len(PAYLOAD) for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == len(PAYLOAD)
    assert list(dest.parent.iterdir()) == [dest]  # no .part left behind


def test_download_wrong_checksum_keeps_nothing(server, tmp_path):
    dest = tmp_path / "frey.mat"
    with pytest.raises(DataError, match="SHA-256"):
        download(f"{server}/frey.mat", dest, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_download_wrong_checksum_does_not_replace_existing_file(server, tmp_path):
    dest = tmp_path / "frey.mat"
    dest.write_bytes(b"previous")
    with pytest.raises(DataError):
        download(f"{server}/frey.mat", dest, sha256="0" * 64)
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["frey.mat"]


def test_download_dropped_connection_keeps_nothing(server, tmp_path):
    dest = tmp_path / "frey.mat"
    with pytest.raises(DataError):
        download(f"{server}/cut.mat", dest, sha256=PAYLOAD_SHA, timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_download_http_error_and_refused_connection(server, tmp_path):
    with pytest.raises(DataError, match="could not download"):
        download(f"{server}/missing.mat", tmp_path / "a.mat", sha256=PAYLOAD_SHA)
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(DataError):
        download(f"http://127.0.0.1:{closed_port}/frey.mat", tmp_path / "b.mat", sha256=PAYLOAD_SHA, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_ensure_data_downloads_to_the_default_path(server, tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA", raising=False)
    target = tmp_path / "data" / "frey_rawface.mat"
    monkeypatch.setattr(data, "DEFAULT_PATH", target)
    monkeypatch.setattr(data, "FREY_SHA256", PAYLOAD_SHA)
    assert ensure_data(None, url=f"{server}/frey.mat") == target
    assert target.read_bytes() == PAYLOAD
