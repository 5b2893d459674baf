"""Imports run one way: a stage imports only the stages before it.

The order, earliest first (a tier's members are independent of each other)::

    _params, _threads       the strict pydantic base; the CPU thread policy (import no graphfuse)
    errors                  the user-facing errors and how a validation error reads
    registry, graphfuse     name -> component registries; the package's ``__init__``;
    _fanout, _store         (also the device rule) fan-out on Dask; the SQLite store's lock
    data                    cohorts, readers, preprocessing, gene sets, the data section's models
    graphs                  patient-similarity and knowledge graphs (HeteroData)
    models                  fusion models
    train                   objectives, training, splits, metrics
    explain, enrich         explainers; enrichment statistics
    config, tracking        the experiment config (assembles the stages' parameter models and
                            looks components up in their registries); MLflow runs
    experiment              the orchestrator: fit, cross-validation, explain, tune, benchmark
                            (the top-level ``tune``, ``benchmark`` and ``_benchmark_report``
                            modules belong to it)
    cli                     parses arguments and calls the experiment (``__main__`` too)

``config`` comes after the stages because it is made of their parameter models and
registries; no stage reads the config module: a stage takes its own parameter model or
plain arguments. ``tracking`` is reached only by the orchestrator.

Two checks: a static one parses every module of ``graphfuse/`` (imports inside functions
and ``TYPE_CHECKING`` blocks count) and lists each import of a later or sibling stage as
``file:line``; a dynamic one imports the stages one after another in fresh interpreters
and lists the later stages each import loaded. A third check keeps cross-stage imports to
a package's public names (no ``graphfuse.<stage>._module`` from another stage).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import graphfuse

PACKAGE = Path(graphfuse.__file__).parent
ROOT = PACKAGE.parent

#: Tiers of stages, earliest first; a module may import stages of earlier tiers only.
ORDER: list[tuple[str, ...]] = [
    ("_params", "_threads"),
    ("errors",),
    ("registry", "graphfuse", "_device", "_fanout", "_store"),
    ("data",),
    ("graphs",),
    ("models",),
    ("train",),
    ("explain", "enrich"),
    ("config", "tracking"),
    ("experiment",),
    ("cli",),
]
TIER = {stage: i for i, tier in enumerate(ORDER) for stage in tier}
#: Top-level modules that belong to another stage.
ALIASES = {
    "__main__": "cli",
    "tune": "experiment",
    "benchmark": "experiment",
    "_benchmark_report": "experiment",
}


def stage_of(dotted: str) -> str:
    """The stage of the module ``graphfuse.<part>...`` (``"graphfuse"`` for the package)."""
    parts = dotted.split(".")
    assert parts[0] == "graphfuse", dotted
    if len(parts) == 1:
        return "graphfuse"
    return ALIASES.get(parts[1], parts[1])


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, imported names)`` of every graphfuse import in ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "graphfuse":
                    found.append((node.lineno, alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            if target.split(".")[0] == "graphfuse":
                found.append((node.lineno, target, [a.name for a in node.names]))
    return found


def targets(module: str, names: list[str]) -> list[str]:
    """The modules an import reaches: ``from graphfuse import data`` reaches ``graphfuse.data``."""
    if module == "graphfuse" and names:
        return [f"graphfuse.{n}" if n in TIER or n in ALIASES else "graphfuse" for n in names]
    return [module]


def test_every_module_has_a_stage():
    unplaced = sorted({module_name(p) for p in modules() if stage_of(module_name(p)) not in TIER})
    assert not unplaced, (
        f"modules of no stage: {unplaced}; place them in ORDER (or ALIASES) of {__file__}"
    )


def test_imports_run_one_way():
    bad = []
    for path in modules():
        own = stage_of(module_name(path))
        if own not in TIER:
            continue  # test_every_module_has_a_stage names it
        for line, module, names in imports(path):
            for target in targets(module, names):
                stage = stage_of(target)
                tier = TIER.get(stage, len(ORDER))
                if stage != own and tier >= TIER[own]:
                    where = "a sibling" if tier == TIER[own] else "a later"
                    where = where if stage in TIER else "an unplaced"
                    bad.append(
                        f"{path.relative_to(ROOT)}:{line}: {own} imports {target} "
                        f"({where} stage, {stage})"
                    )
    order = " -> ".join("/".join(tier) for tier in ORDER)
    assert not bad, "imports against the stage order " + order + ":\n" + "\n".join(bad)


def test_cross_stage_imports_use_public_names():
    bad = []
    for path in modules():
        own = stage_of(module_name(path))
        for line, module, names in imports(path):
            for target in targets(module, names):
                if stage_of(target) == own:
                    continue
                private = [p for p in target.split(".")[2:] if p.startswith("_")]
                private += [n for n in names if n.startswith("_") and target != "graphfuse"]
                if private:
                    bad.append(
                        f"{path.relative_to(ROOT)}:{line}: {own} imports {target} "
                        f"{'.'.join(private) if not names else ', '.join(names)} (private)"
                    )
    assert not bad, (
        "cross-stage imports of private modules or names (import them from the stage's "
        "package, exporting them in its __init__):\n" + "\n".join(bad)
    )


_PROBE = """
import importlib, json, sys
import graphfuse  # the parent of every module: loaded by any import of one
loaded = {"graphfuse": sorted(m for m in sys.modules if m.split(".")[0] == "graphfuse")}
for module in sys.argv[1:]:
    importlib.import_module(module)
    loaded[module] = sorted(m for m in sys.modules if m.split(".")[0] == "graphfuse")
print(json.dumps(loaded))
"""


def _sequence(siblings_reversed: bool) -> list[str]:
    stages = []
    for tier in ORDER:
        tier = tuple(reversed(tier)) if siblings_reversed else tier
        stages += [f"graphfuse.{s}" for s in tier if s != "graphfuse"]
    return stages


@pytest.mark.slow
@pytest.mark.parametrize("siblings_reversed", [False, True], ids=["order", "siblings-reversed"])
def test_importing_a_stage_loads_no_later_stage(siblings_reversed):
    sequence = _sequence(siblings_reversed)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *sequence],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    done = {stage_of(m) for m in loaded["graphfuse"]}
    bad = []
    for module in sequence:
        done.add(stage_of(module))
        extra = sorted({stage_of(m) for m in loaded[module]} - done)
        if extra:
            bad.append(f"import {module} (after the stages before it) loaded {extra}")
    assert not bad, "importing a stage loaded later stages:\n" + "\n".join(bad)
