"""Progress of long work: each command reports its steps to a callback or a rich bar, and
nothing when progress is off; summary tables fit 80 columns with readable headers."""

import io
import re
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.experiment import (
    CVResult,
    RichProgress,
    TuneResult,
    benchmark_explainers,
    cross_validate,
    fit,
    tune,
)
from graphfuse.experiment._benchmark_report import print_report
from graphfuse.experiment._progress import reporting
from graphfuse.explain import run as run_explainers

from .test_cli import QUICK

OFF = ["tracking.enabled=false", "train.epochs=2", "data.synthetic.n_patients=60"]


class Steps(list):
    """A progress callback that records its calls."""

    def __call__(self, stage, done, total, info):
        self.append((stage, done, total, dict(info)))

    def of(self, stage):
        return [s for s in self if s[0] == stage]

    def finished(self, stage):
        """The steps of ``stage`` that report work done (the announcement excluded)."""
        return [s for s in self.of(stage) if s[1] > 0]


def console(width=80):
    return Console(file=io.StringIO(), width=width)


# --------------------------------------------------------------------------- the protocol


def test_rich_progress_draws_a_bar_per_stage_into_a_non_terminal_console():
    out = console()
    with RichProgress(out) as bar:
        bar("fold", 0, 3, {"fold": 0})
        for i in range(3):
            bar("fold", i + 1, 3, {"fold": i, "test_roc_auc": 0.91234})
        bar("trial", 1, 2, {"best": 0.5})
    text = out.file.getvalue()
    assert "fold" in text and "3/3" in text and "test_roc_auc 0.912" in text
    assert "trial" in text and "1/2" in text and "best 0.5" in text


def test_reporting_off_on_or_a_callable():
    with reporting(False) as off, reporting(None) as none:
        assert off is None and none is None
    steps = Steps()
    with reporting(steps) as given:
        assert given is steps
    with reporting(True) as bar:
        assert isinstance(bar, RichProgress)
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        with reporting("yes"):
            pass


# --------------------------------------------------------------------------- the commands


def test_cv_with_three_folds_reports_three_fold_steps(capsys):
    steps = Steps()
    cfg = load_config(QUICK, OFF)
    cross_validate(cfg, folds=3, progress=steps)
    folds = steps.finished("fold")
    assert [s[1] for s in folds] == [1, 2, 3] and {s[2] for s in folds} == {3}
    assert [s[3]["fold"] for s in folds] == [0, 1, 2] and "test_roc_auc" in folds[-1][3]
    assert steps.of("fold")[0][1] == 0  # announced before the first fold
    cross_validate(cfg, folds=3, progress=False)
    err = capsys.readouterr().err
    assert "fold" not in err and "━" not in err


def test_tune_with_two_trials_reports_two_steps_with_the_best_value(tmp_path):
    steps = Steps()
    cfg = load_config(QUICK, [*OFF, "tune.pruner=none"])
    result = tune(cfg, trials=2, storage=tmp_path / "j.journal", progress=steps)
    trials = steps.finished("trial")
    assert [s[1] for s in trials] == [1, 2] and {s[2] for s in trials} == {2}
    best = [s[3]["best"] for s in trials]
    assert all(isinstance(b, float) for b in best)
    assert best[-1] == pytest.approx(result.study.best_value)
    assert best[1] >= best[0]  # maximised: the best so far never drops


def test_tune_bar_holds_back_optuna_trial_logs_and_restores_them(tmp_path, capsys, caplog):
    cfg = load_config(QUICK, [*OFF, "tune.pruner=none"])
    before = optuna.logging.get_verbosity()
    tune(cfg, trials=1, storage=tmp_path / "j.journal", progress=True)
    err = capsys.readouterr().err
    assert "1/1" in err and "best" in err
    assert "Trial 0 finished" not in caplog.text  # Optuna logs it at INFO without the bar
    assert optuna.logging.get_verbosity() == before


