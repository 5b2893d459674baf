"""`graphfuse tune`: search space, Optuna study with resume, pruning, nested MLflow runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

import graphfuse.experiment
from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.tune import (
    JOURNAL_NAME,
    check_space,
    default_storage,
    open_storage,
    redact,
    trial_config,
    tune,
)

# mlflow.pytorch's import (logging a trial's model) warns about its own type hints.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")

BASE = {
    "seed": 0,
    "data": {
        "source": "synthetic",
        "synthetic": {"n_patients": 40, "n_genes": 80, "n_pathways": 10, "n_regions": 10},
    },
    "graph": {"name": "knn", "k": 4},
    "model": {"name": "gcn_fusion", "hidden": 8},
    "train": {"epochs": 3, "lr": 0.01, "patience": 5},
    "tracking": {"enabled": False},
}
SPACE = {
    "model.params.hidden": {"type": "int", "low": 4, "high": 16, "log": True},
    "train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-1, "log": True},
    "model.dropout": {"type": "categorical", "choices": [0.2, 0.5]},
}


def write_config(folder: Path, name: str = "tiny.yaml", **sections) -> Path:
    raw = {**BASE, **sections}
    raw.setdefault("tune", {"pruner": "none", "space": SPACE})
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow SQLite store for the module (creating one costs seconds)."""
    folder = tmp_path_factory.mktemp("tune")
    return folder, f"sqlite:///{folder}/mlflow.db"


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


# --------------------------------------------------------------------------- the space


def test_space_is_parsed_with_defaults(tmp_path):
    cfg = load_config(write_config(tmp_path))
    spec = cfg.tune
    assert spec.metric is None and spec.metric_for(cfg.task) == "val_roc_auc"
    assert spec.direction_for("classification") == "maximize"
    assert spec.metric_for("survival") == "val_c_index"
    assert spec.space["train.lr"].log and spec.space["model.params.hidden"].type == "int"
    assert spec.space["model.dropout"].bounds() == [0.2, 0.5]
    loss = load_config(overrides={"tune": {"metric": "val_loss", "space": SPACE}})
    assert loss.tune.direction_for("survival") == "minimize"
    assert "tune" in cfg.to_dict() and "tune" not in load_config(overrides={}).to_dict()


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"train.lr": {"type": "float", "low": 1e-3, "hgh": 1}}, r"tune\.space\.train\.lr\.hgh"),
        ({"train.lr": {"type": "float", "low": 1e-3, "hgh": 1}}, r"valid keys here: .*high"),
        ({"train.lr": {"type": "float", "low": 0.0, "high": 1, "log": True}}, "needs low > 0"),
        ({"train.lr": {"type": "float", "low": 0.5, "high": 0.1}}, r"low \(0\.5\) must be <"),
        ({"model.hidden": {"type": "int", "low": 2.5, "high": 9}}, "integer low"),
        ({"model.dropout": {"type": "categorical"}}, "non-empty list of choices"),
        ({"model.dropout": {"type": "categorical", "choices": [0.1], "low": 0}}, "choices only"),
        ({"train.lr": {"type": "grid", "low": 0, "high": 1}}, r"tune\.space\.train\.lr\.type"),
        ({"seed": {"type": "int", "low": 0, "high": 3}}, "every trial must share"),
        ({"tracking.uri": {"type": "categorical", "choices": ["a"]}}, "not a hyper-parameter"),
        (
            {
                "model.hidden": {"type": "int", "low": 2, "high": 9},
                "model.params.hidden": {"type": "int", "low": 2, "high": 9},
            },
            "given twice",
        ),
    ],
)
def test_space_errors_name_the_key(space, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(overrides={"tune": {"space": space}})


def test_test_metric_is_refused_and_space_required():
    with pytest.raises(ConfigError, match=r"tune\.metric.*not a validation metric"):
        load_config(overrides={"tune": {"metric": "test_roc_auc", "space": SPACE}})
    with pytest.raises(ConfigError, match=r"tune\.space.*Field required"):
        load_config(overrides={"tune": {"metric": "val_loss"}})


def test_trial_config_applies_values_and_revalidates():
    cfg = load_config(overrides={"tracking.enabled": False, "tune": {"space": SPACE}})
    trial = trial_config(cfg, {"model.params.hidden": 12, "train.lr": 0.05}, run_name="t 3")
    assert trial.model.params["hidden"] == 12 and trial.train.lr == 0.05
    assert trial.tracking.run_name == "t 3" and trial.tune is None
    assert trial_config(cfg, {"model.hidden": 7}).model.params["hidden"] == 7
    assert cfg.model.params["hidden"] == 64 and cfg.train.lr == 1e-3  # base untouched


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"train.lrr": {"type": "float", "low": 1e-3, "high": 1}}, r"train\.lrr.*unknown key"),
        ({"model.hiden": {"type": "int", "low": 2, "high": 9}}, r"model\.hiden.*unknown key"),
        ({"train.lr": {"type": "float", "low": 1e-3, "high": 20.0}}, r"train\.lr = 20\.0"),
        ({"train.epochs.x": {"type": "int", "low": 1, "high": 2}}, r"train\.epochs is a value"),
    ],
)
def test_bad_path_or_value_fails_before_any_trial(tmp_path, space, expected):
    cfg = load_config(write_config(tmp_path, tune={"space": space}))
    with pytest.raises(ConfigError, match=expected):
        check_space(cfg)
    journal = tmp_path / "study.journal"
    with pytest.raises(ConfigError, match=r"tune\.space"):
        tune(cfg, trials=1, storage=journal)
    assert not journal.exists()  # nothing ran, no study was created


