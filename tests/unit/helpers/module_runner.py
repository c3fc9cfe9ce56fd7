"""Run an Ansible module's ``main()`` in-process and capture its result.

One helper for every module test (the kubernetes.core pattern): ``run_module(module, args)``
returns the result dict of ``exit_json``; ``run_module(..., expect_failure=True)`` returns the
dict of ``fail_json``. Nothing here replaces production code: the module's own argument
parsing, validation and check-mode handling all run.
"""

import json

import pytest
from ansible.module_utils import _internal, basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ModuleExit(kwargs, failed=False)


def _fail_json(self, msg, **kwargs):
    kwargs["msg"] = msg
    kwargs["failed"] = True
    raise ModuleExit(kwargs, failed=True)


def run_module(module, args, expect_failure=False, check_mode=False, diff=False):
    """Call ``module.main()`` with ``args``; return the result dict.

    Fails the test when the module failed but success was expected, or the reverse.
    """
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    outcome = None
    mp = pytest.MonkeyPatch()
    mp.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    mp.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    # Run as on a target: once controller code (ansible.errors, a filter plugin) has been imported
    # in this process, warn() would go to the controller's display instead of the module result.
    mp.setattr(_internal, "is_controller", False)
    ansible_warnings._global_warnings.clear()
    try:
        with patch_module_args(args):
            try:
                module.main()
            except ModuleExit as exc:
                outcome = exc
            else:
                pytest.fail("module returned without calling exit_json or fail_json")
    finally:
        mp.undo()
    outcome.result.setdefault("warnings", list(ansible_warnings.get_warning_messages()))
    if outcome.failed != expect_failure:
        pytest.fail(
            "module %s unexpectedly: %s"
            % ("failed" if outcome.failed else "succeeded", json.dumps(outcome.result, default=str)[:2000])
        )
    return outcome.result
