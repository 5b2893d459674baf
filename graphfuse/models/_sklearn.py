"""scikit-learn baselines (logistic regression, random forest) behind the model interface.

They read the same ``HeteroData`` as the graph models (and ignore its edges), so every
comparison is one config change. They are *fitted*, not trained by gradient
(``differentiable = False``): the trainer calls :meth:`SklearnModel.fit_direct` on the
training patients instead of its gradient loop.

**Input**: every modality's features concatenated, followed by one availability flag per
modality (1 = measured). A patient lacking a modality has that block filled with the mean
of the training patients that have it (fitted in ``fit_direct``, stored with the model) —
an explicit, recorded imputation, and the flags let the model tell it from a measurement.

**Storage, no pickles**: the fitted estimator is not kept as a Python object. Its
parameters become tensor buffers — logistic regression: coefficients and intercepts;
random forest: every tree's node arrays (children, split feature, threshold, leaf class
proportions) — and :meth:`forward` evaluates them in torch, giving the estimator's
``predict_proba`` exactly. The model therefore saves and loads through the ordinary
checkpoint (JSON spec + state dict; buffers are resized on load) and pickles with MLflow
like any module.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, field_validator
from torch_geometric.data import HeteroData

from graphfuse.errors import DataError
from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models._base import MODELS, FusionModel, ModelParams

__all__ = ["LogisticBaseline", "RandomForestBaseline", "SklearnModel"]

_EPS = 1e-9  # floor of probabilities before the log (forward returns log-probabilities)
_BLOCK = 8192  # patients per block when walking the trees


class SklearnModel(FusionModel):
    """Base of models fitted by a scikit-learn estimator on concatenated modalities.

    A subclass implements :meth:`_fit_estimator` (fit on ``(X, y)``, store buffers) and
    :meth:`_log_proba` (log-probabilities from ``X``, in torch).
    """

    differentiable: ClassVar[bool] = False
    class_outputs: ClassVar[Literal["logits", "log_probabilities"]] = "log_probabilities"
    _fitted_buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        if n_classes < 2:
            raise ValueError(f"{self.registry_name} is a classifier: n_classes must be >= 2")
        for name in ("fill_", *self._fitted_buffers):
            self.register_buffer(name, torch.empty(0))
        self.register_load_state_dict_pre_hook(_resize_buffers)

    @property
    def fitted(self) -> bool:
        return self.fill_.numel() > 0

    def design_matrix(self, data: HeteroData) -> torch.Tensor:
        """Concatenated features (absent blocks: training mean) and availability flags,
        ``(patients, sum(in_dims) + n_modalities)``, float64."""
        if not self.fitted:
            raise RuntimeError(
                f"model {self.registry_name!r} is not fitted: call fit_direct(data) "
                "(graphfuse.train.train_model does)"
            )
        x, have = self._blocks(data)
        fill = self.fill_.unsqueeze(0)
        x = torch.where(have, x, fill)
        flags = [self._available(data, m).to(torch.float64) for m in self.modalities]
        return torch.cat([x, torch.stack(flags, dim=1)], dim=1)

    def _blocks(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw concatenated features (float64) and the per-column availability."""
        store = data[PATIENT]
        xs, haves = [], []
        for m in self.modalities:
            x = store[feature_key(m)].to(torch.float64)
            have = self._available(data, m)
            xs.append(torch.where(have[:, None], x, 0.0))
            haves.append(have[:, None].expand_as(x))
        return torch.cat(xs, dim=1), torch.cat(haves, dim=1)

    @staticmethod
    def _available(data: HeteroData, modality: str) -> torch.Tensor:
        return data[PATIENT].available[:, list(data.modalities).index(modality)]

    def fit_direct(self, data: HeteroData) -> None:
        """Fit on the training patients (``data["patient"].train_mask``) only.

        Raises
        ------
        DataError
            A class has no training patient.
        """
        store = data[PATIENT]
        train = store.train_mask
        x, have = self._blocks(data)
        x, have = x[train], have[train]
        counts = have.sum(dim=0)
        self.fill_ = (x * have).sum(dim=0) / counts.clamp(min=1)
        y = store.y[train].cpu().numpy()
        missing = sorted(set(range(self.n_classes)) - set(np.unique(y).tolist()))
        if missing:
            raise DataError(
                f"model {self.registry_name!r}: no training patient of class(es) {missing}"
            )
        design = self.design_matrix(data)[train].cpu().numpy()
        self._fit_estimator(design, y)
        self.eval()

    def forward(self, data: HeteroData) -> torch.Tensor:
        """Log-probabilities of the classes, ``(patients, n_classes)`` (float32)."""
        return self._log_proba(self.design_matrix(data)).to(torch.float32)

    @abstractmethod
    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit the estimator on the training patients' design matrix and classes."""

    @abstractmethod
    def _log_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class log-probabilities ``(rows, n_classes)`` of design-matrix rows."""

    def _seed(self, seed: int | None) -> int:
        """The given seed, else one drawn from torch's global generator (seeded per run)."""
        if seed is not None:
            return seed
        return int(torch.randint(0, 2**31 - 1, (1,), device="cpu"))