def test_no_tune_section_is_a_config_error(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(ConfigError, match=r"plain\.yaml: no tune: section"):
        tune(load_config(path), trials=1, storage=tmp_path / "j")


# --------------------------------------------------------------------------- storage


def test_default_storage_sits_beside_the_tracking_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def where(**tracking) -> Path:
        return default_storage(
            load_config(overrides={f"tracking.{k}": v for k, v in tracking.items()})
        )

    assert where(uri="sqlite:////data/runs/mlflow.db") == Path("/data/runs") / JOURNAL_NAME
    assert where(uri="file:///data/mlruns") == Path("/data") / JOURNAL_NAME
    assert where() == tmp_path / JOURNAL_NAME  # sqlite:///mlflow.db in the working folder
    assert where(uri="http://mlflow.example:5000") == tmp_path / JOURNAL_NAME
    assert where(enabled=False, uri="sqlite:////data/x.db") == tmp_path / JOURNAL_NAME


def test_unreachable_database_is_a_config_error_without_the_password():
    assert redact("postgresql://me:s3cret@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    with pytest.raises(ConfigError, match=r"postgresql://me:\*\*\*@127\.0\.0\.1") as info:
        open_storage("postgresql://me:s3cret@127.0.0.1:1/optuna")
    assert "s3cret" not in str(info.value)


# --------------------------------------------------------------------------- real searches


def test_resume_adds_trials_to_one_study_under_one_parent_run(store):
    folder, uri = store
    path = write_config(folder, tracking={"uri": uri, "experiment": "resume"})
    first = tune(load_config(path), trials=2)
    assert (folder / JOURNAL_NAME).exists() and first.storage == str(folder / JOURNAL_NAME)
    second = tune(load_config(path), trials=2)
    study = second.study
    assert study.study_name == "tiny" and first.new_trials == [0, 1]
    assert second.new_trials == [2, 3]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # new points
    assert second.parent_run_id == first.parent_run_id

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("resume")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["graphfuse.tune.study"] == "tiny"
    best = study.best_trial
    assert parent.data.tags["graphfuse.tune.best_trial"] == str(best.number)
    assert parent.data.metrics["best_value"] == pytest.approx(best.value)
    assert parent.data.metrics["n_trials_complete"] == 4
    assert float(parent.data.tags["graphfuse.tune.best.train.lr"]) == pytest.approx(
        best.params["train.lr"]
    )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "best_config.yaml", "config.yaml"} <= artifacts
    by_trial = {int(r.data.tags["graphfuse.tune.trial"]): r for r in children}
    assert sorted(by_trial) == [0, 1, 2, 3]
    for number, run in by_trial.items():
        trial = study.trials[number]
        assert run.info.status == "FINISHED"
        assert run.data.tags["graphfuse.tune.state"] == "COMPLETE"
        assert run.data.tags["graphfuse.tune.study"] == "tiny"
        assert run.data.params["train.lr"] == str(trial.params["train.lr"])
        assert run.data.params["model.hidden"] == str(trial.params["model.params.hidden"])
        assert run.data.metrics["val_roc_auc"] == pytest.approx(trial.value)
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
    assert by_trial[best.number].info.run_id == parent.data.tags["graphfuse.tune.best_run_id"]
    refit = second.best_config()
    assert refit.train.lr == best.params["train.lr"] and refit.tune is None


def test_pruned_trials_are_pruned_in_optuna_and_killed_in_mlflow(store):
    folder, uri = store
    path = write_config(folder, tracking={"uri": uri, "experiment": "pruned"})
    result = tune(load_config(path), trials=2, study="pruned", pruner=AlwaysPrune())
    trials = result.study.trials
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    assert all(t.last_step == 1 for t in trials)  # stopped after the first epoch of 3
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("pruned")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert len(children) == 2
    for run in children:
        assert run.info.status == "KILLED"
        assert run.data.tags["graphfuse.tune.state"] == "PRUNED"
        assert run.data.tags["graphfuse.tune.pruned_epoch"] == "1"
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 1
    assert parent.data.metrics["n_trials_pruned"] == 2
    assert "graphfuse.tune.best_trial" not in parent.data.tags


def test_pruners_from_the_config(tmp_path):
    from graphfuse.tune import _pruner

    for name, cls in [
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("none", optuna.pruners.NopPruner),
    ]:
        cfg = load_config(write_config(tmp_path, tune={"pruner": name, "space": SPACE}))
        assert isinstance(_pruner(cfg.tune, cfg), cls)


def test_sqlite_storage_url_and_other_metric_refused(tmp_path):
    path = write_config(tmp_path)
    url = f"sqlite:///{tmp_path}/optuna.db"
    result = tune(load_config(path), trials=1, storage=url, study="s")
    assert result.storage == url and len(result.study.trials) == 1
    assert optuna.load_study(study_name="s", storage=url).trials[0].state.name == "COMPLETE"
    other = load_config(path, {"tune.metric": "val_f1"})
    with pytest.raises(ConfigError, match="scores trials on val_roc_auc"):
        tune(other, trials=1, storage=url, study="s")
    loss = load_config(path, {"tune.metric": "val_loss"})
    with pytest.raises(ConfigError, match="exists and maximizes"):
        tune(loss, trials=1, storage=url, study="s")


# --------------------------------------------------------------------------- selection


def fake_fit(seen: list):
    """A stand-in for fit whose validation score rises with lr while its test score falls."""

    def fit(cfg, *, on_epoch=None, parent_run_id=None, run_tags=None, **_):
        lr = cfg.train.lr
        history = []
        for epoch in range(1, cfg.train.epochs + 1):
            record = {"epoch": epoch, "val_loss": 1.0 - lr * epoch, "val_roc_auc": lr * 5}
            history.append(record)
            on_epoch(record)
        seen.append(lr)
        return SimpleNamespace(
            metrics={"val": {"roc_auc": lr * 5}, "test": {"roc_auc": 1.0 - lr * 5}},
            history=SimpleNamespace(best_epoch=cfg.train.epochs, epochs=history),
            run_id=None,
        )

    return fit


def test_selection_uses_validation_never_test(tmp_path, monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(graphfuse.experiment._tune_search, "fit", fake_fit(seen))
    space = {"train.lr": {"type": "float", "low": 0.01, "high": 0.19}}
    cfg = load_config(write_config(tmp_path, tune={"pruner": "none", "space": space}))
    result = tune(cfg, trials=5, storage=tmp_path / "j.journal")
    trials = result.study.trials
    assert len(seen) == 5
    best = result.study.best_trial
    assert best.params["train.lr"] == max(seen)  # highest validation score
    assert best.user_attrs["test"]["roc_auc"] == min(
        t.user_attrs["test"]["roc_auc"] for t in trials
    )
    for t in trials:
        assert t.value == pytest.approx(t.user_attrs["val"]["roc_auc"])
        assert t.intermediate_values == {}  # pruner none: nothing reported, nothing stored
    frame = result.trials_frame()
    assert list(frame.columns[:4]) == ["number", "state", "value", "test_roc_auc"]


def test_loss_metric_is_minimised_from_the_best_epoch_record(tmp_path, monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(graphfuse.experiment._tune_search, "fit", fake_fit(seen))
    space = {"train.lr": {"type": "float", "low": 0.01, "high": 0.19}}
    tune_section = {"pruner": "none", "metric": "val_loss", "space": space}
    cfg = load_config(write_config(tmp_path, tune=tune_section))
    result = tune(cfg, trials=3, storage=tmp_path / "j.journal")
    best = result.study.best_trial
    assert result.study.direction.name == "MINIMIZE"
    assert best.value == pytest.approx(1.0 - 3 * max(seen))  # the best epoch's val_loss


def test_reports_start_at_the_warmup_every_k_epochs(tmp_path, monkeypatch):
    monkeypatch.setattr(graphfuse.experiment._tune_search, "fit", fake_fit([]))
    space = {"train.lr": {"type": "float", "low": 0.01, "high": 0.19}}
    section = {"pruner": "median", "warmup_epochs": 2, "report_every": 2, "space": space}
    cfg = load_config(write_config(tmp_path, tune=section), ["train.epochs=7"])
    result = tune(cfg, trials=2, storage=tmp_path / "j.journal")
    for t in result.study.trials:
        assert sorted(t.intermediate_values) == [2, 4, 6]
        assert t.intermediate_values[4] == pytest.approx(t.value)


def test_survival_is_scored_on_the_validation_c_index(tmp_path):
    survival = {"task": "survival", "data.synthetic.survival": True}
    survival["data.survival"] = {"time": "time", "event": "event"}
    cfg = load_config(write_config(tmp_path), survival)
    result = tune(cfg, trials=1, storage=tmp_path / "j.journal")
    (trial,) = result.study.trials
    assert result.metric == "val_c_index" and result.study.direction.name == "MAXIMIZE"
    assert result.study.user_attrs["graphfuse.metric"] == "val_c_index"
    assert trial.value == pytest.approx(trial.user_attrs["val"]["c_index"])
    assert "c_index" in trial.user_attrs["test"]


# --------------------------------------------------------------------------- inner CV

CV = {"train.selection": "cv", "train.inner_folds": 2}


def fold_scores(lr: float, folds: int) -> list[float]:
    return [0.5 + lr, 0.9 - 10 * lr, 0.4 + 5 * lr][:folds]


def fake_cv_fit():
    """A stand-in for fit with ``train.selection: cv``: per-epoch records tagged with the
    fold (epochs restart at 1 in each), then ``on_fold`` with the fold's score
    (:func:`fold_scores`); the out-of-fold score is their mean minus 0.01."""
    import pandas as pd

    def fit(cfg, *, on_epoch=None, on_fold=None, parent_run_id=None, run_tags=None, **_):
        scores = fold_scores(cfg.train.lr, cfg.train.inner_folds)
        for k, score in enumerate(scores):
            for epoch in range(1, cfg.train.epochs + 1):
                on_epoch({"epoch": epoch, "fold": k, "val_loss": 0.5, "val_roc_auc": score})
            on_fold(k, {"best_epoch": 2, "val_loss": 0.5, "val_roc_auc": score})
        oof = sum(scores) / len(scores) - 0.01
        inner = pd.DataFrame({"best_epoch": [2] * len(scores), "val_roc_auc": scores})
        return SimpleNamespace(
            metrics={"val": {"roc_auc": oof}, "test": {"roc_auc": 0.5}},
            history=SimpleNamespace(best_epoch=2, epochs=[]),
            inner=SimpleNamespace(scores=inner.rename_axis("fold")),
            run_id=None,
        )

    return fit


def test_cv_reports_the_running_mean_per_fold_never_epochs(tmp_path, monkeypatch):
    monkeypatch.setattr(graphfuse.experiment._tune_search, "fit", fake_cv_fit())
    space = {"train.lr": {"type": "float", "low": 0.01, "high": 0.03}}
    section = {"pruner": "median", "warmup_folds": 1, "startup_trials": 5, "space": space}
    overrides = CV | {"train.inner_folds": 3, "train.epochs": 4}
    cfg = load_config(write_config(tmp_path, tune=section), overrides)
    result = tune(cfg, trials=2, storage=tmp_path / "j.journal")
    assert result.study.user_attrs["graphfuse.selection"] == "cv:3"
    for trial in result.study.trials:
        s = fold_scores(trial.params["train.lr"], 3)
        assert trial.state.name == "COMPLETE"
        # step = folds done; value = the running mean (epochs 1-4 of 3 folds never reported)
        assert trial.intermediate_values == pytest.approx(
            {1: s[0], 2: (s[0] + s[1]) / 2, 3: sum(s) / 3}
        )
        assert trial.value == pytest.approx(sum(s) / 3 - 0.01)  # the out-of-fold score
        assert trial.user_attrs["inner"]["val_roc_auc"] == s
    frame = result.trials_frame()
    for _, row in frame.iterrows():
        s = fold_scores(row["params.train.lr"], 3)
        mean = sum(s) / 3
        assert row["inner_mean"] == pytest.approx(mean)
        assert row["inner_sd"] == pytest.approx((sum((x - mean) ** 2 for x in s) / 2) ** 0.5)
    assert list(frame["folds"]) == [3, 3] and "epochs" not in frame


def test_cv_prunes_after_a_fold(tmp_path, monkeypatch):
    monkeypatch.setattr(graphfuse.experiment._tune_search, "fit", fake_cv_fit())
    space = {"train.lr": {"type": "float", "low": 0.01, "high": 0.03}}
    cfg = load_config(write_config(tmp_path, tune={"space": space}), CV)
    result = tune(cfg, trials=1, storage=tmp_path / "j.journal", pruner=AlwaysPrune())
    (trial,) = result.study.trials
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]
    assert trial.user_attrs["inner"] == {"val_roc_auc": fold_scores(trial.params["train.lr"], 1)}


def test_cv_pruners_count_folds(tmp_path):
    from graphfuse.tune import _pruner

    section = {"pruner": "median", "warmup_folds": 3, "warmup_epochs": 7, "space": SPACE}
    cfg = load_config(write_config(tmp_path, tune=section), CV | {"train.inner_folds": 5})
    median = _pruner(cfg.tune, cfg)
    assert median._n_warmup_steps == 3 and median._interval_steps == 1
    band = _pruner(load_config(cfg.source, CV | {"tune.pruner": "hyperband"}).tune, cfg)
    assert band._min_resource == 3 and band._max_resource == 5
    holdout = load_config(write_config(tmp_path, tune=section))
    assert _pruner(holdout.tune, holdout)._n_warmup_steps == 7


def test_selection_is_not_searched_and_a_study_keeps_its_selection(tmp_path):
    for key in ("train.selection", "train.inner_folds"):
        space = {key: {"type": "categorical", "choices": ["cv"] if "sel" in key else [3, 5]}}
        with pytest.raises(ConfigError, match=r"cannot be searched.*not comparable"):
            load_config(overrides={"tune": {"space": space}})
    path = write_config(tmp_path)
    journal = tmp_path / "j.journal"
    tune(load_config(path, {"train.epochs": 1}), trials=1, storage=journal, study="s")
    cv = load_config(path, CV)
    with pytest.raises(ConfigError, match=r"scores trials by validation patients.*2-fold inner"):
        tune(cv, trials=1, storage=journal, study="s")


def test_cv_search_scores_trials_on_the_inner_folds(store):
    """The real thing, tiny: 2 trials, 2 inner folds, 2 epochs, tracked in MLflow."""
    folder, uri = store
    section = {"pruner": "median", "startup_trials": 1, "warmup_folds": 1, "space": SPACE}
    path = write_config(folder, "cv.yaml", tune=section)
    overrides = CV | {"train.epochs": 2, "tracking.uri": uri, "tracking.experiment": "cv"}
    overrides["tracking.enabled"] = True
    result = tune(load_config(path, overrides), trials=2)
    trials = result.study.trials
    first = trials[0]
    assert first.state.name == "COMPLETE"
    assert first.value == pytest.approx(first.user_attrs["val"]["roc_auc"])  # out of fold
    assert set(first.intermediate_values) == {1, 2}  # one report per fold, none per epoch
    scores = first.user_attrs["inner"]["val_roc_auc"]
    assert len(scores) == 2
    assert first.intermediate_values[2] == pytest.approx(sum(scores) / 2)
    client = MlflowClient(uri)
    run = client.get_run(first.user_attrs["mlflow_run_id"])
    assert run.data.tags["graphfuse.tune.state"] == "COMPLETE"
    assert run.data.metrics["inner_val_roc_auc_mean"] == pytest.approx(sum(scores) / 2)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["graphfuse.tune.selection"] == "cv:2"
    # pruned after its first inner fold: PRUNED in Optuna, KILLED in MLflow
    cfg = load_config(path, overrides)
    pruned = tune(cfg, trials=1, study="cv-pruned", pruner=AlwaysPrune()).study.trials
    assert [t.state.name for t in pruned] == ["PRUNED"] and list(pruned[0].intermediate_values) == [
        1
    ]
    exp = client.get_experiment_by_name("cv")
    (run,) = client.search_runs(
        [exp.experiment_id],
        "tags.`graphfuse.tune.study` = 'cv-pruned' and tags.`graphfuse.tune.trial` = '0'",
    )
    assert run.info.status == "KILLED" and run.data.tags["graphfuse.tune.pruned_fold"] == "1"


# --------------------------------------------------------------------------- CLI


def test_cli_tune_prints_trials_and_best(tmp_path):
    path = write_config(tmp_path)
    journal = tmp_path / "cli.journal"
    runner = CliRunner()
    args = ["tune", "-c", str(path), "--trials", "2", "--storage", str(journal)]
    out = runner.invoke(main, [*args, "--study", "cli", "--set", "train.epochs=2"])
    assert out.exit_code == 0, out.output
    assert "graphfuse tune — study cli" in out.output and "COMPLETE" in out.output
    assert "best trial" in out.output and "never used to choose" in out.output
    assert "graphfuse fit --config" in out.output and "--set train.lr=" in out.output
    assert "--set train.epochs=2 --set " in out.output  # the refit repeats the --set items
    again = runner.invoke(main, [*args, "--study", "cli", "--trials", "1"])
    assert again.exit_code == 0, again.output
    assert "1 trials run now (*), 3 in the study" in again.output
    assert optuna.load_study(study_name="cli", storage=open_storage(journal)).trials[
        0
    ].params.keys() == {"model.params.hidden", "train.lr", "model.dropout"}


def test_cli_errors_and_help(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(BASE))
    runner = CliRunner()
    out = runner.invoke(main, ["tune", "-c", str(plain), "--trials", "1"])
    assert out.exit_code == 2 and "no tune: section" in out.output
    bad = write_config(tmp_path, "bad.yaml", tune={"space": {"train.lrr": SPACE["train.lr"]}})
    out = runner.invoke(main, ["tune", "-c", str(bad), "--storage", str(tmp_path / "j")])
    assert out.exit_code == 2 and "train.lrr" in out.output and "Traceback" not in out.output
    helptext = runner.invoke(main, ["tune", "--help"]).output
    for option in ("--config", "--trials", "--set", "--storage", "--study", "--timeout"):
        assert option in helptext


def test_cli_tune_with_inner_cv_says_what_chose(tmp_path):
    path = write_config(tmp_path)
    args = ["tune", "-c", str(path), "--trials", "1", "--storage", str(tmp_path / "j")]
    sets = ["train.selection=cv", "train.inner_folds=2", "train.epochs=2"]
    out = CliRunner().invoke(main, [*args, *(x for s in sets for x in ("--set", s))])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "out of fold over 2 inner folds of the training patients" in text
    assert "sd = sd of val_roc_auc over the inner folds" in text and " folds " in text
    assert result_row_has_two_folds(out.output)
    assert "chosen on inner folds of the training patients only" in text
    assert "--set train.selection=cv --set train.inner_folds=2" in text  # the refit repeats it


def result_row_has_two_folds(output: str) -> bool:
    """The CLI table's trial row: trial, state, val, sd, test, folds (= 2), values."""
    row = next(line.split() for line in output.splitlines() if "COMPLETE" in line)
    return row[:2] == ["0*", "COMPLETE"] and row[5] == "2"
