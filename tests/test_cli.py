"""The command line, run as a user runs it: ``python main.py ...`` in a subprocess from the repo root.

Every user error must end with exactly one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import import_legacy, load_model
from core.data import split_indices
from core.evaluate import neg_elbo
from core.images import mosaic, read_png_gray

ROOT = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ["train", "gradcheck", "eval", "sample", "grid", "evaluate", "import-legacy", "screenshots", "gui",
               "traverse", "interpolate", "attribute", "timeline"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def env(frey_path) -> dict:
    # one BLAS thread: tiny matrices, and a busy shared machine makes spinning BLAS threads slow
    return {**os.environ, "VAE_DATA": str(frey_path), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}


@pytest.fixture(scope="module")
def cli(env):
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)

    return run


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2 and exactly one line on stderr (no traceback), naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("main.py") and "error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def trained(cli, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cli") / "vae.npz"
    result = cli("train", "--hidden", "16", "--latent", "4", "--steps", "200", "--quiet", "--out", out)
    return out, result


# ------------------------------------------------------------------ help
def test_main_help_lists_every_subcommand(cli):
    result = cli("--help")
    assert result.returncode == 0 and result.stderr == ""
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(cli, name):
    result = cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: main.py {name}")


# ------------------------------------------------------------------ train
def test_train_writes_a_loadable_model_and_reports_elbo(trained, frey):
    out, result = trained
    assert result.returncode == 0, result.stderr
    match = re.search(r"train −ELBO\s+([\d.]+) nats/image\s+test −ELBO\s+([\d.]+) nats/image", result.stdout)
    assert match, result.stdout
    train_value, test_value = float(match.group(1)), float(match.group(2))
    loaded = load_model(out)
    assert loaded.model.step == 200
    assert loaded.model.config.hidden == [16] and loaded.model.config.latent == 4 and loaded.model.is_vae
    assert loaded.optimizer_state is not None and loaded.optimizer_state["name"] == "adam"
    train_ids, test_ids = split_indices()
    # the printed numbers are the saved model's −ELBO (fixed evaluation seed)
    assert neg_elbo(loaded.model, frey[test_ids]) == pytest.approx(test_value, abs=0.006)
    assert neg_elbo(loaded.model, frey[train_ids]) == pytest.approx(train_value, abs=0.006)
    assert loaded.meta["train"]["final"]["test_neg_elbo"] == pytest.approx(test_value, abs=0.006)
    assert 300 < test_value < 466  # learned something from the untrained ~466 nats
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary files left


def test_train_resume_continues(trained, cli, tmp_path):
    original, _ = trained
    out = tmp_path / "resumed.npz"
    shutil.copy(original, out)
    result = cli("train", "--resume", "--steps", "260", "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "trained 60 steps" in result.stdout and "model has 260 steps" in result.stdout
    resumed = load_model(out)
    assert resumed.model.step == 260 and resumed.optimizer_state["t"] == 260
    assert resumed.model.config.to_dict() == load_model(original).model.config.to_dict()
    again = cli("train", "--resume", "--steps", "100", "--quiet", "--out", out)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert load_model(out).model.step == 260


def test_train_threads_give_the_same_model_and_are_shown_and_recorded(cli, tmp_path):
    """--threads 2 (NumPy's BLAS on two threads during each step) trains bit-identically to --threads 1; the
    progress line says the count, the model file records the setting and what was used."""
    models = {}
    for threads in ("1", "2", "auto"):
        out = tmp_path / f"t{threads}.npz"
        result = cli("train", "--steps", "40", "--log-every", "10", "--eval-every", "0", "--threads", threads,
                     "--out", out)
        assert result.returncode == 0, result.stderr
        models[threads] = load_model(out)
        if threads != "auto":
            assert f"{threads} thread" in result.stderr.splitlines()[-1], result.stderr
    np.testing.assert_array_equal(models["1"].model.flat, models["2"].model.flat)
    np.testing.assert_array_equal(models["1"].model.flat, models["auto"].model.flat)
    assert models["2"].meta["train"]["threads"] == 2
    assert models["2"].meta["train"]["threads_used"] == {"setting": 2, "threads": 2}
    used = models["auto"].meta["train"]["threads_used"]
    assert used["setting"] == "auto" and used["threads"] in (1, 2) and sum(used["steps_at"].values()) == 40
    bad = cli("train", "--steps", "5", "--threads", "3", "--out", tmp_path / "x.npz")
    assert bad.returncode == 2 and "--threads" in bad.stderr and "invalid choice" in bad.stderr


def test_train_resume_without_a_file_is_an_error(cli, tmp_path):
    assert_user_error(cli("train", "--resume", "--steps", "10", "--quiet", "--out", tmp_path / "none.npz"),
                      "not found")


def test_train_divergence_saves_last_good_weights(cli, tmp_path):
    out = tmp_path / "diverged.npz"
    result = cli("train", "--hidden", "16", "--latent", "4", "--steps", "50", "--optimizer", "sgd", "--lr", "1e6",
                 "--log-every", "5", "--out", out)
    assert result.returncode == 1, result.stderr
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    loaded = load_model(out)  # loading itself refuses non-finite weights
    assert np.all(np.isfinite(loaded.model.flat))
    assert loaded.meta["saved_because"].startswith("diverged")


# ------------------------------------------------------------------ gradcheck
def test_gradcheck_json(cli):
    result = cli("gradcheck", "--json", "--hidden", "4", "--latent", "2", "--likelihood", "gaussian-learned")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1  # exactly one line of output: one JSON object
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    assert report["passed"] is True and report["mode"] == "full"
    names = [p["name"] for p in report["params"]]
    assert names[0] == "enc0.W" and names[-1] == "out_logvar.b" and "logvar.W" in names
    keys = {"name", "shape", "checked", "max_rel_error", "mean_rel_error", "norm_rel_error", "warnings", "passed"}
    for p in report["params"]:
        assert keys <= set(p)
        assert p["passed"] is True and p["max_rel_error"] <= 1e-5
        assert p["checked"] == int(np.prod(p["shape"]))


def test_gradcheck_of_a_model_file_in_direction_mode(trained, cli):
    out, _ = trained
    result = cli("gradcheck", "--weights", out, "--mode", "direction", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "direction" and report["overall"]["passed"]
    assert all(p["checked"] == 1 for p in report["params"])


def test_gradcheck_table(cli):
    result = cli("gradcheck", "--model", "ae", "--hidden", "6", "--latent", "2", "--mode", "sample", "--k", "4")
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout and "code.W" in result.stdout


# ------------------------------------------------------------------ eval, sample, grid, evaluate
def test_eval_prints_losses_and_writes_png(trained, cli, tmp_path):
    out, _ = trained
    png = tmp_path / "pairs.png"
    result = cli("eval", "--weights", out, "--index", "0", "5", "--save", png)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s*\d+ (train|test)", line)]
    assert [r[0] for r in rows] == ["0", "5"]
    for _, _, elbo, rec, kl in rows:
        assert float(elbo) == pytest.approx(float(rec) + float(kl), abs=0.02)
        assert float(kl) >= 0
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    image = read_png_gray(png)
    assert image.shape == tuple(4 * n for n in mosaic(np.zeros((4, 560)), ncols=2).shape)  # 2 rows of a | b, ×4
    assert image.shape == (4 * (2 * 28 + 3), 4 * (2 * 20 + 3))
    assert image.std() > 10  # faces, not a blank canvas


def test_sample_writes_a_grid_png(trained, cli, tmp_path):
    out, _ = trained
    png = tmp_path / "samples.png"
    result = cli("sample", "--weights", out, "--n", "6", "--ncols", "3", "--scale", "2", "--save", png)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert read_png_gray(png).shape == (2 * (2 * 28 + 3), 2 * (3 * 20 + 4))


def test_grid_writes_png(trained, cli, tmp_path):
    out, _ = trained
    png = tmp_path / "grid.png"
    result = cli("grid", "--weights", out, "--n", "3", "--dims", "0", "1", "--scale", "1", "--save", png)
    assert result.returncode == 0, result.stderr
    assert read_png_gray(png).shape == (3 * 28 + 4, 3 * 20 + 4)
    assert_user_error(cli("grid", "--weights", out, "--dims", "0", "9", "--save", png), "latent dim 9")


def test_grid_json_pca_axes_rebuild_every_point(trained, cli, tmp_path):
    """--json prints the grid's z row by row and the axes that rebuild them; the default for > 2 latent
    units is the principal directions, every point within Mahalanobis 3 of the posterior means."""
    out, _ = trained
    png = tmp_path / "grid.png"
    result = cli("grid", "--weights", out, "--n", "4", "--json", "--save", png, "--scale", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    z, axes = np.array(report["z"]), report["axes"]
    assert z.shape == (16, 4) and axes["kind"] == "pca" and axes["names"] == ["PC1", "PC2"]
    rebuilt = (np.array(axes["centre"]) + np.array(axes["row_values"])[:, None, None] * np.array(axes["directions"][0])
               + np.array(axes["col_values"])[None, :, None] * np.array(axes["directions"][1])).reshape(16, 4)
    np.testing.assert_allclose(z, rebuilt, atol=1e-12)
    assert report["max_mahalanobis"] <= 3.0 + 1e-9
    assert read_png_gray(png).shape == (4 * 28 + 5, 4 * 20 + 5)
    dims = json.loads(cli("grid", "--weights", out, "--n", "3", "--axes", "dims", "--dims", "2", "0", "--json").stdout)
    assert dims["axes"]["dims"] == [2, 0] and np.array(dims["z"])[:, [1, 3]].max() == 0
    assert_user_error(cli("grid", "--weights", out, "--axes", "pca", "--dims", "0", "1", "--json"), "--dims")
    assert_user_error(cli("grid", "--weights", out), "--save")


def test_grid_gif_sweeps_a_third_axis(trained, cli, tmp_path):
    from PIL import Image

    out, _ = trained
    gif = tmp_path / "sweep.gif"
    result = cli("grid", "--weights", out, "--n", "3", "--gif", gif, "--frames", "9", "--gif-scale", "1")
    assert result.returncode == 0, result.stderr
    assert "sweeping PC3" in result.stdout
    with Image.open(gif) as image:
        assert image.n_frames == 9 and image.size == (3 * 20 + 4, 3 * 28 + 4 + 2)
        first = np.asarray(image.convert("L"))[:-2].astype(int)
        image.seek(4)
        assert np.abs(np.asarray(image.convert("L"))[:-2].astype(int) - first).max() > 0  # the faces change


def test_traverse_sheet_and_gif(trained, cli, tmp_path):
    """Rows = units sorted by KL, columns −3σ … +3σ around a data face; the GIF has the frames asked for."""
    from PIL import Image

    out, _ = trained
    png, gif = tmp_path / "sheet.png", tmp_path / "walk.gif"
    result = cli("traverse", "--weights", out, "--index", "7", "--rows", "3", "--cols", "5", "--scale", "1",
                 "--save", png, "--gif", gif, "--frames", "17", "--frame-ms", "50", "--gif-scale", "2")
    assert result.returncode == 0, result.stderr
    assert read_png_gray(png).shape == (3 * 28 + 4, 5 * 20 + 6)
    kls = [float(line.split()[2]) for line in result.stdout.splitlines() if " KL " in line]
    assert len(kls) == 3 and kls == sorted(kls, reverse=True)
    with Image.open(gif) as image:
        assert image.is_animated and image.n_frames == 17 and image.info["duration"] == 50
        assert image.size == (2 * (2 * 20 + 3), 2 * (2 * 28 + 3 + 2))  # 3 rows' faces in 2 columns + the bar
    assert_user_error(cli("traverse", "--weights", out, "--gif", gif, "--frames", "1"), "--frames")
    assert_user_error(cli("traverse", "--weights", out, "--index", "99999", "--save", png), "face 99999")
    assert_user_error(cli("traverse", "--weights", out), "nothing to do")


def test_interpolate_strip_and_gif(trained, cli, tmp_path):
    from PIL import Image

    out, _ = trained
    png, gif = tmp_path / "strip.png", tmp_path / "morph.gif"
    result = cli("interpolate", "--weights", out, "--from", "3", "--to", "900", "--steps", "6", "--scale", "1",
                 "--save", png, "--gif", gif, "--frames", "12", "--size", "60x90", "--slerp")
    assert result.returncode == 0, result.stderr
    assert read_png_gray(png).shape == (28 + 2, 6 * 20 + 7)
    with Image.open(gif) as image:
        assert image.n_frames == 12 and image.size == (60, 90)
    assert_user_error(cli("interpolate", "--weights", out, "--from", "0", "--to", "1", "--gif", gif, "--size", "big"),
                      "--size")


def test_attribute_moves_a_face_and_is_stored_in_the_model(trained, cli, tmp_path, frey):
    """An attribute vector from two groups moves face 5: the strip's ends differ from its middle, which is face
    5's own decoded code; --store keeps it in the model file and --use reads it back."""
    out, _ = trained
    model_file = tmp_path / "with_attr.npz"
    shutil.copy(out, model_file)
    png = tmp_path / "strip.png"
    result = cli("attribute", "--weights", model_file, "--from", "0", "1", "2", "--to", "900", "901", "902",
                 "--apply", "5", "--steps", "5", "--scale", "1", "--save", png, "--store", "demo")
    assert result.returncode == 0, result.stderr
    strip = read_png_gray(png).astype(int)
    assert strip.shape == (28 + 2, 5 * 20 + 6)
    faces = [strip[1:29, 1 + 21 * i: 21 + 21 * i] for i in range(5)]
    from core.evaluate import posterior_means
    from core.images import to_uint8

    loaded = load_model(model_file)
    np.testing.assert_array_equal(loaded.model.flat, load_model(out).model.flat)  # only its meta changed
    means, _ = posterior_means(loaded.model, frey[[0, 1, 2, 5, 900, 901, 902]])
    own = to_uint8(loaded.model.decode(means[3:4]))[0].astype(int)
    assert np.abs(faces[2] - own).max() <= 1  # the middle of the strip is face 5 itself
    assert np.abs(faces[0] - faces[2]).max() > 5 and np.abs(faces[4] - faces[2]).max() > 5
    stored = loaded.meta["attributes"][0]
    np.testing.assert_allclose(stored["direction"], means[4:].mean(0) - means[:3].mean(0), atol=1e-5)
    again = cli("attribute", "--weights", model_file, "--use", "demo", "--apply", "5", "--steps", "5", "--scale", "1",
                "--save", tmp_path / "again.png")
    assert again.returncode == 0, again.stderr
    np.testing.assert_array_equal(read_png_gray(tmp_path / "again.png"), read_png_gray(png))
    assert_user_error(cli("attribute", "--weights", model_file, "--use", "nope", "--save", png), "no direction")
    assert_user_error(cli("attribute", "--weights", model_file, "--from", "0", "--save", png), "both groups")


def test_timeline_gif_plays_a_ledger_run(cli, tmp_path, frey):
    """A run recorded in the ledger becomes a GIF of the asked frame count; the first frame shows the first
    snapshot's reconstructions and the last the final one's."""
    from PIL import Image

    from core.animation import timeline_frames
    from core.checkpoint import load_model
    from core.ledger import Ledger

    runs, gif = tmp_path / "ledger", tmp_path / "timeline.gif"
    trained = cli("train", "--hidden", "8", "--latent", "2", "--steps", "60", "--log-every", "20", "--quiet",
                  "--runs", runs, "--out", tmp_path / "m.npz")
    assert trained.returncode == 0, trained.stderr
    result = cli("timeline", "--run", "1", "--runs", runs, "--index", "3", "7", "--gif", gif, "--frames", "7",
                 "--gif-scale", "1")
    assert result.returncode == 0, result.stderr
    with Ledger(runs) as ledger:
        steps = ledger.run(1).snapshots
        models = [load_model(ledger.snapshot_path(1, s)[1]).model for s in steps]
    want = timeline_frames(models, frey[[3, 7]], (28, 20), 7)
    with Image.open(gif) as image:
        assert image.n_frames == 7 and image.size == (2 * 20 + 3, 2 * 28 + 3 + 2)
        first = np.asarray(image.convert("L"))[:-2].astype(int)
        image.seek(6)
        last = np.asarray(image.convert("L"))[:-2].astype(int)
    assert np.abs(first - want[0]).max() <= 1 and np.abs(last - want[-1]).max() <= 1
    assert np.abs(first[30:] - last[30:]).max() > 5  # the reconstructions changed over the run
    assert_user_error(cli("timeline", "--run", "9", "--runs", runs, "--gif", gif), "9")


def test_evaluate_json(trained, cli):
    out, _ = trained
    result = cli("evaluate", "--weights", out, "--json", "--iwae-k", "5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    values = json.loads(result.stdout)
    assert set(values) == {"neg_elbo", "rec", "kl", "iwae_neg_log_px", "active_units", "bce_floor", "n"}
    assert values["n"] == 197
    assert values["neg_elbo"] == pytest.approx(values["rec"] + values["kl"])
    assert values["bce_floor"] < values["rec"]
    assert 0 <= values["active_units"] <= 4 and values["iwae_neg_log_px"] > 0
    table = cli("evaluate", "--weights", out, "--iwae-k", "0", "--split", "train")
    assert table.returncode == 0 and "1768 images" in table.stdout and "neg_elbo" in table.stdout


def test_ae_train_and_evaluate_json(cli, tmp_path):
    out = tmp_path / "ae.npz"
    trained = cli("train", "--model", "ae", "--hidden", "16", "--latent", "4", "--epochs", "2", "--batch-size", "128",
                  "--quiet", "--out", out)
    assert trained.returncode == 0, trained.stderr
    assert load_model(out).model.step == 2 * 14  # ceil(1768 / 128) = 14 batches per epoch
    values = json.loads(cli("evaluate", "--weights", out, "--json").stdout)
    assert values["kl"] == 0.0 and values["iwae_neg_log_px"] is None
    assert values["neg_elbo"] == values["rec"]


# ------------------------------------------------------------------ import-legacy
def test_import_legacy_writes_npz(legacy_ae_pickle, cli, tmp_path):
    reference_pickle = legacy_ae_pickle  # made by the tests: runs on a plain clone
    out = tmp_path / "legacy.npz"
    result = cli("import-legacy", reference_pickle, "--out", out)
    assert result.returncode == 0, result.stderr
    loaded = load_model(out)
    np.testing.assert_array_equal(loaded.model.flat, import_legacy(reference_pickle).flat)
    assert loaded.meta["imported_from"] == reference_pickle.name
    with np.load(out, allow_pickle=False) as npz:
        assert "param/enc0.W" in npz.files


def test_import_legacy_refuses_hostile_pickle(cli, tmp_path):
    sentinel = tmp_path / "sentinel"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(V touch " + str(sentinel).encode() + b"\ntR.")  # os.system('touch …')
    assert_user_error(cli("import-legacy", evil, "--out", tmp_path / "x.npz"), "refused: the pickle asks for os.system")
    assert not sentinel.exists() and not (tmp_path / "x.npz").exists()


# ------------------------------------------------------------------ user errors: one line, exit 2
@pytest.mark.parametrize("args,fragment", [
    (["train", "--lr", "-1", "--out", "x.npz"], "--lr"),
    (["train", "--lr", "nan", "--out", "x.npz"], "--lr"),
    (["train", "--batch-size", "0", "--out", "x.npz"], "--batch-size"),
    (["train", "--hidden", "abc", "--out", "x.npz"], "--hidden"),
    (["train", "--hidden", "16,-4", "--out", "x.npz"], "--hidden"),
    (["train", "--steps", "ten", "--out", "x.npz"], "--steps"),
    (["train", "--model", "gan", "--out", "x.npz"], "--model"),
    (["train"], "--out"),
    (["eval", "--weights", "m.npz", "--index", "zero"], "--index"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_flag_values(cli, args, fragment):
    assert_user_error(cli(*args), fragment)
    assert not (ROOT / "x.npz").exists()


def test_missing_model_file(cli, tmp_path):
    assert_user_error(cli("eval", "--weights", tmp_path / "nope.npz", "--index", "0"), "not found")
    assert_user_error(cli("sample", "--weights", tmp_path / "nope.npz", "--save", tmp_path / "s.png"), "not found")


@pytest.mark.parametrize("index", ["1965", "-1"])
def test_bad_image_index(trained, cli, index):
    out, _ = trained
    assert_user_error(cli("eval", "--weights", out, "--index", "3", index), "out of range")


def test_corrupt_model_files(trained, cli, tmp_path):
    out, _ = trained
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"definitely not a model" * 20)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(out.read_bytes()[:3000])
    pickled = tmp_path / "weights.npz"
    pickled.write_bytes(b"\x80\x04K\x01.")  # a pickle with an .npz name
    for bad in (garbage, truncated, pickled):
        assert_user_error(cli("evaluate", "--weights", bad, "--iwae-k", "0"), str(bad.name))
    assert_user_error(cli("train", "--resume", "--steps", "5", "--out", garbage, "--quiet"), garbage.name)


def test_missing_data_file(cli, tmp_path):
    missing = tmp_path / "none.mat"
    assert_user_error(cli("train", "--steps", "5", "--data", missing, "--out", tmp_path / "m.npz"), "not found")
    assert_user_error(cli("gradcheck", "--data", missing), "not found")
    assert not (tmp_path / "m.npz").exists()


def test_batch_larger_than_training_split(cli, tmp_path):
    assert_user_error(cli("train", "--batch-size", "5000", "--steps", "5", "--out", tmp_path / "m.npz"),
                      "larger than the training split")


@pytest.mark.parametrize("preset, expected", [(None, 1), ("2", 2)])
def test_every_command_runs_blas_on_one_thread_unless_told(preset, expected, frey_path):
    """OpenBLAS reads OPENBLAS_NUM_THREADS once, when NumPy loads: main() must set it first (training ran
    49 instead of 568 steps/s with a thread per core on the 2-core test machine); a value the user set wins."""
    probe = ("import sys, main\n"
             "from threadpoolctl import threadpool_info\n"
             "main.main(['evaluate', '--weights', 'model/ae.npz', '--split', 'test', '--json'])\n"
             "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
             "print('BLAS threads', sorted(set(blas)), file=sys.stderr)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["VAE_DATA"] = str(frey_path)
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"BLAS threads [{min(expected, os.cpu_count())}]" in result.stderr