def test_explainers_report_each_method_and_their_batches_of_patients():
    result = fit(load_config(QUICK, OFF))
    steps = Steps()
    methods = ["saliency", "sensitivity", "shap", "integrated_gradients"]
    params = {"shap": {"n_permutations": 2, "background": 4}}
    run_explainers(result.model, result.data, methods, params=params, progress=steps)
    assert steps.of("explain") == [
        ("explain", 0, 4, {"method": "saliency"}),
        ("explain", 1, 4, {"method": "sensitivity"}),
        ("explain", 2, 4, {"method": "shap"}),
        ("explain", 3, 4, {"method": "integrated_gradients"}),
        ("explain", 4, 4, {}),
    ]
    batches = steps.of("patients")
    assert {s[3]["method"] for s in batches} == set(methods[1:])  # saliency: one pass
    n = result.data["patient"].num_nodes
    for method in methods[1:]:
        mine = [s for s in batches if s[3]["method"] == method]
        done = [s[1] for s in mine]
        assert done == sorted(done) and done[-1] == mine[-1][2]  # counts up to its total
    # sensitivity counts (patient, modality) pairs; shap and integrated gradients patients
    available = int(result.data["patient"].available.sum())
    assert [s[2] for s in batches if s[3]["method"] == "sensitivity"][-1] == available
    assert [s[2] for s in batches if s[3]["method"] == "shap"][-1] == n


def test_benchmark_reports_explainers_and_permutation_tests(tmp_path):
    steps = Steps()
    cfg = load_config(QUICK, OFF)
    result = benchmark_explainers(
        cfg,
        methods=["saliency", "sensitivity"],
        top_k=10,
        n_permutations=20,
        out=tmp_path / "b",
        progress=steps,
    )
    assert [s[1] for s in steps.finished("explain")] == [1, 2]
    tests = steps.finished("enrichment")
    total = 2 * result.enrichment["key"].nunique()  # explainers x collections tested
    assert tests[-1][1] == total and {s[2] for s in tests} == {total}


def test_cli_progress_flag_on_and_off():
    runner = CliRunner()
    args = ["cv", "-c", str(QUICK), "--folds", "2", *(x for o in OFF for x in ("--set", o))]
    quiet = runner.invoke(main, args)  # not a terminal: no bar
    assert quiet.exit_code == 0, quiet.output
    assert "━" not in quiet.output and "fold 2/2" not in quiet.output
    shown = runner.invoke(main, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "2/2" in shown.output and "━" in shown.output
    off = runner.invoke(main, [*args, "--no-progress"])
    assert "━" not in off.output


# --------------------------------------------------------------------------- the CLI's options


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_option_of_every_command_has_help():
    missing = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, command in _commands(main)
        for param in command.params
        if getattr(param, "help", "x") in (None, "") and param.opts[0] != "--help"
    ]
    assert not missing, missing


def test_tracking_uri_is_an_option_of_every_command_that_tracks():
    tracked = {("fit",), ("tune",), ("cv",), ("predict",), ("explain",)}
    tracked |= {("benchmark", "explainers"), ("runs", "list"), ("runs", "clean")}
    found = {
        path
        for path, command in _commands(main)
        if any("--tracking-uri" in p.opts for p in command.params)
    }
    assert tracked <= found


def test_tracking_uri_is_the_config_tracking_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/x.db"
    out = CliRunner().invoke(main, ["fit", "-c", str(QUICK), "--tracking-uri", uri, "--dry-run"])
    assert out.exit_code == 0, out.output
    assert f"uri: {uri}" in out.output
    bad = CliRunner().invoke(main, ["cv", "-c", str(QUICK), "--tracking-uri", "htp:/x"])
    assert bad.exit_code == 2 and "tracking.uri" in bad.output and "Traceback" not in bad.output


def test_quick_config_has_a_tune_section():
    spec = load_config(QUICK).tune
    assert spec is not None and len(spec.space) >= 2


# --------------------------------------------------------------------------- 80 columns


