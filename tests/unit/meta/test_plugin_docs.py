"""Every plugin's documentation is what ansible-doc can read: the YAML of each module's DOCUMENTATION, EXAMPLES and
RETURN and of each filter's .yml parses, and every description is text (an unquoted ': ' in a description line
turns it into a mapping, which ansible-doc refuses for the whole collection, and `ansible-test sanity` fails)."""

import ast

import pytest
import yaml
from helpers.paths import ROOT

MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))
FILTER_DOCS = sorted((ROOT / "plugins" / "filter").glob("*.yml"))


def _module_docs(path):
    tree = ast.parse(path.read_text())
    docs = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant):
                docs[name] = node.value.value
    return docs


def _descriptions(node, where):
    """(where, description value) of every 'description' key below node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description":
                yield where, value
            yield from _descriptions(value, "%s.%s" % (where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _descriptions(value, "%s[%d]" % (where, index))


def _not_text(description):
    items = description if isinstance(description, list) else [description]
    return [item for item in items if not isinstance(item, str)]


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_a_modules_documentation_parses_and_its_descriptions_are_text(path):
    docs = _module_docs(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, sorted(docs)
    parsed = {name: yaml.safe_load(text) for name, text in docs.items()}
    bad = [
        (where, item)
        for name in ("DOCUMENTATION", "RETURN")
        for where, value in _descriptions(parsed[name], name)
        for item in _not_text(value)
    ]
    assert not bad, bad


@pytest.mark.parametrize("path", FILTER_DOCS, ids=[p.name for p in FILTER_DOCS])
def test_a_filters_documentation_parses_and_its_descriptions_are_text(path):
    doc = yaml.safe_load(path.read_text())
    assert {"DOCUMENTATION", "EXAMPLES", "RETURN"} <= set(doc), sorted(doc)
    bad = [(where, item) for where, value in _descriptions(doc, path.name) for item in _not_text(value)]
    assert not bad, bad
