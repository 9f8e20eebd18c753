"""The generator as an MLflow pyfunc model, logged "from code": MLflow copies this file into the
model, so loading it needs keras and mlflow but not fashiongan (nothing is pickled).

    model = mlflow.pyfunc.load_model("runs:/<run_id>/generator")
    images = model.predict({"z": z})                     # z: (n, latent_dim) float32
    images = model.predict({"z": z, "label": labels})    # conditional generators; labels int32 0-9
Images come back as (n, 28, 28, 1) float32 in [-1, 1].
"""

import mlflow
import numpy as np


class Generator(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        self.generator = keras.models.load_model(context.artifacts["generator"], safe_mode=True)
        self.conditional = context.model_config["conditional"]  # logged by tracking.Run.log_generator

    def predict(self, context, model_input, params=None):
        z = np.asarray(model_input["z"], np.float32)
        if not self.conditional:
            return np.asarray(self.generator(z, training=False))
        labels = np.asarray(model_input["label"], np.int32)
        return np.asarray(self.generator([z, labels], training=False))


mlflow.models.set_model(Generator())
