"""``explain.run``: several explainers in one loop, each attribution with its seconds."""

from __future__ import annotations

import numpy as np
import pytest

from graphfuse.errors import RegistryError
from graphfuse.explain import build_explainers, explain, run


def test_run_matches_each_explainer_alone(gcn):
    model, graph = gcn
    seen: list[str] = []
    out = run(
        model,
        graph,
        ["saliency", "sensitivity"],
        patients=[0, 1, 2],
        seed=3,
        params={"sensitivity": {"groups": "modalities"}},
        callback=lambda name, attribution: seen.append(name),
    )
    assert list(out) == ["saliency", "sensitivity"] == seen
    for name, attribution in out.items():
        params = {"groups": "modalities"} if name == "sensitivity" else {}
        alone = explain(model, graph, name, patients=[0, 1, 2], seed=3, **params)
        assert attribution.seconds >= 0
        for modality, frame in attribution.scores.items():
            np.testing.assert_array_equal(frame.to_numpy(), alone.scores[modality].to_numpy())


def test_run_takes_built_explainers_and_refuses_unknown_names(gcn):
    model, graph = gcn
    built = build_explainers(["saliency"])
    assert list(run(model, graph, built)) == ["saliency"]
    with pytest.raises(RegistryError, match="valid"):
        build_explainers(["lime"])
