"""Your own data set: every format from small files the tests write (and a malformed one of each), value
ranges, binarisation, a folder with odd files, and a round trip train → save → reopen → evaluate."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from core.data import DataError
from core.dataset import check_compatible, model_image_shape
from core.dataset_io import binarized, evaluation_view, open_dataset, parse_image_shape, split_spec, to_unit_range

H, W, N = 6, 4, 40  # non-square on purpose: 6 rows × 4 columns


@pytest.fixture
def pixels() -> np.ndarray:
    """(N, H, W) uint8 images whose top row is bright: upright order is checkable."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 100, (N, H, W), dtype=np.uint8)
    images[:, 0, :] = 250
    return images


def idx_bytes(images: np.ndarray) -> bytes:
    return b"\0\0\x08\x03" + struct.pack(">3I", *images.shape) + images.tobytes()


def assert_same_images(ds, pixels):
    assert ds.image_shape == (H, W) and ds.n == N
    np.testing.assert_array_equal(ds.images, pixels.reshape(N, -1).astype(np.float32) / 255)
    assert ds.images.reshape(N, H, W)[:, 0].min() > 0.95  # the bright row is the top row


def test_npy_npz_mat_idx_and_folder_give_the_same_images(tmp_path, pixels):
    import scipy.io
    from PIL import Image

    np.save(tmp_path / "a.npy", pixels)
    np.save(tmp_path / "flat.npy", pixels.reshape(N, -1))
    np.savez(tmp_path / "b.npz", train=pixels, labels=np.arange(N))
    scipy.io.savemat(tmp_path / "cols.mat", {"X": pixels.reshape(N, -1).T})  # images as columns (Frey's layout)
    scipy.io.savemat(tmp_path / "rows.mat", {"X": pixels.reshape(N, -1), "y": np.arange(N)})
    (tmp_path / "t-images-idx3-ubyte").write_bytes(idx_bytes(pixels))
    with gzip.open(tmp_path / "t-images-idx3-ubyte.gz", "wb") as f:
        f.write(idx_bytes(pixels))
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, img in enumerate(pixels):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    specs = [("a.npy", None), ("flat.npy", (H, W)), ("b.npz:train", None), ("cols.mat", (H, W)),
             ("rows.mat:X", (H, W)), ("t-images-idx3-ubyte", None), ("t-images-idx3-ubyte.gz", None), ("pngs", None)]
    fingerprints = set()
    for spec, shape in specs:
        ds = open_dataset(str(tmp_path / spec), shape)
        assert_same_images(ds, pixels)
        fingerprints.add(ds.fingerprint)
    assert len(fingerprints) == 1  # same pixels, same fingerprint, whatever the format
    assert "one image per column" in open_dataset(str(tmp_path / "cols.mat"), (H, W)).note
    assert "one image per row" in open_dataset(str(tmp_path / "rows.mat:X"), (H, W)).note


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("bad.npy", b"\x93NUMPY garbage", "not a readable NumPy"),
    ("bad.npz", b"PK\x03\x04 truncated", "not a readable NumPy file"),
    ("bad.mat", b"MATLAB 5.0 MAT-file" + b"\0" * 40, "not a readable MATLAB .mat file"),
    ("bad-images-idx3-ubyte", b"\0\0\x08\x03" + struct.pack(">3I", 10, 6, 4) + b"\1" * 50, "truncated"),
    ("worse-images-idx3-ubyte.gz", b"not gzip at all", "not a readable IDX file"),
    ("plain-idx3-ubyte", b"GIF89a....", "not an IDX file"),
])
def test_malformed_files_are_one_line_errors(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=fragment) as info:
        open_dataset(str(path), (H, W))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_wrong_shapes_and_names_are_explained(tmp_path, pixels):
    np.save(tmp_path / "flat.npy", pixels.reshape(N, -1))
    with pytest.raises(DataError, match="give --image-shape HxW"):
        open_dataset(str(tmp_path / "flat.npy"))
    with pytest.raises(DataError, match="neither its rows nor its columns have 5×5 = 25 pixels"):
        open_dataset(str(tmp_path / "flat.npy"), (5, 5))
    np.savez(tmp_path / "two.npz", a=pixels, b=pixels)
    with pytest.raises(DataError, match=r"holds 2 arrays \(a, b\); pick one with .*two.npz:NAME"):
        open_dataset(str(tmp_path / "two.npz"))
    with pytest.raises(DataError, match="has no array 'c'; its arrays: a, b"):
        open_dataset(str(tmp_path / "two.npz:c"))
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds Python objects"):  # never unpickled
        open_dataset(str(tmp_path / "obj.npy"), (1, 1))
    with pytest.raises(DataError, match="unknown data format"):
        (tmp_path / "x.csv").write_text("1,2")
        open_dataset(str(tmp_path / "x.csv"))
    with pytest.raises(DataError, match="not found"):
        open_dataset(str(tmp_path / "missing.npy"))
    import scipy.io

    scipy.io.savemat(tmp_path / "other.mat", {"X": pixels.reshape(N, -1)})
    # a .mat without :VAR and --image-shape is read as Frey's file; the error says how to read other images
    with pytest.raises(DataError, match=r"no variable 'ff'.*other.mat:VAR, with --image-shape HxW"):
        open_dataset(str(tmp_path / "other.mat"))
    assert split_spec("a/b.npz:train") == (tmp_path.__class__("a/b.npz"), "train")
    assert parse_image_shape("28x20") == (28, 20) and parse_image_shape("6×4") == (6, 4)
    with pytest.raises(ValueError, match="HxW"):
        parse_image_shape("28")


