"""Shared helpers of the unit tests, in one place (tests/conftest.py puts tests/unit on sys.path).

- ``module_runner``: run a module's ``main()`` in-process (``run_module``).
- ``playbook``: run ansible-playbook against this checkout (``run_playbook``, ``task_result``).
- ``verify_server``: the emulator as openai_verify's tests run it (``start_emulator``).
- ``gpu_fact_samples``: gpu_facts results of the fleets the planner knows.
- ``seed``: the seed guide's three commands, parsed (``SEED``, ``parse_docker_run``).
- ``unit_cases`` / ``unit_render``: the serve role's unit-file cases and their rendering.

ROOT and FIXTURES are absolute, so a test finds the repository the same way at any depth.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
