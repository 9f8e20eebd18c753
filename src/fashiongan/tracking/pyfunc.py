"""The generator as an MLflow pyfunc model, logged "from code": MLflow copies this file into the
model, so loading it needs keras, mlflow and Pillow but not fashiongan (nothing is pickled).

    model = mlflow.pyfunc.load_model("runs:/<run_id>/generator")
    images = model.predict({}, params={"class": "sneaker", "n": 16, "seed": 3})  # by meaning
    images = model.predict({"z": z, "label": labels})  # rows of latents (n, latent_dim) and class indices
    pngs = model.predict({}, params={"class": "bag", "n": 4, "format": "png"})  # base64 PNGs
    npy = model.predict({}, params={"class": "bag", "n": 4, "format": "npy"})[0]  # the array, compact
    images = np.load(io.BytesIO(base64.b64decode(npy)))

A request is either rows of latents in its inputs (z, and label for a conditional generator) or a
request by meaning in its params (PARAMS: class, n, seed, psi, seed_to; inputs empty). The same
params give the same images: a seed's latents are numpy's default_rng(seed).standard_normal((n,
latent_dim)) in float32, as `fashiongan generate` draws them. Answers by `format`: "array", images as
(n, 28, 28, 1) float32 in [-1, 1]; "npy", the same array as one base64 .npy file (a fifth of the bytes
of its JSON decimals, read back by one np.load); "png", one base64 PNG (28x28, 8-bit grey) per image; "grid", one
base64 PNG of them all. A malformed request raises ValueError with one line naming the field and what
was expected (`fashiongan serve` answers it as HTTP 400).

The signature declares the params (MLflow checks their types) and no inputs: MLflow's tensor
inputs are all required, so it could not take a request by meaning, which has no z. This file holds
its own copies of four small functions of fashiongan (the latents, slerp, the truncation of a
self-conditioned generator, the uint8 conversion); tests/test_serve.py checks each against fashiongan's.
"""

import base64
import io
import math

import mlflow
import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
FORMATS = ("array", "npy", "png", "grid")
# Every param with its default (MLflow's ParamSchema is built from this, tracking/model.py)
PARAMS = {"class": "", "n": 0, "seed": 0, "psi": 1.0, "seed_to": -1, "format": "array"}
# The name suffix of a self-conditioned generator (gan.models.CLUSTER_DRAWING): z's first
# coordinate picks its cluster, so truncation leaves that coordinate alone
CLUSTER_DRAWING = "_by_cluster_share"


