"""The generator as an MLflow pyfunc model, logged "from code": MLflow copies this file into the
model, so loading it needs keras and mlflow but not fashiongan (nothing is pickled).

    model = mlflow.pyfunc.load_model("runs:/<run_id>/generator")
    images = model.predict({"z": z})                     # z: (n, latent_dim) float32
    images = model.predict({"z": z, "label": labels})    # conditional generators; labels int 0..classes-1
Images come back as (n, 28, 28, 1) float32 in [-1, 1]. A malformed input raises ValueError with one
line naming the field and what was expected (`fashiongan serve` answers it as HTTP 400).
"""

import mlflow
import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


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


class Generator(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        self.generator = keras.models.load_model(context.artifacts["generator"], safe_mode=True)
        self.conditional = context.model_config["conditional"]  # logged by tracking.Run.log_generator
        self.classes = context.model_config.get("classes", 10)  # models logged before class counts: 10
        self.latent_dim = int(self.generator.inputs[0].shape[-1])

    def checked_inputs(self, model_input) -> list:
        """The generator's inputs from a request, or ValueError naming the field at fault."""
        if not hasattr(model_input, "keys") or "z" not in model_input:
            raise ValueError(f"z: missing; expected a list of rows of {self.latent_dim} numbers")
        # Shapes exactly as the logged signature has them (z (-1, latent_dim), label (-1,)): MLflow
        # refuses any other before predict runs, with an answer that echoes the whole input.
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

    def predict(self, context, model_input, params=None):
        inputs = self.checked_inputs(model_input)
        return np.asarray(self.generator(inputs if self.conditional else inputs[0], training=False))


mlflow.models.set_model(Generator())
