from mlflow.tracking import MlflowClient

from graphfuse.tracking import RunLogger, flatten, resolve_tracking_uri


def test_uri_precedence(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert resolve_tracking_uri() == "sqlite:///env.db"
    assert resolve_tracking_uri("sqlite:///cfg.db") == "sqlite:///cfg.db"


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2], "f": {}}) == {
        "a.b": 1,
        "a.c.d": None,
        "e": [1, 2],
        "f": {},
    }


def test_metrics_are_buffered_and_sent_in_batches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logger = RunLogger(uri, "t")
    calls = []
    real = logger.client.log_batch

    def counting(run_id, metrics=(), params=(), tags=()):
        calls.append(len(metrics))
        return real(run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(logger.client, "log_batch", counting)
    with logger.start():
        for step in range(1, 601):
            logger.log_metrics({"train_loss": 1.0 / step, "val_loss": 2.0 / step}, step)
    assert sum(calls) == 1200 and max(calls) <= 1000 and len([c for c in calls if c]) == 2
    client = MlflowClient(uri)
    history = client.get_metric_history(logger.run_id, "val_loss")
    assert len(history) == 600 and history[-1].step == 600
    assert client.get_run(logger.run_id).info.status == "FINISHED"


def test_failed_block_marks_run_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logger = RunLogger(uri, "t")
    try:
        with logger.start():
            raise KeyError("boom")
    except KeyError:
        pass
    assert MlflowClient(uri).get_run(logger.run_id).info.status == "FAILED"
