"""A tracked run is a product: its pipeline artifact reproduces predictions.csv, its MLflow
model (pyfunc, no pickle) predicts in a fresh process, `graphfuse predict` scores new
patients and logs a run tagged with the source run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.experiment import fit, load_pipeline, wide_table

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"

NEW = """\
seed: 0
data:
  source: synthetic
  synthetic:
    n_patients: 80
    n_genes: 200
    n_pathways: 20
    n_regions: 20
    effect_size: 1.5
    new_patients: {n: 30, seed: 5}
"""

pytestmark = pytest.mark.filterwarnings(
    # MLflow's own notices while logging a model from code
    "ignore::UserWarning:mlflow.*",
    "ignore::FutureWarning:mlflow.*",
    "ignore::DeprecationWarning",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{tmp}/mlflow.db"
    cfg = load_config(
        QUICK, [f"tracking.uri={uri}", "train.epochs=6", "tracking.register=graphfuse-quick"]
    )
    import os

    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        result = fit(cfg)
    finally:
        os.chdir(cwd)
    return result, uri, tmp


def test_pipeline_of_the_run_reproduces_its_predictions_csv(run):
    from mlflow.tracking import MlflowClient

    result, uri, tmp = run
    client = MlflowClient(uri)
    path = client.download_artifacts(result.run_id, "predictions.csv", str(tmp))
    logged = pd.read_csv(path, index_col=0)
    pipe = load_pipeline(result.run_id, tracking_uri=uri)
    assert pipe.run_id == result.run_id
    test = logged[logged["split"] == "test"]
    tables = {}
    for m in result.cohort.modalities:
        adata = result.cohort.modality(m)
        keep = adata.obs_names.isin(test.index)
        tables[m] = adata[keep].copy()
    frame = pipe.predict(tables)
    cols = ["p_CN", "p_AD"]
    np.testing.assert_allclose(
        frame.loc[test.index, cols].to_numpy(), test[cols].to_numpy(), rtol=0, atol=1e-6
    )


def test_mlflow_model_is_a_pyfunc_with_a_signature_loaded_in_a_fresh_process(run):
    result, uri, tmp = run
    cohort = result.cohort
    ids = cohort.patients[result.splits["test"]][:5]
    tables = {}
    for m in cohort.modalities:
        adata = cohort.modality(m)
        keep = adata.obs_names.isin(ids)
        tables[m] = pd.DataFrame(
            adata.X[keep], index=adata.obs_names[keep], columns=adata.var_names
        )
    wide = wide_table(tables)
    wide.to_parquet(tmp / "wide.parquet")
    script = textwrap.dedent(
        f"""
        import warnings; warnings.simplefilter("ignore")
        import mlflow, pandas as pd
        mlflow.set_tracking_uri({uri!r})
        model = mlflow.pyfunc.load_model("runs:/{result.run_id}/model")
        sig = model.metadata.signature
        assert sig is not None and "expression/G00000" in sig.inputs.input_names()
        out = model.predict(pd.read_parquet({str(tmp / "wide.parquet")!r}))
        out.to_csv({str(tmp / "pyfunc.csv")!r}, index=False)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp, timeout=300)
    out = pd.read_csv(tmp / "pyfunc.csv").set_index("patient")
    direct = result.pipeline().predict(tables)
    np.testing.assert_allclose(
        out.loc[direct.index, "p_AD"].to_numpy(), direct["p_AD"].to_numpy(), atol=1e-6
    )
    # registered, and no pickled flavour anywhere in the logged model
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    versions = client.search_model_versions("name='graphfuse-quick'")
    assert len(versions) == 1
    import mlflow

    mlflow.set_tracking_uri(uri)
    local = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model", dst_path=str(tmp / "m"))
    )
    names = {p.name for p in local.rglob("*")}
    assert "MLmodel" in names and "pipeline.json" in names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".pth"))]
    assert "python_model.pkl" not in names


def test_cli_predict_writes_csv_parquet_h5mu_and_tracks_the_source(run):
    from mlflow.tracking import MlflowClient

    result, uri, tmp = run
    (tmp / "new.yaml").write_text(NEW)
    runner = CliRunner()
    for suffix in ("csv", "parquet", "h5mu"):
        out = tmp / f"pred.{suffix}"
        args = ["predict", "--run", result.run_id, "--data", str(tmp / "new.yaml")]
        args += ["--out", str(out), "--tracking-uri", uri]
        res = runner.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert out.exists()
        assert "roc_auc" in res.output and "graphfuse.source_run" in res.output
    csv = pd.read_csv(tmp / "pred.csv", index_col=0)
    parquet = pd.read_parquet(tmp / "pred.parquet")
    assert len(csv) == 30 and list(parquet.index) == list(csv.index)
    import mudata as md

    mdata = md.read_h5mu(str(tmp / "pred.h5mu"))
    assert "graphfuse_prediction" in mdata.obs.columns
    client = MlflowClient(uri)
    runs = client.search_runs(
        [client.get_run(result.run_id).info.experiment_id],
        f"tags.`graphfuse.source_run` = '{result.run_id}'",
    )
    assert len(runs) == 3
    fit_name = client.get_run(result.run_id).info.run_name
    assert {r.info.run_name for r in runs} == {f"{fit_name}-predict"}
    res = runner.invoke(
        main,
        ["predict", "--run", result.run_id, "--data", str(tmp / "new.yaml"), "--no-track",
         "--tracking-uri", uri],
    )  # fmt: skip
    assert res.exit_code == 0 and "MLflow run" not in res.output
    bad = runner.invoke(
        main, ["predict", "--run", "nope", "--data", str(tmp / "new.yaml"), "--tracking-uri", uri]
    )
    assert bad.exit_code == 2 and "neither a pipeline folder nor an MLflow run" in bad.output
    res = runner.invoke(
        main,
        ["explain", "--run", result.run_id, "--data", str(tmp / "new.yaml"), "-m", "saliency",
         "--tracking-uri", uri, "--out", str(tmp / "expl")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp / "expl" / "saliency").is_dir()
