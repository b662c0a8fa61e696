"""Attribute vectors: a named direction in latent space from two groups of faces (say neutral → smiling).

The direction is the difference of the two groups' mean codes (posterior means), mean(to) − mean(from)
(White 2016, "Sampling generative networks"; Larsen et al. 2016). Moving a face's code by t·direction and
decoding shows the attribute grow (t = 1 adds the whole difference between the groups); projecting every
face's code on the unit direction orders the data set by the attribute.

Directions are stored in a model file's meta under ``"attributes"``: a list of
{"name", "direction": [L floats], "from_ids", "to_ids"} (``to_meta`` / ``from_meta``); ``core.checkpoint``
keeps meta keys it does not know, so a file with directions is still an ordinary model file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

META_KEY = "attributes"
MAX_NAME = 40
_NAME = re.compile(r"^[\w][\w .\-]*$")


def check_name(name: str) -> str:
    """A direction's name: 1 … 40 letters, digits, spaces, '.', '-' or '_' (it labels a slider and a file key)."""
    name = str(name).strip()
    if not name or len(name) > MAX_NAME or not _NAME.match(name):
        raise ValueError(f"an attribute name is 1 … {MAX_NAME} letters, digits, spaces, '.', '-' or '_', not {name!r}")
    return name


@dataclass
class Attribute:
    """A named direction (L,) in latent space and the faces it was made from (ids into the data set)."""

    name: str
    direction: np.ndarray
    from_ids: list[int] = field(default_factory=list)
    to_ids: list[int] = field(default_factory=list)

    @property
    def unit(self) -> np.ndarray:
        """The direction scaled to length 1 (zeros for a zero direction)."""
        norm = float(np.linalg.norm(self.direction))
        return self.direction / norm if norm > 0 else np.zeros_like(self.direction)

    def to_meta(self) -> dict:
        return {"name": self.name, "direction": [float(v) for v in self.direction],
                "from_ids": [int(i) for i in self.from_ids], "to_ids": [int(i) for i in self.to_ids]}


def make_attribute(name: str, means: np.ndarray, from_ids, to_ids) -> Attribute:
    """The direction mean(means[to_ids]) − mean(means[from_ids]) for codes means (N, L). ValueError for an
    empty group, ids outside 0 … N−1, or two groups with the same mean code (no direction)."""
    means = np.asarray(means, dtype=np.float64)
    groups = []
    for label, ids in (("from", from_ids), ("to", to_ids)):
        ids = np.unique(np.asarray(list(ids), dtype=np.int64))
        if ids.size == 0:
            raise ValueError(f"the '{label}' group is empty: select at least one face")
        if ids.min() < 0 or ids.max() >= len(means):
            raise ValueError(f"face ids must be 0 … {len(means) - 1}; the '{label}' group has {int(ids.max())}")
        groups.append(ids)
    direction = means[groups[1]].mean(axis=0) - means[groups[0]].mean(axis=0)
    if not np.linalg.norm(direction) > 0:
        raise ValueError("the two groups have the same mean code: there is no direction between them")
    return Attribute(check_name(name), direction, groups[0].tolist(), groups[1].tolist())


def move_along(z: np.ndarray, attribute: Attribute, amounts) -> np.ndarray:
    """Codes (k, L): z (L,) moved by each amount t in ``amounts`` (k,) times the direction."""
    amounts = np.asarray(amounts, dtype=np.float64).reshape(-1, 1)
    return np.asarray(z, dtype=np.float64)[None, :] + amounts * attribute.direction[None, :]


def project(means: np.ndarray, attribute: Attribute) -> np.ndarray:
    """Each code's position along the direction (N,), in units of the direction's length, 0 at the 'from'
    group's mean code and 1 at the 'to' group's (for codes means (N, L) of the data set it was made on)."""
    means = np.asarray(means, dtype=np.float64)
    origin = means[attribute.from_ids].mean(axis=0) if attribute.from_ids else np.zeros(means.shape[1])
    return (means - origin) @ attribute.direction / float(attribute.direction @ attribute.direction)


def from_meta(meta: dict | None, latent: int) -> dict[str, Attribute]:
    """The directions stored in a model file's meta, by name; entries of another length or malformed are
    skipped (a file edited by hand never stops the model from opening)."""
    found: dict[str, Attribute] = {}
    for entry in (meta or {}).get(META_KEY) or []:
        try:
            direction = np.asarray(entry["direction"], dtype=np.float64)
            if direction.shape != (latent,) or not np.isfinite(direction).all():
                continue
            found[check_name(entry["name"])] = Attribute(entry["name"].strip(), direction,
                                                         [int(i) for i in entry.get("from_ids", [])],
                                                         [int(i) for i in entry.get("to_ids", [])])
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return found


def to_meta(attributes: dict[str, Attribute]) -> list[dict]:
    """The meta value (``meta["attributes"]``) of some directions."""
    return [a.to_meta() for a in attributes.values()]


def store(path, attributes: dict[str, Attribute]) -> None:
    """Rewrite the model file ``path`` with ``meta["attributes"]`` set to ``attributes`` (every array and every
    other meta key as they were), atomically. The file is checked as a model first (load_model: no pickles,
    sizes and shapes checked), then its members are copied."""
    import json

    from .checkpoint import MODEL_FILE, load_model
    from .safe_io import atomic_write

    load_model(path)  # refuses anything that is not a sound model file before we read it raw
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta[META_KEY] = to_meta(attributes)
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write(path, MODEL_FILE, lambda f: np.savez(f, allow_pickle=False, **arrays))


def attribute_projection(means: np.ndarray, attribute: Attribute):
    """A 2-D map view (core.atlas.Projection) whose x axis is the attribute's unit direction and whose y axis
    is the direction, orthogonal to it, in which the codes means (N, L) vary most."""
    from .atlas import Projection

    means = np.asarray(means, dtype=np.float64)
    centre = means.mean(axis=0)
    x_axis = attribute.unit
    residual = (means - centre) - np.outer((means - centre) @ x_axis, x_axis)
    _, _, vt = np.linalg.svd(residual, full_matrices=False)
    y_axis = vt[0] - (vt[0] @ x_axis) * x_axis
    y_axis /= max(np.linalg.norm(y_axis), 1e-300)
    return Projection(centre, np.stack([x_axis, y_axis], axis=1), f"along '{attribute.name}'",
                      "most variance across it", "attribute")