def _resize_buffers(module: torch.nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: give fitted buffers the stored shapes before copying."""
    for name, buffer in module.named_buffers(recurse=False):
        stored = state_dict.get(prefix + name)
        if stored is not None and stored.shape != buffer.shape:
            setattr(module, name, torch.empty_like(stored, device=buffer.device))


class LogisticParams(ModelParams):
    Cs: int | list[float] = Field(10)
    """Inverse regularisation strengths ``C`` tried: a number of them (log-spaced,
    1e-4..1e4) or the values."""

    @field_validator("Cs")
    @classmethod
    def _positive(cls, value: int | list[float]) -> int | list[float]:
        values = [value] if isinstance(value, int) else value
        if not values or min(values) <= 0:
            raise ValueError("Cs must be a positive count or a non-empty list of positive values")
        return value

    cv: int = Field(5, ge=2, le=20)
    """Stratified folds of the training patients used to choose ``C``."""
    scoring: str = "neg_log_loss"
    """Cross-validation criterion choosing ``C`` (a scikit-learn scorer name)."""
    max_iter: int = Field(1000, ge=10)
    solver: Literal["auto", "lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"] = (
        "auto"
    )
    """``auto``: ``liblinear`` for two classes (several times faster here than ``lbfgs`` on
    the regularisation path), ``lbfgs`` (multinomial) for more."""


@MODELS.register("logistic")
class LogisticBaseline(SklearnModel):
    """L2-regularised logistic regression, ``C`` chosen by cross-validation on training patients.

    scikit-learn's ``LogisticRegressionCV`` (liblinear for two classes, multinomial lbfgs
    for more; ``solver``) on the concatenated modalities plus availability flags (module
    docstring), refitted on all training patients with the chosen ``C``.

    Examples
    --------
    >>> model = LogisticBaseline({"expression": 10, "imaging": 5}, 2)
    >>> model.differentiable, model.fitted
    (False, False)
    """

    Params = LogisticParams
    _fitted_buffers = ("coef_", "intercept_", "C_")

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegressionCV

        p = self.params
        solver = p.solver if p.solver != "auto" else "liblinear" if self.n_classes == 2 else "lbfgs"
        est = LogisticRegressionCV(
            Cs=p.Cs,
            cv=p.cv,
            l1_ratios=(0.0,),
            scoring=p.scoring,
            max_iter=p.max_iter,
            solver=solver,
            use_legacy_attributes=False,
        ).fit(x, y)
        device = self.fill_.device  # the training graph's
        self.coef_ = torch.as_tensor(est.coef_, dtype=torch.float64, device=device)
        self.intercept_ = torch.as_tensor(est.intercept_, dtype=torch.float64, device=device)
        self.C_ = torch.as_tensor([float(est.C_)], dtype=torch.float64, device=device)

    def _log_proba(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.coef_.T + self.intercept_
        if z.shape[1] == 1:  # binary: one decision function, for class 1
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        return torch.log_softmax(z, dim=1)


class ForestParams(ModelParams):
    n_trees: int = Field(500, ge=1, le=100000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | float = "sqrt"
    """Features considered per split (as scikit-learn's ``max_features``)."""
    seed: int | None = None
    """Seed of the forest; ``None``: drawn from torch's global generator, which
    :func:`graphfuse.experiment.fit` seeds from the run's seed."""
    n_jobs: int = Field(1, ge=1)


@MODELS.register("random_forest")
class RandomForestBaseline(SklearnModel):
    """Random forest (Breiman 2001) on the concatenated modalities plus availability flags.

    scikit-learn's ``RandomForestClassifier``; its trees are stored as tensors and
    evaluated in torch (module docstring). Class probabilities are the mean of the
    trees' leaf class proportions; ``forward`` returns their log, floored at 1e-9.

    Examples
    --------
    >>> model = RandomForestBaseline({"expression": 10}, 2, n_trees=50, seed=0)
    >>> model.spec()["params"]["n_trees"]
    50
    """

    Params = ForestParams
    _fitted_buffers = ("left_", "right_", "feature_", "threshold_", "value_", "seed_")

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestClassifier

        p = self.params
        seed = self._seed(p.seed)
        est = RandomForestClassifier(
            n_estimators=p.n_trees,
            max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf,
            max_features=p.max_features,
            random_state=seed,
            n_jobs=p.n_jobs,
        ).fit(x.astype(np.float32), y)
        trees = [t.tree_ for t in est.estimators_]
        size = max(t.node_count for t in trees)
        n_trees = len(trees)
        left = np.tile(np.arange(size), (n_trees, 1))  # padding and leaves point to themselves
        right = left.copy()
        feature = np.zeros((n_trees, size), dtype=np.int64)
        threshold = np.zeros((n_trees, size))
        value = np.zeros((n_trees, size, self.n_classes))
        for i, t in enumerate(trees):
            k = t.node_count
            inner = t.children_left >= 0
            left[i, :k] = np.where(inner, t.children_left, np.arange(k))
            right[i, :k] = np.where(inner, t.children_right, np.arange(k))
            feature[i, :k] = np.where(inner, t.feature, 0)
            threshold[i, :k] = t.threshold
            counts = t.value[:, 0, :]
            value[i, :k][:, est.classes_] = counts / counts.sum(axis=1, keepdims=True)
        device = self.fill_.device  # the training graph's
        self.left_ = torch.as_tensor(left, device=device)
        self.right_ = torch.as_tensor(right, device=device)
        self.feature_ = torch.as_tensor(feature, device=device)
        self.threshold_ = torch.as_tensor(threshold, device=device)
        self.value_ = torch.as_tensor(value, device=device)
        self.seed_ = torch.tensor([seed], device=device)

    def _log_proba(self, x: torch.Tensor) -> torch.Tensor:
        # scikit-learn compares float32 features with float64 thresholds
        x = x.to(torch.float32).to(torch.float64)
        return torch.cat([self._proba_block(b) for b in x.split(_BLOCK)]).clamp(min=_EPS).log()

    def _proba_block(self, x: torch.Tensor) -> torch.Tensor:
        n_trees, n = self.left_.shape[0], x.shape[0]
        node = torch.zeros(n_trees, n, dtype=torch.long, device=x.device)
        xt = x.T.contiguous()
        while True:
            f = self.feature_.gather(1, node)
            go_left = xt.gather(0, f) <= self.threshold_.gather(1, node)
            nxt = torch.where(go_left, self.left_.gather(1, node), self.right_.gather(1, node))
            if torch.equal(nxt, node):
                break
            node = nxt
        value = self.value_.gather(1, node[..., None].expand(-1, -1, self.n_classes))
        return value.mean(dim=0)
