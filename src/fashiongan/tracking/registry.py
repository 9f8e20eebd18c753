"""The registered generator: each evaluation's generator as a version of a registered model, tagged with
what it was measured with, and the alias `champion` on the best of the versions measured alike."""

from __future__ import annotations

from .model import process_store
from .outage import survives_outage

# The registry alias on the best generator of a registered model (by FID, among the versions measured
# alike: one ruler, one n): models:/<name>@champion.
CHAMPION = "champion"


def model_description(metrics: dict) -> str:
    """What a registered generator version says of itself: evaluate's headline metrics."""
    return (
        f"FID {metrics['fid']:.3f} (real-data floor {metrics['fid_real']:.3f}, n={metrics['n']}); "
        f"KID {metrics['kid']:.4f}, precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}"
    )


# What a registered version says it was measured with: versions differing in any of these are not ranked.
MEASURED_ALIKE = ("ruler", "n")


@survives_outage
def register_generator(run, logged, name: str, description: str, measured: dict) -> int | None:
    """Register the run's generator `logged` (a LoggedModel) as model `name`, unless a version of
    `name` comes from this run already, tagged with what the evaluation that registers it measured
    (`measured`: fid, ruler, n and the evaluation's run id); then crown the champion. Returns the new
    version, or None. A later evaluation of the same generator leaves the version as it is: its FID is
    the one its own evaluation measured, with that n."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    client, version = run.client, None
    if not any(v.name == name for v in client.search_model_versions(f"run_id = '{run.run_id}'")):
        try:
            client.create_registered_model(name)
        except MlflowException as e:  # registered by an earlier run (or by another evaluate just now)
            if e.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        with process_store(client.tracking_uri):
            version = client.create_model_version(
                name,
                logged.model_uri,
                run_id=run.run_id,
                description=description,
                model_id=logged.model_id,
                tags={key: str(value) for key, value in measured.items() if value is not None},
            ).version
    crown_champion(client, name)
    return version


def champion_of(versions) -> object | None:
    """The version with the lowest FID among those measured like the newest one (same ruler and n; the
    earliest of equals), or None when the newest was not measured or none of its kind has an FID."""
    newest = max(versions, key=lambda v: int(v.version), default=None)
    if newest is None or any(newest.tags.get(key) is None for key in MEASURED_ALIKE):
        return None
    alike = [
        v
        for v in versions
        if "fid" in v.tags and all(v.tags.get(key) == newest.tags[key] for key in MEASURED_ALIKE)
    ]
    return min(alike, key=lambda v: (float(v.tags["fid"]), int(v.version)), default=None)


def crown_champion(client, name: str, rounds: int = 20) -> None:
    """Point the alias champion at champion_of(the versions of `name`); left where it is when there is
    none. Two pipelines registering at once may each choose from a read the other's version is missing
    from: each reads the versions again after setting the alias and sets it again until a read after
    setting finds what the choice was made from. Whoever sets the alias last has then seen every
    version created before it, so the alias ends on the best of them, whatever the order."""
    chosen_from = None
    for _ in range(rounds):
        versions = client.search_model_versions(f"name = '{name}'")
        seen = sorted((v.version, sorted(v.tags.items())) for v in versions)
        if seen == chosen_from:
            return
        if (best := champion_of(versions)) is not None:
            client.set_registered_model_alias(name, CHAMPION, best.version)
        chosen_from = seen
