"""``main.py encode IMAGE --weights M [--json]``: encode a PNG/JPEG of your own: posterior mean, σ and −ELBO.

The image is read with Pillow (PNG and JPEG only, see core.images.open_picture), converted to grey (BT.601 luma,
alpha over white), centre-cropped to the model's aspect ratio and resampled by area to its image size (core.atlas),
as the GUI's Encode an image… does.
"""

from __future__ import annotations

import json

from .common import CliError, add_weights_args, load_weights

MAX_SIDE = 1024  # larger pictures are reduced first (area filter): the model reads a few hundred pixels anyway


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="encode an image file of your own: posterior mean, sigma and -ELBO")
    p.add_argument("image", help="PNG or JPEG file (colour is converted to grey, cropped and resized)")
    add_weights_args(p)
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"mean": [...], "sigma": [...], "neg_elbo": x, "image_shape": [H, W]}')
    p.set_defaults(run=run)


def read_image(path: str):
    """RGBA uint8 (h, w, 4) (uint16 (h, w) for 16-bit grey) of a PNG or JPEG file, reduced to MAX_SIDE; CliError
    naming the file when it cannot be read (core.images.read_picture: only PNG/JPEG, regular files, no bombs)."""
    from core.images import PictureError, read_picture

    try:
        return read_picture(path, MAX_SIDE)
    except PictureError as exc:
        raise CliError(str(exc)) from None


def run(args) -> int:
    from core.atlas import encode_image_array

    loaded = load_weights(args.weights)
    shape = loaded.image_shape
    enc = encode_image_array(loaded.model, read_image(args.image), shape)
    if args.json:
        out = enc.to_json()
        print(json.dumps({key: out[key] for key in ("mean", "sigma", "neg_elbo", "image_shape")}))
        return 0
    print(f"{args.image}: read as {shape[0]}×{shape[1]} grey (centre crop), −ELBO {enc.neg_elbo:.2f} nats "
          f"(reconstruction {enc.rec:.2f} + KL {enc.kl:.2f})")
    print("mean:  " + " ".join(f"{v:+.3f}" for v in enc.mean))
    if enc.sigma is not None:
        print("sigma: " + " ".join(f"{v:.3f}" for v in enc.sigma))
    return 0
