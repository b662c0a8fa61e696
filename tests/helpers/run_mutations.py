"""Remove each reliability protection in turn and check that its test fails (not part of the suite).

    python tests/helpers/run_mutations.py [NAME ...]

Each mutation is applied to a fresh copy of the tracked files in a temporary folder (the
working tree is never changed), then the tests that cover it run there. A mutation the tests
do not notice ("SURVIVED") means a protection without a working test; "ERROR" means the tests could
not run (only a failing test counts as caught). Prints one line per mutation and exits 1 unless every one
was caught.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
R_DATA, R_MODELS, R_FAULTS, R_GUI = ("tests/test_data_refusals.py", "tests/test_model_file_refusals.py",
                                     "tests/test_training_faults.py", "tests/test_gui_faults.py")
R_BOMBS, R_FIELDS, R_LEGACY, R_OUT, R_SIGNALS, R_GUI2 = (f"tests/test_{n}.py" for n in (
    "hostile_files", "checkpoint_fields", "legacy_pickles", "file_outputs", "cli_signals", "gui_unsaved_work"))

T_IMAGES, T_BUDGET, T_OUTPUTS, T_STARTUP, T_MODEL_DATA, T_FLOOR, T_GUI_TRAINING = (
    f"tests/test_{n}.py" for n in ("images_io", "data_budget", "cli_outputs", "cli_startup", "cli_model_data",
                                   "gradcheck_floor", "gui_training"))

# name: (target, exact text, replacement, tests to run); a mutation with several edits lists further
# (target, text, replacement) triples after the tests. A target names the code: "path::Qualname" (a function,
# method or class, e.g. "core/run.py::continue_settings", or a module-level assignment such as
# "core/settings.py::SETTINGS"); the text must occur exactly once inside it, so edits elsewhere in the file never
# move a mutation. A bare "path" (module-level code) searches the whole file.
MUTATIONS: dict[str, tuple] = {
    "data: no shape check": (
        "core/data.py::load_frey", "    if ff.shape != FREY_SHAPE:", "    if False:", [R_DATA]),
    "data: no range check": (
        "core/data.py::load_frey", "or ff.min() < 0 or ff.max() > 255:", "and False:", [R_DATA]),
    "data: no dtype check": (
        "core/data.py::load_frey", 'if ff.dtype.kind not in "fiu":', "if False:", [R_DATA]),
    "data: bad download kept": (
        "core/data.py::download", "    except DataError:\n        part.unlink(missing_ok=True)\n        raise",
        "    except DataError:\n        os.replace(part, dest)\n        raise", [R_DATA]),
    "model: no finiteness check on load": (
        "core/checkpoint.py::load_model",
        "for n, a in {**params, **optim_arrays}.items() if not np.all(np.isfinite(a))]",
        "for n, a in {**params, **optim_arrays}.items() if False]", [R_MODELS]),
    "model: no format version check": (
        "core/checkpoint.py::_meta_of", "    if version > FORMAT_VERSION:", "    if False:", [R_MODELS]),
    "model: no header shape check": (
        "core/checkpoint.py::_check_headers", "        if shape != want:", "        if False:",
        [R_MODELS, f"{R_BOMBS}::test_a_header_claiming_a_huge_shape_names_the_array_and_the_needed_shape"]),
    "model: no dtype check": (
        "core/checkpoint.py::_check_headers", '        if dtype.kind not in "fiu":', "        if False:", [R_MODELS]),
    "model: numpy's message for non-npz files": (
        "core/checkpoint.py::_Archive._open_zip", '    if head.startswith(b"\\x80"):', "    if False:", [R_MODELS]),
    "pickle: unrestricted unpickler": (
        "core/checkpoint.py::read_legacy_pickle",
        '        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()',
        '        obj = pickle.Unpickler(io.BytesIO(data), encoding="latin1").load()', [R_MODELS]),
    "pickle: no array count check": (
        "core/checkpoint.py::import_legacy", "    if len(arrays) != len(names):", "    if False:", [R_MODELS]),
    "pickle: no 2-D real check": (
        "core/checkpoint.py::import_legacy", '        if w[name].ndim != 2 or w[name].dtype.kind not in "fiu":',
        "        if False:", [R_MODELS]),
    "save: not atomic (writes the target in place)": (
        "core/safe_io.py::atomic_write",
        '        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)',
        "        tmp = target\n        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)", [R_FAULTS]),
    "save: temporary file's 0600 mode kept": (
        "core/safe_io.py::atomic_write", "        os.fchmod(fd, _file_mode(target))", "        pass", [R_FAULTS]),
    "save: temporary file left after a failed write": (
        "core/safe_io.py::atomic_write", "    except OSError as exc:\n        tmp.unlink(missing_ok=True)\n",
        "    except OSError as exc:\n", [R_FAULTS, R_OUT]),
    "save: non-finite weights written": (
        "core/checkpoint.py::_write",
        "    bad = [n for n, a in params.items() if not np.all(np.isfinite(a))]\n    if bad:\n"
        "        raise ModelFileError(f\"refusing", "    bad = []\n    if bad:\n"
        "        raise ModelFileError(f\"refusing", [R_FAULTS]),
    "save: optimiser state dropped": (
        "core/checkpoint.py::_write", "    if optimizer_state is not None:\n", "    if False:\n", [R_FAULTS]),
    "train: no restore on divergence": (
        "core/train.py::Trainer._step", "            what = \"loss\" if", "            self._restore = lambda: None\n"
        "            what = \"loss\" if", [R_FAULTS]),
    "train: no gradient check": (
        "core/train.py::Trainer._step", "        if not math.isfinite(grad_sum) or", "        if False or", [R_FAULTS]),
    "train: no final weight check": (
        "core/train.py::Trainer.run", "            if not math.isfinite(float(self.model.flat.sum())):\n"
        "                self._restore()\n                raise TrainingDiverged(f\"training diverged by step",
        "            if False:\n"
        "                self._restore()\n                raise TrainingDiverged(f\"training diverged by step",
        [R_FAULTS]),
    "train: NumPy warnings shown": (
        "core/train.py::Trainer.run",
        'np.errstate(over="ignore", invalid="ignore", divide="ignore")', "np.errstate()", [R_FAULTS]),
    "train: leaks a batch per step": (
        "core/train.py::Trainer._step", "        stats = model.forward_backward(xb,",
        "        self.__dict__.setdefault('leak', []).append(xb.copy())\n        stats = model.forward_backward(xb,",
        [R_FAULTS]),
    "cli: Ctrl-C not caught": (
        "cli/train.py::StopSignals.__enter__",
        "        self.previous = {n: signal.signal(n, self.handle) for n in STOP_SIGNALS}",
        "        self.previous = {}", [R_FAULTS]),
    "cli: Ctrl-C outside training gives a traceback": (
        "main.py::main", "    except KeyboardInterrupt:  # a second", "    except ZeroDivisionError:  # a second",
        [R_FAULTS]),
    "cli: resume ignores the saved batch size": (
        "core/run.py::continue_settings",
        "if name not in CONTINUE_MAY_CHANGE + RUN_CONTROL and value != getattr(stored, name)]",
        "if False]",
        [R_FAULTS]),
    "cli: no batch-size check": (
        "core/config.py::TrainConfig.check_data", "        if self.batch_size > fit:", "        if False:", [R_MODELS]),
    "cli: --out not checked before training": (
        "cli/train.py::run", "    check_writable(out)  # before training, not after it\n", "", [R_MODELS]),
    "cli: --lr accepts 0": (
        "core/settings.py::SETTINGS", 'low=0.0, low_open=True, optional=True', 'low=None, optional=True', [R_MODELS]),
    "cli: traceback instead of one line": (
        "main.py::main", "    except (VaeError, OSError, ValueError)", "    except (CliError,)", [R_DATA, R_MODELS]),
    "cli: download progress line not ended": (
        "cli/common.py::load_data", '        if shown["progress"]:', "        if False:", [R_DATA]),
    "config: negative beta accepted": (
        "core/settings.py::SETTINGS", '"the weight β of the KL term (β ≥ 0; 1 is the true ELBO)",\n       low=0.0,',
        '"the weight β of the KL term (β ≥ 0; 1 is the true ELBO)",\n       low=None,', [R_MODELS]),
    "gui: two training runs at once (both guards off)": (  # the panel refuses, and Start is disabled
        "vae_gui/panels/training.py::TrainingPanel.start_training", "        if self.is_running():\n",
        "        if False:\n",
        [f"{R_GUI}::test_a_second_run_is_refused_and_loading_waits",
         f"{T_GUI_TRAINING}::test_a_second_run_is_refused_while_one_runs"],
        ("vae_gui/panels/training.py::TrainingPanel._update_controls",
         "self.start_button.setEnabled(has_data and not running)", "self.start_button.setEnabled(has_data)")),
    "gui: open/load allowed during training": (
        "vae_gui/files.py::FileActions._refuse_while_training", "        if self.session.training:",
        "        if False:", [f"{R_GUI}::test_a_second_run_is_refused_and_loading_waits"]),
    "gui: load errors not shown": (
        "vae_gui/files.py::FileActions._run",
        "on_error=lambda message, _exc: self.window.show_error(error_title, message),",
        "on_error=lambda message, _exc: None,",
        [f"{R_GUI}::test_bad_model_file_shows_a_dialog_and_keeps_the_current_model",
         f"{R_GUI}::test_bad_data_file_shows_a_dialog_and_keeps_the_current_data"]),
    "gui: closing does not stop the workers": (  # neither the panels' jobs nor the others are ended
        "vae_gui/closing.py::close_window",
        "    for panel in window.panels.values():  # each panel stops its job (vae_gui.panels.base: it never waits)\n"
        "        panel.shutdown()\n"
        "    workers.drain(SHUTDOWN_MS, detach=False)  # a training run's weights reach the session here\n",
        "",
        [f"{T_GUI_TRAINING}::test_closing_the_window_during_training_stops_the_thread_cleanly",
         f"{R_GUI}::test_closing_the_window_mid_work_ends_cleanly"]),
    "gui: a paused run ignores stop": (  # a cancel must wake the job's pause wait (closing cancels it too)
        "vae_gui/workers.py::JobControl.checkpoint", "while self._paused and not self._cancelled:",
        "while self._paused:",
        [f"{T_GUI_TRAINING}::test_stop_while_paused_ends_the_run",
         f"{T_GUI_TRAINING}::test_closing_the_window_during_training_stops_the_thread_cleanly[True]",
         f"{R_GUI}::test_closing_the_window_mid_work_ends_cleanly[paused]"]),
    "gui: gradcheck not cancelled on close": (  # the check yields (and can be cancelled) only between layers
        "core/gradcheck/check.py::_full_batched",
        "            done += rows * cost\n            yield clock.progress(done, total, names[0], entries)",
        "            done += rows * cost", [f"{R_GUI}::test_closing_the_window_mid_work_ends_cleanly"]),
    "gui: loss curves not downsampled": (
        "vae_gui/widgets/loss_plots.py::_curve", '    item.setDownsampling(auto=True, method="peak")\n', "",
        [f"{R_GUI}::test_loss_curves_downsample_and_clip_to_view"]),
    "gui: loss curves antialiased": (
        "vae_gui/widgets/loss_plots.py::_curve", "name=name, antialias=False)", "name=name)",
        [f"{R_GUI}::test_loss_curves_are_drawn_without_antialiasing"]),
    "gui: divergence not marked on the plot": (
        "vae_gui/widgets/loss_plots.py::LossPlots.mark_divergence", "        self.divergence_lines.append(line)",
        "        pass",
        [f"{R_GUI}::test_divergence_dialog_plot_mark_and_finite_weights",
         f"{T_GUI_TRAINING}::test_divergence_shows_a_dialog_and_marks_the_plot"]),
    # ---- issue 10 (Reliability II)
    "model: a member read past its cap (1 GB meta)": (
        "core/checkpoint.py::_Archive._member", "        if info.file_size > max_bytes:", "        if False:",
        [f"{R_BOMBS}::test_a_model_whose_meta_inflates_to_1_gb_is_refused_unread"]),
    "model: no parameter limit": (
        "core/checkpoint.py::_config_of", "    if n_params > max_params:", "    if False:",
        [f"{R_BOMBS}::test_a_consistent_model_over_the_parameter_limit_is_refused"]),
    "model: members read with allow_pickle=True": (
        "core/checkpoint.py::_read_npy", "    return np.lib.format.read_array(f, allow_pickle=False)",
        "    return np.lib.format.read_array(f, allow_pickle=True)", [f"{R_BOMBS}::test_a_pickled_member_never_runs"]),
    "model: encrypted members read": (
        "core/checkpoint.py::_Archive._member", "        if info.flag_bits & 0x1:", "        if False:",
        [f"{R_BOMBS}::test_encrypted_or_oddly_compressed_members_are_refused"]),
    "model: any compression method": (
        "core/checkpoint.py::_Archive._member",
        "        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):",
        "        if False:", [f"{R_BOMBS}::test_encrypted_or_oddly_compressed_members_are_refused"]),
    "model: deep nesting raises RecursionError": (
        "core/checkpoint.py::_Archive.meta", "        except RecursionError:", "        except ZeroDivisionError:",
        [f"{R_BOMBS}::test_deeply_nested_meta_is_one_clear_error"]),
    "model: config numbers unchecked": (
        "core/checkpoint.py::_config_of",
        '    check_fields(config_dict, {**file_fields(MODEL), **INPUT_FIELDS}, f"{path}: config", ModelFileError)\n',
        "",
        [R_FIELDS]),
    "model: optimiser numbers unchecked": (
        "core/checkpoint.py::load_model",
        '            check_fields(optimizer_meta, OPTIMIZER_FIELDS, f"{path}: optimiser", ModelFileError)',
        "            pass", [R_FIELDS]),
    "model: step unchecked": (
        "core/checkpoint.py::load_model",
        "        check_fields(meta, META_FIELDS, str(path), ModelFileError)\n", "", [R_FIELDS]),
    "model: stored training settings unchecked": (
        "core/checkpoint.py::load_model", "        train_settings(meta, path)\n", "",
        [f"{R_FAULTS}::test_resume_from_malformed_stored_settings_is_one_line"]),
    "cli: model of another image size used": (
        "core/dataset.py::check_compatible", "    if int(input_dim) != dataset.dim:", "    if False:",
        [f"{R_FIELDS}::test_a_model_for_another_image_size_is_refused_at_load"]),
    "inputs: non-regular files read": (
        "core/safe_io.py::open_regular",
        '        if not stat.S_ISREG(info.st_mode):\n            raise error(f"{what} path',
        '        if False:\n            raise error(f"{what} path',
        [f"{R_BOMBS}::test_devices_are_refused_as_every_kind_of_input",
         f"{R_BOMBS}::test_a_fifo_is_refused_at_once_and_never_blocks"]),
    "inputs: opened blocking (a FIFO hangs)": (
        "core/safe_io.py::open_regular", "os.O_RDONLY | os.O_NONBLOCK |", "os.O_RDONLY |",
        [f"{R_BOMBS}::test_a_fifo_is_refused_at_once_and_never_blocks"]),
    "mat: every variable read": (
        "core/safe_io.py::read_mat_variable", "            return scipy.io.loadmat(f, variable_names=[name])[name]",
        "            return scipy.io.loadmat(f)[name]",
        [f"{R_BOMBS}::test_a_mat_with_1_gb_of_compressed_junk_reads_only_ff"]),
    "mat: declared size unchecked": (
        "core/safe_io.py::read_mat_variable", "        if count > max_elements:", "        if False:",
        [f"{R_BOMBS}::test_a_declared_huge_ff_is_refused_before_reading"]),
    "mat: inflation unchecked": (
        "core/safe_io.py::_check_inflated_size", "            if total > limit:", "            if False:",
        [f"{R_BOMBS}::test_a_compressed_ff_that_inflates_past_its_shape_is_refused_while_inflating"]),
    "mat: sparse not named": (
        "core/safe_io.py::read_mat_variable", '        if mclass == "sparse":', "        if False:",
        [f"{R_BOMBS}::test_a_sparse_ff_is_one_clear_error"]),
    "pickle: object and record dtypes allowed": (
        "core/checkpoint.py::_plain_dtype",
        '    if dtype.kind not in "fiub" or dtype.hasobject or dtype.fields is not None or dtype.shape != ():',
        "    if False:", [f"{R_BOMBS}::test_pickle_bombs_are_refused_before_allocating", R_LEGACY]),
    "pickle: no element limit": (
        "core/checkpoint.py::_checked_count", "    if count > MAX_LEGACY_ELEMENTS:", "    if False:",
        [f"{R_BOMBS}::test_pickle_bombs_are_refused_before_allocating"]),
    "pickle: array data length unchecked": (
        "core/checkpoint.py::_LegacyArray.__setstate__",
        "        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:",
        "        if not isinstance(data, (bytes, bytearray)):",
        [f"{R_LEGACY}::test_a_state_whose_data_does_not_fill_the_shape_is_refused"]),
    "pickle: Python 2 strings read as ASCII": (
        "core/checkpoint.py::read_legacy_pickle", '_RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()',
        "_RestrictedUnpickler(io.BytesIO(data)).load()", [f"{R_LEGACY}::test_python2_pickles_import"]),
    "pickle: _codecs.encode refused": (
        "core/checkpoint.py::_ALLOWED_GLOBALS", '    ("_codecs", "encode"): _latin1_encode,\n', "",
        [f"{R_LEGACY}::test_python3_pickles_of_every_protocol_import"]),
    "pickle: _codecs.encode in any form": (
        "core/checkpoint.py::_latin1_encode",
        '    if not isinstance(text, str) or encoding != "latin1":', "    if False:",
        [f"{R_LEGACY}::test_only_numpys_exact_forms_are_allowed"]),
    "outputs: other kinds of file replaced": (
        "core/safe_io.py::check_output", "    if not ours:", "    if False:", [R_OUT]),
    "outputs: non-regular files replaced": (
        "core/safe_io.py::check_output",
        '    if not stat.S_ISREG(info.st_mode):\n        raise error(f"refusing to write',
        '    if False:\n        raise error(f"refusing to write',
        [f"{R_OUT}::test_a_fifo_is_never_replaced_even_with_force"]),
    "outputs: stray temporaries kept": (
        "core/safe_io.py::atomic_write",
        "    remove_stray_temporaries(target.parent)\n    return target", "    return target",
        [f"{R_OUT}::test_stray_temporaries_of_ours_are_removed_by_the_next_save"]),
    "train: --out checked only when saving": (
        "cli/train.py::run", "    check_output(out, MODEL_FILE, args.force or args.resume, CliError)", "    pass",
        [f"{R_OUT}::test_train_never_overwrites_its_own_data_file"]),
    "train: signal handlers gone before the final save": (
        "cli/train.py::run", "        return cli.finish(cli.train())",
        "        result = cli.train()\n        signals.__exit__()\n        return cli.finish(result)",
        [f"{R_SIGNALS}::test_ctrl_c_during_the_final_evaluation_or_save_still_writes_the_file"]),
    "train: SIGTERM and SIGHUP not handled": (
        "cli/train.py::STOP_SIGNALS", 'for name in ("SIGINT", "SIGTERM", "SIGHUP")', 'for name in ("SIGINT",)',
        [f"{R_SIGNALS}::test_sigterm_and_sighup_save_and_exit_like_ctrl_c"]),
    "train: no lock on --out": (
        "cli/train.py::run", "    with StopSignals() as signals, OutputLock(out, CliError):",
        "    with StopSignals() as signals:",
        [f"{R_SIGNALS}::test_a_second_train_on_the_same_out_is_refused_while_the_first_runs"]),
    "train: --resume ignores contradicting flags": (
        "core/run.py::continue_settings", "    if clashes:", "    if False:",
        [f"{R_FAULTS}::test_resume_refuses_flags_that_contradict_the_file"]),
    "gui: the user's close never asks": (
        "vae_gui/closing.py::confirm_close",
        '    if reason is None or not (event.spontaneous() or getattr(window, "user_close_requested", False)):',
        "    if True:", [f"{R_GUI2}::test_quit_with_unsaved_weights_cancel_keeps_the_window"]),
    "gui: Save on close skipped": (
        "vae_gui/closing.py::close_window", "    if decision == SAVE and not save_current(window):", "    if False:",
        [f"{R_GUI2}::test_quit_with_unsaved_weights_save_writes_them_then_closes"]),
    "gui: replacing unsaved weights never asks": (
        "vae_gui/closing.py::confirm_replace", "    if reason is None or window.session.training:  # a running",
        "    if True:  # a running", [f"{R_GUI2}::test_opening_a_model_over_unsaved_weights_asks_first"]),
    "gui: a model of another image size replaces the current one": (
        "vae_gui/files.py::FileActions.open_model_path.done",
        "                    warnings = loaded.check_data(dataset)",
        "                    warnings = []",
        [f"{R_GUI2}::test_a_model_for_another_image_size_keeps_the_current_model"]),
    "gui: exports replace any file": (
        "vae_gui/export.py::atomic_write_bytes", "    atomic_write(path, kind, lambda f: f.write(data))",
        "    atomic_write(path, kind, lambda f: f.write(data), force=True)",
        [f"{R_GUI2}::test_exports_replace_only_files_of_their_own_kind"]),
    "train: a second signal while exiting becomes a traceback": (
        "cli/train.py::StopSignals.__exit__",
        "            signal.signal(number, signal.SIG_IGN if stopped else handler)",
        "            signal.signal(number, handler)",
        [f"{R_SIGNALS}::test_a_second_signal_while_the_process_exits_is_ignored"]),
    # ---- issue 22 (Reliability III): pictures, the data budget, outputs vs inputs, the lock, start-up
    "pictures: Pillow guesses the format": (
        "core/images.py::open_picture",
        "image = Image.open(f, formats=list(PICTURE_FORMATS))", "image = Image.open(f)", [T_IMAGES]),
    "pictures: opened blocking": (
        "core/images.py::open_picture",
        '    with open_regular(path, "image file", MAX_PICTURE_BYTES, PictureError) as f:',
        '    with open(path, "rb") as f:', [f"{T_IMAGES}::test_encode_on_a_fifo_is_refused_at_once"]),
    "pictures: no pixel limit": (
        "core/images.py::open_picture",
        "            if width * height > MAX_DECODED_PIXELS:", "            if False:", [T_IMAGES]),
    "pictures: no JPEG draft": (
        "core/images.py::open_picture",
        '                image.draft(image.mode if image.mode in ("L", "RGB") else None, draft_size)',
        "                pass", [T_IMAGES]),
    "pictures: 16-bit clipped": (
        "core/images.py::picture_grey", '            grey, scale = image.convert("F"), 65535.0',
        '            grey, scale = image.convert("L"), 255.0', [T_IMAGES]),
    "budget: no check": (
        "core/dataset_io.py::check_budget",
        "    if count > max_values or any(int(n) > max_values for n in shape):", "    if False:",
        [T_BUDGET]),
    "budget: total only": (
        "core/dataset_io.py::check_budget", "    if count > max_values or any(int(n) > max_values for n in shape):",
        "    if count > max_values:", [T_BUDGET]),
    "budget: a folder's sum unchecked": (
        "core/dataset_io.py::read_folder",
        '    check_budget((len(usable), h, w), f"the folder {path}", max_values)', "", [T_BUDGET]),
    "budget: the flag ignored": (
        "core/dataset_io.py::open_dataset", "return read_numpy(path, name, image_shape, max_values)",
        "return read_numpy(path, name, image_shape)", [T_BUDGET]),
    "npz: a text member read": (
        "core/dataset_io.py::_npz_member",
        '    if name + ".npy" not in npz.zip.namelist():', "    if False:", [T_BUDGET]),
    "train: the split copied": (
        "core/train.py::Trainer.from_config",
        "        return cls(model, optimizer, dataset.images, X_eval, train_ids=fit_ids, ",
        "        return cls(model, optimizer, dataset.images[fit_ids], X_eval, ", [T_BUDGET]),
    "start-up: Ctrl-C handler installed late": (
        "main.py", "    signal.signal(signal.SIGINT, quit_at_once)", "    pass", [T_STARTUP]),
    "warnings: Python's two-line format": (
        "main.py::run_command", "        warnings.showwarning = show_warning_line", "        pass", [T_STARTUP]),
    "outputs: not checked against inputs": (
        "cli/train.py::check_inputs_and_outputs",
        '    check_distinct({"--out": out, "--inspect-log": args.inspect_log}, {"--data": data}, CliError)',
        "    pass", [T_OUTPUTS]),
    "outputs: links not seen": (
        "core/safe_io.py::_same_file",
        "        return os.path.samefile(a, b)", "        return os.path.realpath(a) == os.path.realpath(b)",
        [T_OUTPUTS]),
    "log: any file taken for one": (
        "core/safe_io.py::json_lines_kind.recognise",
        "        return isinstance(record, dict) and all(key in record for key in keys)",
        "        return True", [T_OUTPUTS]),
    "log: --force extends to it": (
        "cli/train.py::check_inputs_and_outputs",
        "check_output(args.inspect_log, INSPECT_LOG, args.replace_inspect_log, CliError,",
        "check_output(args.inspect_log, INSPECT_LOG, args.replace_inspect_log or args.force, CliError,",
        [T_OUTPUTS]),
    "log: a torn record kept": (
        "core/safe_io.py::AppendLog.write",
        "                os.ftruncate(self._fd, start)  # shrinking needs no space: the torn record goes",
        "                pass", [T_OUTPUTS]),
    "lock: follows links": (
        "core/safe_io.py::OutputLock._open_side_file",
        "        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK", "        flags = os.O_RDWR | os.O_NONBLOCK",
        [T_OUTPUTS]),
    "lock: hard links used": (
        "core/safe_io.py::OutputLock._open_side_file", "if info.st_nlink > 1 else", "if False else", [T_OUTPUTS]),
    "screenshots: refusals after the window": (
        "cli/screenshots.py::window_args", "        check_png_output(path, args.force)", "        pass", [T_OUTPUTS]),
    "resume: other data silent": (
        "cli/train.py::prepare", "            warn_other_data(record, dataset)", "            pass", [T_OUTPUTS]),
    "grid: any file of the recorded name": (
        "core/dataset_io.py::find_recorded_data",
        '        if dataset.fingerprint == record["fingerprint"]:', "        if True:", [T_MODEL_DATA]),
    "pickle: refusal without the file": (
        "core/checkpoint.py::read_legacy_pickle",
        '        raise LegacyPickleError(f"{path}: {exc}") from None', "        raise", [T_MODEL_DATA]),
    "idx: trailing bytes unread": (
        "core/dataset_io.py::read_idx", "            data = f.read(count * dtype.itemsize + 1)",
        "            data = f.read(count * dtype.itemsize)", ["tests/test_dataset_io.py"]),
    "3-D shape: height and width swapped": (
        "core/dataset_io.py::_rows", "        if image_shape is not None and image_shape != (h, w):",
        "        if image_shape is not None and image_shape != (w, h):", ["tests/test_dataset_io.py"]),
    "gradcheck: floor N times too large": (
        "core/gradcheck/check.py::_setup", "kl_weight * np.abs(base.kl).sum()) / x.shape[0]",
        "kl_weight * np.abs(base.kl).sum())", [T_FLOOR]),
    "gradcheck: retries judged on the first step's floor": (
        "core/gradcheck/check.py::_retry_kinks", "            step[fixed] = smaller", "            pass", [T_FLOOR]),
    "inspector: dead threshold 1e-2": (
        "core/inspection.py::DEAD_DERIVATIVE",
        "DEAD_DERIVATIVE = 1e-3  #", "DEAD_DERIVATIVE = 1e-2  #", ["tests/test_inspect_dead_units.py"]),
    "two threads: long sums not sliced": (
        "core/parallel.py::matmul", "    if not block or k <= block:", "    if True:", ["tests/test_parallel.py"]),
    "two threads: SciPy's OpenBLAS left spinning": (
        "core/parallel.py::BlasThreads._scan", "                lib.set_num_threads(1)", "                pass",
        ["tests/test_parallel.py"]),
    "two threads: the BLAS count not given back": (
        "core/parallel.py::BlasThreads.restore", "            self.set(self.initial)", "            pass",
        ["tests/test_parallel.py"]),
    "two threads: Adam's axpy hands arrays of another length to the BLAS": (
        "core/optim.py::axpy", "x.dtype == y.dtype and x.size == y.size", "x.dtype == y.dtype",
        ["tests/test_parallel.py"]),
    "two threads: a NaN gradient passes the BLAS finiteness check": (
        "core/parallel.py::_cblas_level1", "        return float(c_asum(x.size, data_address(x), 1))",
        "        return 0.0", ["tests/test_parallel.py", R_FAULTS]),
}


def tracked_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / "data").mkdir(exist_ok=True)
    real = ROOT / "data" / "frey_rawface.mat"
    if real.exists():
        (dest / "data" / "frey_rawface.mat").symlink_to(real)


def span_of(source: str, qualname: str) -> tuple[int, int]:
    """(start, end) character offsets of the def, class or module-level assignment named ``qualname``
    ('Class.method' for a method) in ``source``; (0, -1) when there is none."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def find(node, parts):
        for child in ast.iter_child_nodes(node):
            names = [getattr(child, "name", None)]
            if isinstance(child, ast.Assign):
                names = [t.id for t in child.targets if isinstance(t, ast.Name)]
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
                names = [child.target.id]
            if parts[0] in names:
                return child if len(parts) == 1 else find(child, parts[1:])
        return None

    node = find(ast.parse(source), qualname.split("."))
    if node is None:
        return 0, -1
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return offsets[first - 1], offsets[node.end_lineno]


