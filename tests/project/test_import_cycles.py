"""No import circles among the modules of apps/ (issue 14).

grimp (import-linter's graph builder) reads every import statement, including the ones inside
functions, so an import hidden in a function to dodge a circle still counts: break circles by
design (a tasks module depends on its services; services enqueue tasks by name, see
apps/core/enqueue.py). On failure the message shows one concrete cycle per circle.
"""

from __future__ import annotations

import grimp

ROOT = "apps"


def _import_graph():
    return grimp.build_graph(ROOT, cache_dir=None)


def _imports(graph, module: str) -> list[str]:
    return sorted(graph.find_modules_directly_imported_by(module) & graph.modules)


def strongly_connected_components(graph) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the groups of modules that import each other in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(_imports(graph, root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(_imports(graph, child))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _one_cycle(graph, component: list[str]) -> list[str]:
    """A concrete circle through the component's first module: a -> b -> ... -> a."""
    start = component[0]
    members = set(component)
    following = next(m for m in _imports(graph, start) if m in members)
    chain = graph.find_shortest_chain(importer=following, imported=start)
    return [start, *chain]


def test_no_import_cycles_among_apps_modules():
    graph = _import_graph()
    cycles = [
        " -> ".join(_one_cycle(graph, component))
        for component in strongly_connected_components(graph)
    ]
    assert not cycles, "Import circles in apps/:\n" + "\n".join(cycles)


def test_the_check_sees_a_circle_made_of_imports_inside_functions(tmp_path, monkeypatch):
    """The detector itself: two modules importing each other inside functions form a circle."""
    package = tmp_path / "circular_fixture"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("")
    (package / "services.py").write_text(
        "from circular_fixture import models\n\ndef enqueue():\n    from circular_fixture import "
        "tasks\n"
    )
    (package / "tasks.py").write_text("def run():\n    from circular_fixture import services\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("circular_fixture", cache_dir=None)
    components = strongly_connected_components(graph)
    assert components == [["circular_fixture.services", "circular_fixture.tasks"]]
    assert _one_cycle(graph, components[0]) == [
        "circular_fixture.services",
        "circular_fixture.tasks",
        "circular_fixture.services",
    ]