def _numbers(value, field: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:  # rows of different lengths
        raise ValueError(f"{field}: expected numbers only") from None
    # Not strings, booleans or nulls, though numpy would convert some: MLflow reads "1.0" as a float,
    # not an int
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{field}: expected numbers only")
    array = array.astype(np.float64)
    # MLflow casts inputs to the signature's float32 / int32: a larger number would arrive as infinity
    if not np.all(np.abs(array) <= FLOAT32_MAX):  # NaN fails this comparison too
        raise ValueError(
            f"{field}: expected finite numbers in float32's range (no NaN, infinity or |x| > 3.4e38)"
        )
    return array


def _integer(params: dict, key: str, least: int) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{key}: got {value!r}, expected an integer >= {least}")
    return value


def latents(latent_dim: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation from a to b (vectors) at fractions t: (len(t), dim)."""
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel within float error: the arc is the line
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def to_uint8(images) -> np.ndarray:
    images = np.asarray(images).reshape(-1, 28, 28)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def class_index(name: str, class_names) -> int:
    """A class by index or by name (any case; "t-shirt-top" for "t-shirt/top": a slash is awkward on a
    command line), or ValueError listing the classes."""
    key = name.strip().lower()
    if key.isdigit() and int(key) < len(class_names):
        return int(key)
    for i, known in enumerate(class_names):
        if key in (known.lower(), known.lower().replace("/", "-")):
            return i
    named = "" if all(known.isdigit() for known in class_names) else f" or one of: {', '.join(class_names)}"
    raise ValueError(f"got {name!r}, expected 0-{len(class_names) - 1}{named}")


def png(pixels: np.ndarray) -> str:
    """uint8 (height, width) as a base64 PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def npy(images: np.ndarray) -> str:
    """An array as a base64 .npy file: np.load(io.BytesIO(base64.b64decode(answer))) reads it back."""
    buffer = io.BytesIO()
    np.save(buffer, images, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def tiled(pixels: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) in rows of ceil(sqrt(n)) tiles, the last row padded with black."""
    cols = math.ceil(math.sqrt(len(pixels)))
    rows = math.ceil(len(pixels) / cols)
    padded = np.zeros((rows * cols, 28, 28), np.uint8)
    padded[: len(pixels)] = pixels
    return padded.reshape(rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)


class Generator(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        self.generator = keras.models.load_model(context.artifacts["generator"], safe_mode=True)
        # model_config: written by tracking.model.save_generator_model
        self.conditional = context.model_config["conditional"]
        self.classes = context.model_config.get("classes", 10)  # models logged before class counts: 10
        # models logged before class names answer to class indices only
        self.class_names = context.model_config.get("class_names") or [str(i) for i in range(self.classes)]
        self.latent_dim = int(self.generator.inputs[0].shape[-1])
        self.draws_clusters = self.generator.name.endswith(CLUSTER_DRAWING)

    def checked_params(self, params) -> dict:
        """The request's params with their defaults, or ValueError naming the one at fault."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"params: unknown key {unknown[0]!r}; allowed: {', '.join(PARAMS)}")
        params = PARAMS | params
        for key in ("n", "seed"):
            _integer(params, key, 0)
        _integer(params, "seed_to", -1)
        psi = params["psi"]
        if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0 < psi <= 1:
            raise ValueError(f"psi: got {psi!r}, expected a number in (0, 1] (1: no truncation)")
        if params["format"] not in FORMATS:
            raise ValueError(f"format: got {params['format']!r}, expected one of: {', '.join(FORMATS)}")
        if not isinstance(params["class"], str):
            raise ValueError(f"class: got {params['class']!r}, expected a class name or index as a string")
        return params

    def class_index(self, name: str) -> int:
        if not self.conditional:
            raise ValueError("class: this generator is unconditional; it takes no class")
        try:
            return class_index(name, self.class_names)
        except ValueError as e:
            raise ValueError(f"class: {e}") from None

    def checked_inputs(self, model_input) -> list:
        """The generator's inputs from rows of z (and label), or ValueError naming the field at fault."""
        if hasattr(model_input, "columns"):  # a DataFrame (a Parquet body): a row of z per image
            model_input = {key: model_input[key].tolist() for key in model_input.columns}
        if not hasattr(model_input, "keys") or "z" not in model_input:
            raise ValueError(
                f"z: missing; expected a list of rows of {self.latent_dim} numbers, or params n (with class, "
                "seed) to draw by meaning"
            )
        z = _numbers(model_input["z"], "z")
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not len(z):
            raise ValueError(f"z: got shape {list(z.shape)}, expected rows of {self.latent_dim} numbers")
        if not self.conditional:
            return [z.astype(np.float32)]
        if "label" not in model_input:
            raise ValueError(f"label: missing; expected one class index 0-{self.classes - 1} per row of z")
        labels = _numbers(model_input["label"], "label")
        if labels.ndim != 1:
            raise ValueError(
                f"label: got shape {list(labels.shape)}, expected a list of one class index per row of z"
            )
        if len(labels) != len(z):
            raise ValueError(f"label: got {len(labels)} labels, expected one per row of z ({len(z)})")
        if np.any((labels < 0) | (labels >= self.classes) | (labels != np.floor(labels))):
            raise ValueError(f"label: expected integers 0-{self.classes - 1}")
        return [z.astype(np.float32), labels.astype(np.int32)]

    def by_meaning(self, params: dict) -> list:
        """The generator's inputs that checked params name: n latents of a seed (or the slerp from
        seed's first latent to seed_to's), of one class."""
        n = params["n"]
        if params["seed_to"] >= 0:
            ends = [latents(self.latent_dim, 1, params[key])[0] for key in ("seed", "seed_to")]
            z = slerp(*ends, np.linspace(0, 1, n)).astype(np.float32)
        else:
            z = latents(self.latent_dim, n, params["seed"])
        if not self.conditional:
            if params["class"]:
                self.class_index(params["class"])  # the one-line refusal
            return [z]
        if not params["class"]:
            raise ValueError(
                f"class: missing; a conditional generator draws one class: 0-{self.classes - 1} "
                f"or one of: {', '.join(self.class_names)}"
            )
        return [z, np.full(n, self.class_index(params["class"]), np.int32)]

    def checked_request(self, model_input, params) -> tuple[list, dict]:
        """(the generator's inputs, checked params) of a request, or ValueError naming the culprit."""
        params = self.checked_params(params)
        rows = hasattr(model_input, "keys") and len(model_input.keys()) > 0
        if params["n"]:
            if rows:
                raise ValueError("n: draws its own latents; send rows of z in inputs or params n, not both")
            inputs = self.by_meaning(params)
        else:
            for key in ("class", "seed", "seed_to"):
                if params[key] != PARAMS[key]:
                    raise ValueError(
                        f"n: missing or 0; params {key} draws n >= 1 images (rows of z come in inputs)"
                    )
            inputs = self.checked_inputs(model_input)
        inputs[0] = self.truncate(inputs[0], params["psi"])
        return inputs, params

    def truncate(self, z: np.ndarray, psi: float) -> np.ndarray:
        """z scaled toward its mean by psi, except the coordinate that picks a self-conditioned
        generator's cluster (gan.models.TrainedGenerator.truncate says why)."""
        truncated = np.float32(psi) * z
        if self.draws_clusters:
            truncated[:, 0] = z[:, 0]
        return truncated

    def predict(self, context, model_input, params=None):
        inputs, params = self.checked_request(model_input, params)
        images = np.asarray(self.generator(inputs if self.conditional else inputs[0], training=False))
        if params["format"] == "png":
            return [png(pixels) for pixels in to_uint8(images)]
        if params["format"] == "grid":
            return [png(tiled(to_uint8(images)))]
        if params["format"] == "npy":
            return [npy(images)]
        return images


mlflow.models.set_model(Generator())
