"""The code MLflow runs to create a run's ``pyfunc`` model (logged "from code", so nothing
is pickled): :class:`graphfuse.experiment._pyfunc.GraphfuseModel`."""

from mlflow.models import set_model

from graphfuse.experiment._pyfunc import GraphfuseModel, import_pyfunc


class _PyfuncModel(GraphfuseModel, import_pyfunc().PythonModel):
    """:class:`GraphfuseModel` as an MLflow ``PythonModel``."""


set_model(_PyfuncModel())
