"""The one strict base of every parameter model and config section.

Each stage declares its parameters as pydantic models deriving from :class:`StrictModel`
(a graph builder's, a model's and an explainer's ``Params``, the data stage's sections)
and :mod:`graphfuse.config` assembles them into an experiment config. This module
imports no stage, so every stage can use it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Base of every parameter model and config section: unknown keys are errors.

    Assignments are validated too. :func:`graphfuse.errors.format_validation_errors`
    lists :meth:`config_keys` as the valid keys when a key is unknown.

    Examples
    --------
    >>> class Params(StrictModel):
    ...     k: int = 10
    >>> Params(k=5).k, Params.config_keys()
    (5, ['k'])
    >>> Params(kk=5)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    pydantic_core.ValidationError: kk: Extra inputs are not permitted
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def config_keys(cls) -> list[str]:
        """The keys this model's section accepts in YAML, sorted."""
        return sorted(cls.model_fields)
