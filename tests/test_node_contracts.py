"""The architecture, checked: every node class has exactly one YAML contract that agrees with
its code; compute and reducer modules do no I/O; imports flow one way (adapters -> facade ->
orchestrator -> runtime -> nodes -> storage); the lineage graph needs no database driver."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_FILES = sorted((ROOT / "contracts" / "nodes").glob("node_*.yaml"))
REQUIRED_KEYS = {
    "name",
    "node_type",
    "module",
    "entrypoint",
    "input_model",
    "output_model",
    "purity",
    "idempotent",
}
KINDS = ("effect", "compute", "orchestrator", "reducer")
PURE_KINDS = ("compute", "reducer")
IO_MODULES = {
    "asyncpg",
    "socket",
    "subprocess",
    "urllib",
    "http",
    "requests",
    "httpx",
    "sqlite3",
    "shutil",
    "io",
    "os",
    "pathlib",
    "aiofiles",
    "time",
    "datetime",
    "random",
}
IO_CALLS = {"open", "print", "input"}


def _load(path: Path) -> dict[str, typing.Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _resolve(dotted: str) -> typing.Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _node_classes() -> dict[str, str]:
    """Every ``Node*`` class defined under nodes/, by name -> module (read from the source)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "nodes").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Node"):
                assert node.name not in found, f"{node.name} defined twice"
                found[node.name] = module
    return found


def test_every_node_class_has_exactly_one_contract_and_back() -> None:
    contracts = [_load(p) for p in CONTRACT_FILES]
    named = [c["name"] for c in contracts]
    assert len(named) == len(set(named)), "two contracts for one class"
    classes = _node_classes()
    assert set(named) == set(classes), (
        f"classes without contract: {sorted(set(classes) - set(named))}; "
        f"contracts without class: {sorted(set(named) - set(classes))}"
    )
    for contract in contracts:
        assert contract["module"] == classes[contract["name"]]


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.stem)
def test_contract_matches_code(path: Path) -> None:
    spec = _load(path)
    assert spec.keys() >= REQUIRED_KEYS, REQUIRED_KEYS - spec.keys()
    assert path.stem == spec["module"].rpartition(".")[2], "file named after its module"
    assert spec["node_type"] in KINDS
    assert spec["name"].startswith("Node") and spec["name"].lower().endswith(spec["node_type"])
    assert spec["module"].startswith(f"nodes.{spec['node_type']}."), "lives in its kind's package"
    assert spec["purity"] in ("pure", "side_effecting")
    assert (spec["purity"] == "pure") == (spec["node_type"] in PURE_KINDS)
    assert isinstance(spec["idempotent"], bool)
    assert "timeout_ms" not in spec, "no promise the code does not keep"
    cls = getattr(importlib.import_module(spec["module"]), spec["name"])
    method = getattr(cls, spec["entrypoint"])
    hints = typing.get_type_hints(method)
    params = [p for p in inspect.signature(method).parameters if p != "self"]
    input_model = _resolve(spec["input_model"])
    output_model = _resolve(spec["output_model"])
    assert issubclass(output_model, BaseModel)
    returned = hints["return"]
    assert returned is output_model, f"{spec['entrypoint']} returns {returned}"
    accepted = [hints.get(p) for p in params]
    if spec.get("input_is_batch"):
        # A batch of rows, each validated against the input model inside the node.
        batch = [a for a in accepted if "Iterable" in str(a)]
        assert batch and typing.get_origin(batch[0]) is not None, accepted
        assert input_model.__name__ in inspect.getsource(inspect.getmodule(cls))
    else:
        assert input_model in accepted, f"{spec['entrypoint']} takes {accepted}"


def _imports_and_calls(module_name: str) -> tuple[set[str], set[str]]:
    source = inspect.getsource(importlib.import_module(module_name))
    tree = ast.parse(source)
    imported: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return imported, called


def _modules(package: str) -> list[str]:
    base = ROOT.joinpath(*package.split("."))
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in base.rglob("*.py")
        if p.name != "__init__.py"
    )


PURE_MODULES = [
    *_modules("nodes.compute"),
    *_modules("nodes.reducer"),
    *_modules("nodes.stats"),
    "lineage.config_diff",
    "contracts.model_traffic_allocation",
]


@pytest.mark.parametrize("module_name", PURE_MODULES)
def test_compute_modules_do_no_io(module_name: str) -> None:
    imported, called = _imports_and_calls(module_name)
    assert not imported & IO_MODULES, imported & IO_MODULES
    assert not called & IO_CALLS, called & IO_CALLS


def test_orchestrator_does_not_touch_the_driver() -> None:
    imported, called = _imports_and_calls("nodes.orchestrator.node_feedback_loop_orchestrator")
    assert "asyncpg" not in imported
    assert not called & IO_CALLS
