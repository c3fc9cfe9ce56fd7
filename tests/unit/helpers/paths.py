"""The repository's root and the tests' fixtures, absolute: a test finds them the same way at any depth."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
