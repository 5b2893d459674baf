"""Save and rebuild trained models: a JSON spec plus a state dict, no pickled code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from graphfuse.models._base import MODELS, FusionModel

__all__ = ["load_checkpoint", "model_from_spec", "save_checkpoint"]


def save_checkpoint(model: FusionModel, folder: str | Path) -> Path:
    """Write ``model.json`` (:meth:`FusionModel.spec`) and ``state_dict.pt`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(model.spec(), indent=2))
    torch.save(model.state_dict(), folder / "state_dict.pt")
    return folder


def load_checkpoint(folder: str | Path) -> FusionModel:
    """Rebuild a model written by :func:`save_checkpoint` (weights loaded, eval mode).

    Fitted baselines (:mod:`graphfuse.models._sklearn`) keep their fit in tensor buffers
    whose shapes are only known after fitting; they resize them as the state dict loads.
    The model is rebuilt on the CPU whatever device it was saved from (move it with
    ``model.to(device)``).
    """
    folder = Path(folder)
    spec = json.loads((folder / "model.json").read_text())
    state = torch.load(folder / "state_dict.pt", weights_only=True, map_location="cpu")
    return model_from_spec(spec, state)


def model_from_spec(spec: dict, state: Mapping[str, torch.Tensor]) -> FusionModel:
    """The model :meth:`FusionModel.spec` describes, with the weights ``state`` (a state
    dict), in eval mode."""
    graph_args = spec.get("graph_args", {})  # e.g. a knowledge graph's node counts
    model = MODELS.get(spec["name"])(
        spec["in_dims"], spec["n_classes"], **graph_args, **spec["params"]
    )
    model.load_state_dict(dict(state))
    return model.eval()
