import pytest

from graphfuse.errors import RegistryError
from graphfuse.graphs import BUILDERS
from graphfuse.models import MODELS
from graphfuse.registry import Registry


def test_duplicate_names_refused_and_unknown_lists_valid():
    reg: Registry[object] = Registry("widget")

    @reg.register("a")
    class A: ...

    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a")(type("B", (), {}))
    with pytest.raises(RegistryError, match="unknown widget 'b'; valid: a"):
        reg.get("b")
    assert reg.get("a") is A and "a" in reg and len(reg) == 1


def test_builtin_components_registered():
    assert "knn" in BUILDERS
    assert "gcn_fusion" in MODELS
