"""The router's fits (its classifier and its request probe), kept beside the
model's file under a hash of everything they were fitted on, so that a restart
with the same plugins, sentences, model and fitting code fits neither again.

The two fits were 0.41 s of a 1.74 s `Bot.load` on the AVX2 machine of issue 21
(after the sentence vectors, zoozl.embedding.kept, the largest share that is
the same on every start). The hash covers the fit's inputs (every vector and
label, each parameter), the source of the modules that fit (router.py and
classifier.py: any edit there fits again) and numpy's version, so a kept fit
is the fit those inputs give. The file holds the fits of the latest builds
(MOST_FITS, this build's first), so bots that share a model cache (an author's
bot and its tests, say) keep each their own. Like the kept vectors it is a
cache: a file that cannot be read, or whose fit is not of the shape its inputs
give, is fitted again with a warning; one that cannot be written costs the
next start its fits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from zoozl.embedding.base import Embedder
from zoozl.embedding.files import UNREADABLE, load_arrays, save_arrays
from zoozl.embedding.kept import beside_model

log = logging.getLogger(__name__)

#: Bump when what the file holds changes: a file of another format is not read.
FORMAT = 1
#: The modules whose code fits: an edit to either changes every key.
FITTING = ("router.py", "classifier.py")
#: Fits a file keeps: this build's, then the latest of the builds before it
#: (chatbot.toml's bot's two fits are 60 KiB).
MOST_FITS = 16

Fit = dict[str, np.ndarray]


@functools.cache
def _code() -> bytes | None:
    """The source of the fitting modules; None where it cannot be read (then
    nothing is kept: a fit of other code must never be taken for this one's)."""
    here = Path(__file__).resolve().parent
    try:
        return b"".join((here / name).read_bytes() for name in FITTING)
    except OSError:
        return None


def fit_key(name: str, inputs: Sequence[np.ndarray | float]) -> str | None:
    """The hash a fit is kept under: its name, the fitting code, numpy's
    version and every input (an array's type, shape and bytes; a number's
    repr); None when the code cannot be read."""
    code = _code()
    if code is None:
        return None
    digest = hashlib.sha256(f"{FORMAT}\0{name}\0{np.__version__}\0".encode())
    digest.update(code)
    for value in inputs:
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            digest.update(f"\0{array.dtype.str}{array.shape}\0".encode())
            digest.update(array.tobytes())
        else:
            digest.update(f"\0{value!r}\0".encode())
    return digest.hexdigest()


class KeptFits:
    """The fits of one router build: a fit kept by a build before under the
    same key is read, the others are fitted; `save` keeps this build's first.

    In the file each fit's arrays are named `<key>.<field>`."""

    def __init__(self, embedder: Embedder) -> None:
        self.path = beside_model(embedder, f"fits-v{FORMAT}.npz")
        self._kept = read_fits(self.path) if self.path is not None else {}
        self._used: dict[str, np.ndarray] = {}
        self._fitted = False

    def fitted(
        self,
        name: str,
        inputs: Sequence[np.ndarray | float],
        fit: Callable[[], Fit],
        check: Callable[[Fit], None],
    ) -> Fit:
        """The fit of `name` on `inputs`: kept, when a fit under the same key
        passes `check` (which raises ValueError), else `fit()`."""
        key = fit_key(name, inputs) if self.path is not None else None
        found = self._found(key)
        if found is not None:
            try:
                check(found)
            except ValueError as exc:
                log.warning("kept %s fit in %s is unusable (%s)", name, self.path, exc)
            else:
                self._use(key, found)
                return found
        made = fit()
        self._fitted = True
        self._use(key, made)
        return made

    def save(self) -> None:
        """Keep this build's fits, when one of them was fitted now; a failed
        write is a warning (the next start fits again)."""
        if self.path is None or not self._fitted or not self._used:
            return
        arrays = dict(self._used)
        keys = {field.partition(".")[0] for field in arrays}
        for field, value in self._kept.items():
            key = field.partition(".")[0]
            if key not in keys and len(keys) < MOST_FITS:
                keys.add(key)
            if key in keys:
                arrays.setdefault(field, value)
        try:
            save_arrays(self.path, arrays)
        except OSError as exc:
            log.warning("cannot keep the router's fits in %s (%s)", self.path, exc)

    def _found(self, key: str | None) -> Fit | None:
        if key is None:
            return None
        prefix = f"{key}."
        found = {
            field[len(prefix) :]: value
            for field, value in self._kept.items()
            if field.startswith(prefix)
        }
        return found or None

    def _use(self, key: str | None, fit: Fit) -> None:
        if key is not None:
            self._used.update({f"{key}.{field}": value for field, value in fit.items()})


def read_fits(path: Path) -> dict[str, np.ndarray]:
    """Every array of a fits file by its name; none when there is no file, and
    none, with a warning, when it cannot be read."""
    if not path.is_file():
        return {}
    try:
        return load_arrays(path)
    except UNREADABLE as exc:
        log.warning("kept router fits %s are unusable (%s); fitting again", path, exc)
        return {}


def check_shapes(fit: Fit, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise ValueError unless fit holds exactly these fields, of these
    shapes, in finite float64."""
    if set(fit) != set(shapes):
        raise ValueError(f"it holds {sorted(fit)}, not {sorted(shapes)}")
    for field, shape in shapes.items():
        value = fit[field]
        if value.dtype != np.float64 or value.shape != shape:
            raise ValueError(f"its {field} is {value.dtype} {value.shape}, not {shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"its {field} is not finite")