def test_value_ranges():
    ints = np.array([[0, 1000], [500, 250]], dtype=np.int32)
    scaled, note = to_unit_range(ints, "x")
    np.testing.assert_allclose(scaled, ints / 1000)
    assert "scaled by the data's maximum" in note
    small, note = to_unit_range(np.array([[0, 255]], dtype=np.int64), "x")
    assert small.max() == 1.0 and "0…255 scaled by 1/255" in note
    kept, note = to_unit_range(np.array([[0.0, 0.5, 1.0]]), "x")
    np.testing.assert_array_equal(kept, [[0.0, 0.5, 1.0]])
    for bad, fragment in [(np.array([[0.0, 2.0]]), "floats must already be in"), (np.array([[-1, 3]]), "negative"),
                          (np.array([[np.nan, 0.5]]), "NaN"), (np.array([[1j]]), "expected numbers")]:
        with pytest.raises(DataError, match=fragment):
            to_unit_range(bad, "x")


def test_a_folder_skips_odd_and_unreadable_images_with_a_warning(tmp_path, pixels):
    from PIL import Image

    for i, img in enumerate(pixels[:5]):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "odd.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.warns(UserWarning, match=r"skipped 2 of 7 images: broken.png \(unreadable.*odd.jpg \(9×9, not 6×4\)"):
        ds = open_dataset(str(tmp_path))
    assert ds.n == 5 and ds.image_shape == (H, W)
    with pytest.warns(UserWarning, match="skipped 1 of 7 images: broken.png"):
        resized = open_dataset(str(tmp_path), (3, 2))  # with --image-shape every readable image is resized
    assert resized.n == 6 and resized.image_shape == (3, 2)


def test_binarisation_views(pixels):
    from core.dataset import Dataset

    ds = Dataset(pixels.reshape(N, -1) / 255.0, (H, W), "grey")
    static = binarized(ds, seed=3)
    assert set(np.unique(static.images)) == {0.0, 1.0}
    np.testing.assert_array_equal(static.images, binarized(ds, seed=3).images)
    assert abs(static.images.mean() - ds.images.mean()) < 0.03
    view, note = evaluation_view(ds, "dynamic")
    assert "dynamic" in note and set(np.unique(view.images)) == {0.0, 1.0}
    assert evaluation_view(ds)[0] is ds


def test_round_trip_train_save_reopen_evaluate_on_a_non_frey_set(tmp_path, pixels):
    import main
    from core.checkpoint import load_model
    from core.evaluate import evaluate

    np.save(tmp_path / "faces.npy", pixels)
    out = tmp_path / "m.npz"
    code = main.main(["train", "--data", str(tmp_path / "faces.npy"), "--hidden", "8", "--latent", "2", "--steps",
                      "30", "--batch-size", "8", "--binarize", "dynamic", "--quiet", "--out", str(out)])
    assert code == 0
    loaded = load_model(out)
    ds = open_dataset(str(tmp_path / "faces.npy"))
    assert loaded.meta["data"] == {"name": "faces", "n": N, "image_shape": [H, W], "fingerprint": ds.fingerprint}
    assert loaded.meta["train"]["binarize"] == "dynamic"
    assert model_image_shape(loaded.meta, loaded.model.config.input_dim) == (H, W)
    assert check_compatible(loaded.model.config.input_dim, loaded.meta["data"], ds) == []
    view, _ = evaluation_view(ds, loaded.settings.binarize, loaded.settings.seed)
    result = evaluate(loaded.model, view.split("test"))
    assert result["neg_elbo"] == pytest.approx(loaded.meta["train"]["final"]["test_neg_elbo"], rel=1e-6)
    # resuming continues on the same data; other image sizes are refused with one line, exit 2
    assert main.main(["train", "--resume", "--data", str(tmp_path / "faces.npy"), "--steps", "40", "--quiet",
                      "--out", str(out)]) == 0
    assert load_model(out).model.step == 40
    np.save(tmp_path / "wide.npy", pixels.reshape(N, W, H))
    assert main.main(["train", "--resume", "--data", str(tmp_path / "wide.npy"), "--steps", "50", "--quiet",
                      "--out", str(out)]) == 2


def test_model_image_shape_for_old_and_new_files():
    assert model_image_shape({}, 560) == (28, 20)
    assert model_image_shape({"data": {"image_shape": [6, 4]}}, 24) == (6, 4)
    assert model_image_shape({}, 784) == (28, 28) and model_image_shape({}, 24) == (6, 4)


def test_a_models_view_of_a_data_set_warns_on_other_data_and_refuses_other_sizes(pixels):
    from core.dataset import Dataset
    from core.models import Model, ModelConfig
    from core.record import ModelRecord

    def record(input_dim: int, meta: dict) -> ModelRecord:
        model = Model(ModelConfig(hidden=[4], latent=2, input_dim=input_dim))
        return ModelRecord.from_meta(model, None, meta)

    ds = Dataset(pixels.reshape(N, -1) / 255.0, (H, W), "grey")
    meta = {"data": ds.to_meta(), "train": {"binarize": "static", "seed": 2}}
    view, notes = record(H * W, meta).data_view(ds)
    np.testing.assert_array_equal(view.images, binarized(ds, 2).images)
    assert notes == ["binarize static: the training run's fixed draw (seed 2)"]
    other = Dataset(1.0 - ds.images, (H, W), "inverted")
    _, notes = record(H * W, {"data": ds.to_meta()}).data_view(other)
    assert len(notes) == 1 and "trained on other data (grey, 40 images)" in notes[0]
    with pytest.raises(DataError, match="trained on 6×4 images, these are 4×6"):
        record(H * W, meta).data_view(Dataset(ds.images, (W, H), "turned"))
    with pytest.raises(DataError, match="reads 560 pixels per image"):
        record(560, {}).data_view(ds)  # an old Frey model meets these images


def test_every_command_reads_any_image_shape(tmp_path, pixels, capsys):
    """sample, grid, eval and evaluate on a model of 6×4 images: PNGs upright at 6×4, other data warned
    about, other image sizes refused with one line."""
    import main
    from core.images import read_png_gray

    np.save(tmp_path / "faces.npy", pixels)
    model = tmp_path / "m.npz"
    assert main.main(["train", "--data", str(tmp_path / "faces.npy"), "--hidden", "8", "--latent", "2", "--steps",
                      "20", "--batch-size", "8", "--quiet", "--out", str(model)]) == 0
    weights = ["--weights", str(model)]
    assert main.main(["sample", *weights, "--n", "3", "--ncols", "3", "--scale", "1", "--save",
                      str(tmp_path / "s.png")]) == 0
    assert read_png_gray(tmp_path / "s.png").shape == (H + 2, 3 * W + 4)
    assert main.main(["grid", *weights, "--n", "2", "--scale", "1", "--data", str(tmp_path / "faces.npy"),
                      "--save", str(tmp_path / "g.png")]) == 0
    assert read_png_gray(tmp_path / "g.png").shape == (2 * H + 3, 2 * W + 3)
    assert main.main(["eval", *weights, "--index", "0", "39", "--data", str(tmp_path / "faces.npy"), "--save",
                      str(tmp_path / "e.png")]) == 0
    pair = read_png_gray(tmp_path / "e.png")
    assert pair.shape == (4 * (2 * H + 3), 4 * (2 * W + 3))
    assert pair[4:8, 4:4 * (W + 1)].min() > 230  # image 0's bright top row, upright, at the top
    capsys.readouterr()
    assert main.main(["evaluate", *weights, "--iwae-k", "0", "--data", str(tmp_path / "faces.npy"), "--json"]) == 0
    assert "warning" not in capsys.readouterr().err
    np.save(tmp_path / "inverted.npy", 255 - pixels)
    assert main.main(["evaluate", *weights, "--iwae-k", "0", "--data", str(tmp_path / "inverted.npy"), "--json"]) == 0
    assert "warning: the model was trained on other data (faces, 40 images)" in capsys.readouterr().err
    np.save(tmp_path / "wide.npy", pixels.reshape(N, W, H))
    assert main.main(["evaluate", *weights, "--data", str(tmp_path / "wide.npy")]) == 2
    err = capsys.readouterr().err
    assert "trained on 6×4 images, these are 4×6" in err and len(err.strip().splitlines()) == 1


def test_numpy_files_are_checked_before_their_data_is_read(tmp_path):
    """A FIFO is refused without blocking, a header declaring 10^12 values is refused before reading, and an
    .npz member that inflates far past its header's size (a zip bomb) is refused before inflating it."""
    import io
    import os
    import zipfile

    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="FIFO"):
        open_dataset(str(fifo), (H, W))
    with open(tmp_path / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 10**6)})
    with pytest.raises(DataError, match=r"\(1,000,000,000,000 values"):
        open_dataset(str(tmp_path / "huge.npy"), (H, W))
    member = io.BytesIO()
    np.lib.format.write_array(member, np.zeros((2, 2), np.uint8))
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", member.getvalue() + bytes(20_000_000))  # 20 MB of zeros deflate to ~20 kB
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    with pytest.raises(DataError, match="inflates to 20,000,"):
        open_dataset(str(tmp_path / "bomb.npz:x"), (H, W))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_an_idx_file_with_trailing_bytes_is_refused(tmp_path, pixels, gz):
    """One byte more than the header promises is refused as firmly as one byte less (it was passed unnoticed)."""
    path = tmp_path / ("t-images-idx3-ubyte" + (".gz" if gz else ""))
    for extra, words in ((b"\0", "holds 961"), (b"", None)):
        content = idx_bytes(pixels) + extra
        if gz:
            with gzip.open(path, "wb") as f:
                f.write(content)
        else:
            path.write_bytes(content)
        if words is None:
            assert_same_images(open_dataset(str(path)), pixels)
            continue
        with pytest.raises(DataError, match=f"trailing bytes.*{words}"):
            open_dataset(str(path))


def test_a_3d_array_is_checked_against_image_shape_as_height_by_width(tmp_path, pixels):
    """(N, 6, 4) images: --image-shape 6x4 (H×W) is right and accepted, the transposed 4x6 is refused
    (square images would hide a height/width mix-up)."""
    np.save(tmp_path / "a.npy", pixels)
    assert open_dataset(str(tmp_path / "a.npy"), (H, W)).image_shape == (H, W)
    with pytest.raises(DataError, match="holds 6×4 images, not the 4×6 of --image-shape"):
        open_dataset(str(tmp_path / "a.npy"), (W, H))