def run(name: str) -> bool:
    """True when the tests caught the mutation."""
    first_file, first_old, first_new, tests, *more = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        tree = Path(tmp)
        tracked_copy(tree)
        for target, old, new in [(first_file, first_old, first_new), *more]:
            file, _, qualname = target.partition("::")
            text = (tree / file).read_text()
            start, end = span_of(text, qualname) if qualname else (0, len(text))
            if end < 0 or text[start:end].count(old) != 1:
                print(f"STALE     {name}: the text to mutate is not (uniquely) in {target}")
                return False
            (tree / file).write_text(text[:start] + text[start:end].replace(old, new) + text[end:])
        # PYTHONPATH first: the editable install's .pth would otherwise import the real tree in child processes
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
        proc = subprocess.run([PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=tree,
                              capture_output=True, text=True, env=env, timeout=600)
        failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
        # only a failing test counts: an error in set-up (a missing data file, say) says nothing of the guard
        caught = bool(failed)
        verdict = "caught" if caught else "ERROR" if proc.returncode != 0 else "SURVIVED"
        print(f"{verdict:<9} {name}: {failed[0] if failed else proc.stdout.strip()[-80:]}", flush=True)
        return caught


def main() -> int:
    names = sys.argv[1:] or list(MUTATIONS)
    results = [run(name) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
