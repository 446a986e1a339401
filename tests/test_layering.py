"""Imports between the package's subpackages point one way (issue 10):

    structures -> utils -> checkpoints -> fileio -> models
    -> {datasets, evaluation, engine}
    -> apis -> demo

A module may import its own subpackage and any layer below it, never one
above (lazy imports inside functions count too). ``registry`` and
``compat`` sit at the bottom with ``structures``.
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'mmagic_draggan'
LAYERS = [
    {'structures', 'registry', 'compat', 'version', 'errors'},
    {'utils'},
    {'checkpoints'},
    {'fileio'},
    {'models'},
    {'datasets', 'evaluation', 'engine'},
    {'apis'},
    {'demo'},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _subpackage(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0][:-3] if rel[0].endswith('.py') else rel[0]


def _imported(path: Path):
    tree = ast.parse(path.read_text())
    own = _subpackage(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and \
                    node.module.startswith('mmagic_draggan.'):
                yield node.lineno, node.module.split('.')[1]
            elif node.level == 1:
                yield node.lineno, own
            elif node.level >= 2:
                depth = len(path.relative_to(PKG).parts) - node.level
                if depth == 0 and node.module:
                    yield node.lineno, node.module.split('.')[0]
                else:
                    yield node.lineno, own
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('mmagic_draggan.'):
                    yield node.lineno, alias.name.split('.')[1]


def test_every_subpackage_has_a_layer():
    names = {_subpackage(p) for p in PKG.rglob('*.py')} - {'__init__'}
    assert names <= set(RANK), names - set(RANK)


def test_imports_point_down():
    bad = []
    for path in sorted(PKG.rglob('*.py')):
        own = _subpackage(path)
        if own == '__init__':
            continue  # the package root imports everything to register it
        for line, target in _imported(path):
            if target in RANK and RANK[target] > RANK[own]:
                bad.append(f'{path.relative_to(PKG)}:{line} {own} -> '
                           f'{target}')
    assert not bad, 'imports pointing up:\n' + '\n'.join(bad)


def test_the_runner_path_does_not_reach_into_apis():
    for rel in ('models/draggan.py', 'models/drag_task_runner.py'):
        targets = {t for _, t in _imported(PKG / rel)}
        assert targets and targets <= {
            'models', 'structures', 'fileio', 'utils', 'checkpoints',
            'registry', 'errors'}, (rel, targets)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _runtime_imports(path: Path):
    """Modules of the package that ``path`` imports at run time (lazy
    imports inside functions count; ``if TYPE_CHECKING:`` blocks do not),
    as dotted names."""
    tree = ast.parse(path.read_text())
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(
                node.test):
            guarded.update(id(n) for n in ast.walk(node))
    me = _module_name(path)
    package = me if path.name == '__init__.py' else me.rpartition('.')[0]
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ''
            if not mod.startswith('mmagic_draggan'):
                continue
            for alias in node.names:  # `from pkg import module` too
                yield f'{mod}.{alias.name}'
            yield mod
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('mmagic_draggan'):
                    yield alias.name


def test_no_import_circle_between_files():
    """No module imports, directly or through others, a module that
    imports it back (package ``__init__`` files, which import their
    modules to register them, are left out)."""
    files = {_module_name(p): p for p in PKG.rglob('*.py')}
    modules = {m for m, p in files.items() if p.name != '__init__.py'}
    graph = {m: {t for t in _runtime_imports(files[m]) if t in modules
                 and t != m} for m in modules}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m)
    assert not cycles, 'import circles:\n' + '\n'.join(
        ' -> '.join(c) for c in cycles)
