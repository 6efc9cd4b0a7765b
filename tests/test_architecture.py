"""The source tree's shape: no import cycle (counting imports inside functions too; not
annotation-only ones), and no module so long that it hides more than one job."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dormant"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The dormant modules a file imports when it runs: at the top level or inside a function
    (annotation-only imports under ``if TYPE_CHECKING:`` are not counted)."""
    found = set()
    tree = ast.parse(path.read_text())
    skipped = _type_checking_blocks(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from pkg import sub" imports the submodule when there is one, else pkg itself
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules) - {name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_src():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_the_line_limit_without_a_stated_reason():
    """A module longer than MAX_LINES says why at its top, in a line starting 'Length:'."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and "Length:" not in docstring:
            long.append(f"{path.relative_to(SRC)} ({text.count(chr(10))} lines)")
    assert not long, f"over {MAX_LINES} lines with no 'Length:' reason in the docstring: {long}"


def test_agents_envs_and_interventions_fit_the_typed_seams():
    import torch

    from dormant.agents import DrMAgent, DrQV2Agent, SACAgent
    from dormant.config import AgentConfig, resolve
    from dormant.envs.dmc import DMCEnv
    from dormant.interfaces import Agent, Env, Intervention, PlasticAgent
    from dormant.training.clock import PlasticityInterventions

    cfg = AgentConfig(hidden_dim=8, feature_dim=4)
    for cls in (DrQV2Agent, DrMAgent, SACAgent):
        agent = cls((5,), 1, cfg, pixels=False, device=torch.device("cpu"))
        assert isinstance(agent, Agent) and isinstance(agent, PlasticAgent), cls
    env = DMCEnv("cartpole_balance", obs="states")
    try:
        assert isinstance(env, Env)
    finally:
        env.close()
    assert isinstance(PlasticityInterventions(resolve({})), Intervention)
    assert not isinstance(object(), Agent)  # the check can fail
