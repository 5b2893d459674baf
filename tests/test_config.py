from pathlib import Path

import pytest

from graphfuse.config import ExperimentConfig, load_config, parse_overrides
from graphfuse.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_shipped_configs_validate():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.source == str(path)
        assert cfg.graph.params["k"] >= 1
        hidden = cfg.model.params.get("hidden", 1)
        assert min(hidden if isinstance(hidden, list) else [hidden]) >= 1


def test_component_defaults_filled_and_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, "graph: {name: knn, k: 3}\n"))
    assert cfg.graph.params == {
        "index": "auto",
        "hnsw_m": 32,
        "ef_construction": 200,
        "ef_search": 64,
        "k": 3,
        "metric": "cosine",
        "symmetric": True,
        "weighted": True,
    }
    again = load_config(write(tmp_path, cfg.to_yaml()))
    assert again.to_dict() == cfg.to_dict()


def test_unknown_key_names_file_key_and_valid_keys(tmp_path):
    path = write(tmp_path, "train:\n  epoch: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "train.epoch" in msg and "unknown key" in msg
    assert "epochs" in msg and "patience" in msg  # the valid keys are listed


def test_unknown_component_param_lists_its_params(tmp_path):
    with pytest.raises(ConfigError, match=r"graph\.kk: unknown key; valid keys here: .*\bk\b"):
        load_config(write(tmp_path, "graph: {name: knn, kk: 3}\n"))


def test_wrong_type_and_out_of_range(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epochs.*integer.*'many'"):
        load_config(write(tmp_path, "train: {epochs: many}\n"))
    with pytest.raises(ConfigError, match=r"graph\.k.*greater than or equal to 1.*got 0"):
        load_config(write(tmp_path, "graph: {k: 0}\n"))
    with pytest.raises(ConfigError, match=r"graph\.metric.*'cosine', 'euclidean' or 'correlation'"):
        load_config(write(tmp_path, "graph: {metric: manhattan}\n"))


def test_unknown_component_name_lists_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.name.*unknown model 'gnn'; valid: .*gcn_fusion"):
        load_config(write(tmp_path, "model: {name: gnn}\n"))


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [epochs: 3\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_overrides_apply_and_are_validated(tmp_path):
    path = write(tmp_path, "train: {epochs: 5}\n")
    cfg = load_config(path, ["train.epochs=7", "graph.k=3", "tracking.uri=null", "seed=4"])
    assert (cfg.train.epochs, cfg.graph.params["k"], cfg.tracking.uri, cfg.seed) == (7, 3, None, 4)
    with pytest.raises(ConfigError, match=r"train\.epochz \(from --set\): unknown key"):
        load_config(path, ["train.epochz=7"])
    with pytest.raises(ConfigError, match=r"expected KEY\.SUB=VALUE"):
        load_config(path, ["train.epochs"])
    with pytest.raises(ConfigError, match=r"train\.epochs is a value"):
        load_config(path, ["train.epochs.x=1"])


def test_parse_overrides_uses_yaml_scalars():
    assert parse_overrides(["a.b=0.5", "a.c=true", "a.d=[x, y]", "a.e=text"]) == {
        "a.b": 0.5,
        "a.c": True,
        "a.d": ["x", "y"],
        "a.e": "text",
    }


def test_defaults_need_no_file():
    cfg = load_config()
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.name == "gcn_fusion"


def test_configs_built_in_python_are_resolved_too():
    from graphfuse.config import GraphConfig, resolve_components

    cfg = ExperimentConfig(graph=GraphConfig(name="knn", k=3))
    assert resolve_components(cfg).graph.params["metric"] == "cosine"
    bad = ExperimentConfig(graph=GraphConfig(name="knn", k=-1))
    with pytest.raises(ConfigError, match=r"<config>: graph\.k"):
        resolve_components(bad)


def test_a_key_given_twice_is_refused_not_silently_overridden(tmp_path):
    from graphfuse.config import load_data_section

    path = tmp_path / "dup.yaml"
    path.write_text("seed: 0\ntrain:\n  epochs: 5\n  lr: 0.01\n  epochs: 50\n")
    with pytest.raises(ConfigError, match=r"key 'epochs' appears twice .*lines 3 and 5"):
        load_config(path)
    data = tmp_path / "new.yaml"
    data.write_text("data:\n  source: synthetic\n  source: tables\n")
    with pytest.raises(ConfigError, match=r"key 'source' appears twice"):
        load_data_section(data)
