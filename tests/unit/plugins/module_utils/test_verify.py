"""openai_verify's pure pieces (_verify): check lists, base URLs, the report.

Masking is in test_secrets.py, the SSE reader in test_sse.py, the stream judgement in test_contract.py.
"""

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _verify
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError

# ---- checks, URLs, report -------------------------------------------------------------------


def test_default_checks_and_auth_with_a_key():
    assert _verify.resolve_checks(None, None) == ["health", "models", "chat", "chat_stream"]
    assert _verify.resolve_checks(None, "k") == ["health", "models", "chat", "chat_stream", "auth"]
    assert _verify.resolve_checks(["tools", "models", "tools"], None) == ["tools", "models"]


@pytest.mark.parametrize(
    "checks, key, message",
    [
        (["auth"], None, "checks has 'auth' but api_key is not set"),
        ([], None, "checks is an empty list"),
        (["healthz"], None, "checks has 'healthz', which is not a check; the checks are health, models"),
    ],
)
def test_bad_check_lists(checks, key, message):
    with pytest.raises(VerifyError) as err:
        _verify.resolve_checks(checks, key)
    assert message in err.value.msg


def test_base_url_with_v1_is_shortened_with_a_warning():
    url, warnings = _verify.normalize_base_url("http://10.0.0.5:8000/v1/")
    assert url == "http://10.0.0.5:8000"
    assert warnings == [
        "base_url 'http://10.0.0.5:8000/v1/' ends in /v1; using the server root "
        "http://10.0.0.5:8000 (the module adds /v1/... itself)"
    ]


@pytest.mark.parametrize("bad", ["10.0.0.5:8000", "ftp://x", "http://"])
def test_bad_base_urls(bad):
    with pytest.raises(VerifyError) as err:
        _verify.normalize_base_url(bad)
    assert repr(bad) in err.value.msg


def test_report_entries_and_summary_line():
    report = [_verify.report_entry("health", True, 0.0012, "ok"), _verify.report_entry("models", True, 0.0023456, "ok")]
    assert report[1] == {"name": "models", "passed": True, "latency_ms": 2.3, "detail": "ok"}
    assert (
        _verify.summarize_report(report, 41.04)
        == "2/2 checks passed (health 1.2 ms, models 2.3 ms); ready after 41.0 s"
    )
