"""Where tensors live: the ``train.device`` setting, and moving models and graphs there.

``train.device`` is ``auto`` (a CUDA GPU when :func:`torch.cuda.is_available`, else the
CPU), ``cpu``, ``cuda`` (the current CUDA device) or ``cuda:N``. :func:`resolve_device`
turns it into a :class:`torch.device`, refusing a GPU the machine does not have;
:func:`to_device` moves a patient graph; :func:`device_of` says where a model or a graph
is; :func:`on_device` puts a model and its graph on one device for a computation without
touching the caller's objects. Explainers and the trainer create every tensor of their
own on the device of the graph they were given (random draws are made on the CPU from
seeded generators and then moved, so a seed gives the same draws on every device).

Examples
--------
>>> resolve_device("cpu")
device(type='cpu')
>>> data = HeteroData()
>>> data["patient"].x = torch.zeros(2, 3)
>>> to_device(data, "cpu") is data
True
"""

from __future__ import annotations

import copy
import re
from typing import TypeVar

import torch
from torch_geometric.data import HeteroData

from graphfuse.errors import ConfigError, DataError

__all__ = [
    "DEVICE_PATTERN",
    "DeviceSetting",
    "as_device",
    "available_devices",
    "device_of",
    "on_device",
    "resolve_device",
    "to_device",
]

#: What ``train.device`` may be (a regular expression, for the config's validation).
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"

#: A device as a user gives it: a ``train.device`` string or a :class:`torch.device`.
DeviceSetting = str | torch.device

_Module = TypeVar("_Module", bound=torch.nn.Module)


def available_devices() -> list[str]:
    """The devices this machine offers: ``["cpu"]`` plus ``cuda:0``, ``cuda:1``, ...

    Examples
    --------
    >>> available_devices()[0]
    'cpu'
    """
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(f"cuda:{i}" for i in range(n))]


def resolve_device(setting: DeviceSetting = "auto", *, key: str = "train.device") -> torch.device:
    """The :class:`torch.device` a ``train.device`` setting names, checked against this machine.

    Parameters
    ----------
    setting
        ``"auto"`` (CUDA when :func:`torch.cuda.is_available`, else CPU), ``"cpu"``,
        ``"cuda"`` (the current CUDA device) or ``"cuda:N"``; a :class:`torch.device`
        of those types is checked the same way.
    key
        The setting's name in error messages.

    Returns
    -------
    torch.device
        ``cpu`` or ``cuda:N`` (always with its index, so it compares equal to the
        ``device`` of tensors placed on it).

    Raises
    ------
    ConfigError
        Not one of the forms above, CUDA asked for where none is available, or ``N``
        beyond the machine's CUDA devices; the message names ``key``, the value and the
        devices available.

    Examples
    --------
    >>> resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available()
    ...                            else torch.device("cpu"))
    True
    """
    text = str(setting).strip().lower()
    match = re.fullmatch(DEVICE_PATTERN, text)
    if match is None:
        raise ConfigError(
            f"{key}: {setting!r} is not a device; use auto, cpu, cuda or cuda:N "
            f"(available here: {', '.join(available_devices())})"
        )
    if text == "cpu":
        return torch.device("cpu")
    cuda = torch.cuda.is_available()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    if not cuda:
        raise ConfigError(
            f"{key}: {setting!r} asks for a CUDA GPU, but torch.cuda.is_available() is False "
            f"on this machine (torch {torch.__version__}"
            + (", built without CUDA" if torch.version.cuda is None else "")
            + "); available here: cpu. Use auto (CUDA where there is one, else the CPU) or cpu"
        )
    index = torch.cuda.current_device() if match.group(2) is None else int(text.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"{key}: {setting!r} names CUDA device {index}, but this machine has {count} "
            f"(available here: {', '.join(available_devices())})"
        )
    return torch.device("cuda", index)


def as_device(device: DeviceSetting) -> torch.device:
    """A :class:`torch.device` as given (a CUDA one without index: the current device), or
    a ``train.device`` string resolved (:func:`resolve_device`).

    Examples
    --------
    >>> as_device(torch.device("cpu")), as_device("cpu")
    (device(type='cpu'), device(type='cpu'))
    """
    if isinstance(device, torch.device) and (device.type != "cuda" or device.index is not None):
        return device
    return resolve_device(device, key="device")


def device_of(obj: torch.nn.Module | HeteroData | torch.Tensor) -> torch.device:
    """Where a model (its first parameter, else its first buffer), a graph (its first
    tensor) or a tensor is; the CPU for a model or graph without tensors.

    Examples
    --------
    >>> device_of(torch.nn.Linear(2, 1))
    device(type='cpu')
    """
    if isinstance(obj, torch.Tensor):
        return obj.device
    if isinstance(obj, torch.nn.Module):
        for tensor in obj.parameters():
            return tensor.device
        for tensor in obj.buffers():
            return tensor.device
        return torch.device("cpu")
    for tensor in _tensors(obj):
        return tensor.device
    return torch.device("cpu")


def _tensors(data: HeteroData):
    for store in data.stores:
        for value in store.values():
            if isinstance(value, torch.Tensor):
                yield value


def to_device(data: HeteroData, device: DeviceSetting) -> HeteroData:
    """``data`` with every tensor on ``device``; ``data`` itself when they all are already.

    Otherwise a shallow copy (:func:`copy.copy`) whose stores hold the moved tensors:
    ``data`` is left as it is, and non-tensor attributes (feature names, modalities, the
    graph facts of :func:`graphfuse.graphs.graph_info`) keep their values.

    Parameters
    ----------
    data
        A patient graph (or any ``HeteroData``).
    device
        A :class:`torch.device` or a ``train.device`` string (:func:`resolve_device`).

    Returns
    -------
    HeteroData
    """
    target = as_device(device)
    if all(t.device == target for t in _tensors(data)):
        return data
    return copy.copy(data).to(target)


def on_device(
    model: _Module, data: HeteroData, device: DeviceSetting | None = None, *, who: str = "graphfuse"
) -> tuple[_Module, HeteroData]:
    """A model and its graph on one device, for a computation.

    Parameters
    ----------
    model, data
        A model and the graph it reads.
    device
        Where to compute. ``None``: where the model is; the graph must be there too.
        Else the model is copied there (:func:`copy.deepcopy`, the caller's model stays
        where it is) unless it already is, and the graph is moved by :func:`to_device`.
    who
        Who asks, for the error message.

    Returns
    -------
    tuple
        ``(model, data)``, the very objects given where nothing had to move.

    Raises
    ------
    DataError
        ``device`` is ``None`` and the model and the graph are on different devices.
    """
    if device is None:
        here, there = device_of(model), device_of(data)
        if here != there:
            raise DataError(
                f"{who}: the model is on {here} but the graph is on {there}; put both on one "
                "device (model.to(device) and graphfuse._device.to_device(data, device)) or "
                "pass device="
            )
        return model, data
    target = as_device(device)
    if device_of(model) != target:
        model = copy.deepcopy(model).to(target)
    return model, to_device(data, target)