def _headers(text: str) -> list[str]:
    """The header cells of the first table in ``text`` (the line above its rule)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("──"))
    return lines[rule - 1].split()


def _check_fits(text: str, expected: list[str]) -> list[str]:
    assert "…" not in text
    lines = [line for line in text.splitlines() if not line.startswith("refit it with")]
    assert all(len(line.rstrip()) <= 80 for line in lines)  # (a command stays one line)
    headers = _headers(text)
    assert len(headers) == len(set(headers)) == len(expected), headers
    legend = " ".join(text.split())
    for header, full in zip(headers, expected, strict=True):
        assert header == full or f"{header} = " in legend, (header, full)
    return headers


def test_cv_table_fits_80_columns():
    rows = []
    metrics = ["loss", "accuracy", "balanced_accuracy", "f1", "f1_macro", "roc_auc"]
    for seed in (0, 1):
        for fold in range(3):
            rows.append({"seed": seed, "fold": fold} | {f"test_{m}": 0.8 for m in metrics})
    frame = pd.DataFrame(rows)
    summary = frame.drop(columns=["seed", "fold"]).agg(["mean", "std"]).T
    out = console()
    CVResult(frame, summary, None, "configs/x.yaml", 3).print_summary(out)
    text = out.file.getvalue()
    _check_fits(text, ["seed", "fold", *metrics])
    assert re.search(r"mean\s+0\.800", text) and re.search(r"sd\s+0\.000", text)


def test_tune_table_fits_80_columns_with_a_legend():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists = {
        "graph.k": IntDistribution(3, 15),
        "model.hidden": IntDistribution(16, 256, log=True),
        "model.dropout": CategoricalDistribution([0.2, 0.5]),
        "train.lr": FloatDistribution(1e-4, 1e-2, log=True),
        "train.weight_decay": FloatDistribution(1e-4, 5e-2, log=True),
    }
    params = {
        "graph.k": 5,
        "model.hidden": 137,
        "model.dropout": 0.2,
        "train.lr": 0.0012345,
        "train.weight_decay": 0.012345,
    }
    study = optuna.create_study(direction="maximize", study_name="s")
    for _ in range(2):
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=0.91234,
                user_attrs={"test": {"roc_auc": 0.85}},
                intermediate_values={30: 0.9},
            )
        )
    space = {k: {"type": "float", "low": 0.1, "high": 0.2} for k in dists}
    cfg = load_config(QUICK, [f"tune.space={space}"])
    result = TuneResult(study, cfg, "j", None, None, [1], 1.0)
    out = console()
    result.print_summary(out)
    text = out.file.getvalue()
    names = ["trial", "state", "val", "test", "epochs", *dists]
    headers = _check_fits(text, names)
    legend = " ".join(text.split())
    assert "val = val_roc_auc" in legend and "test = test_roc_auc" in legend
    assert "train.weight_decay" in legend and "model.dropout" in legend and len(headers) == 10


def test_benchmark_table_fits_80_columns():
    cols = {"seconds": 12.3, "sig_go_bp": 3, "perm_p_go_bp": 0.01, "sig_reactome": 2}
    cols |= {"sig_hallmark": 1, "ref_gene_overlap": 4, "ref_pathway_perm_p": 0.03}
    cols |= {"mean_jaccard": 0.2, "precision": 0.5, "recall": 0.4}
    names = ["saliency", "integrated_gradients"]
    summary = pd.DataFrame([{"explainer": m} | cols for m in names])
    result = SimpleNamespace(
        settings={"top_k": 100, "fdr": 0.05},
        summary=summary,
        background={"label": "genes"},
        notes=[],
        out=Path("b"),
        run_id=None,
    )
    out = console()
    print_report(result, out)
    text = out.file.getvalue()
    expected = ["explainer", "seconds", "go_bp", "reactome", "hallmark", "ref_genes"]
    expected += ["ref_perm_p", "jaccard", "precision", "recall"]
    _check_fits(text, expected)
    assert "integrated_gradients" in text
