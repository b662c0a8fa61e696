"""``main.py step --weights M --index I [--eps-seed S | --eps v1,v2,…] [--json] [--save-html OUT]``: one
training step of one face, opened up (core/step.py): every array of the forward and backward pass, the
objective's parts, the split gradients at μ and log σ², every parameter's gradient and the optimiser's
next step, computed in float64 by the engine's own code."""

from __future__ import annotations

import json
import re

from .common import (
    CliError,
    add_data_args,
    add_force,
    add_max_params,
    add_weights_args,
    data_for,
    load_weights,
    model_shape,
    seed,
)


def add_parser(sub) -> None:
    p = sub.add_parser("step", help="one training step of one face, opened up: every forward and backward array")
    add_weights_args(p)
    p.add_argument("--index", type=int, default=0, help="which image of the data set (0-based; default 0)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--eps-seed", type=seed, default=0, help="seed of the noise ε ~ N(0, I) (default 0)")
    noise.add_argument("--eps", default=None, metavar="v1,v2,…",
                       help="the noise ε itself, one number per latent unit (--eps=-0.5,1,… when the first is < 0)")
    add_data_args(p)
    add_max_params(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (keys: README, 'One step, opened up')")
    p.add_argument("--save-html", default=None, metavar="OUT",
                   help="also write the whole opened step as one self-contained HTML page")
    add_force(p, "page written by this command")
    p.set_defaults(run=run)


def _report(step, source: str) -> None:
    """The readable form: each stage with its formula (tags dropped), shape and min/max/norm, then the norms."""
    import numpy as np

    from core.step import SECTIONS

    face = f"face {step.index} of {source}" if step.index is not None else source
    print(f"one training step of {step.description} at step {step.model_step}: {face}, float64")
    shown = ""
    for section in SECTIONS:
        print(f"\n== {section}")
        for st in step.stages:
            if st.section != section:
                continue
            s = st.summary()
            formula = re.sub(r"<sub>(.*?)</sub>", r"_\1", re.sub(r"<sup>(.*?)</sup>", r"^\1", st.formula))
            formula, shown = ("〃" if formula == shown else formula), formula  # the update rule, once
            print(f"{st.key:<18}{str(st.shape):<12} min {s['min']:+.6g}  max {s['max']:+.6g}  norm {s['norm']:.6g}"
                  f"   {formula}")
            if st.picture == "numbers":
                print("    " + "   ".join(f"{lab} = {v:.10g}" for lab, v in zip(st.labels, st.values, strict=True)))
    print(f"\n{'parameter':<14}{'‖θ‖':>12}{'‖∂L/∂θ‖':>14}{'‖Δθ‖':>12}{'‖Δθ‖/‖θ‖':>11}")
    grads, updates, ratios = step.grad_norms(), step.update_norms(), step.update_ratios()
    for name in grads:
        print(f"{name:<14}{np.linalg.norm(step.params[name]):>12.6g}{grads[name]:>14.6g}{updates[name]:>12.6g}"
              f"{ratios[name]:>11.3g}")
    if step.weight_decay:
        print(f"weight decay {step.weight_decay:g} reported apart: the optimiser steps on ∂L/∂θ + wd·θ")


def run(args) -> int:
    from core.step import draw_eps, open_step, parse_eps
    from core.step_html import HTML_PAGE, write_step_page

    if args.save_html:
        from core.safe_io import check_output

        check_output(args.save_html, HTML_PAGE, args.force, CliError)
    loaded = load_weights(args.weights, max_params=args.max_params)
    view, dataset = data_for(loaded, args, quiet=args.json)
    if not 0 <= args.index < view.n:
        raise CliError(f"--index {args.index} is outside the data set's {view.n} images (0…{view.n - 1})")
    latent = loaded.model.config.latent
    try:
        eps = parse_eps(args.eps, latent) if args.eps is not None else draw_eps(latent, args.eps_seed)
    except ValueError as exc:
        raise CliError(f"--eps: {exc}") from None
    settings = loaded.settings.to_meta() if loaded.settings is not None else None
    step = open_step(loaded.model, view.images[args.index], eps, args.index, loaded.optimizer_state, settings)
    if args.save_html:
        write_step_page(args.save_html, step, model_shape(loaded), dataset.name, force=args.force)
    if args.json:
        print(json.dumps(step.to_json()))
    else:
        _report(step, dataset.name)
    return 0
