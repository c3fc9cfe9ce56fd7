"""Key masking and scrubbing (_secrets): what openai_verify and the benchmark print instead of a key."""

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _secrets

# ---- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, shown",
    [
        ("sk-proj-0123456789abcdefWXYZ", "sk-\u2026WXYZ"),
        ("abcdefghijklmnop1234", "\u20261234"),
        ("tok_0123456789abcdef", "tok_\u2026cdef"),
        ("short-key", "********"),
        ("fifteen-chars-x", "********"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_secret(key, shown):
    assert _secrets.mask_secret(key) == shown


def test_mask_never_contains_most_of_the_key():
    key = "sk-" + "a1b2c3d4e5f6a7b8c9d0"
    masked = _secrets.mask_secret(key)
    assert key not in masked and key[3:-4] not in masked


def test_scrub_replaces_every_occurrence():
    key = "sk-0123456789abcdefgh"
    text = "started with --api-key %s\nAuthorization: Bearer %s" % (key, key)
    out = _secrets.scrub(text, key)
    assert key not in out
    assert out.count("sk-\u2026efgh") == 2
