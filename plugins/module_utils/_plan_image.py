# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's image checks: the CUDA version an image's tag names against the host driver.

Part of the serving planner (_plan.build_plan); pure and standard-library only, as _plan is.
"""

from __future__ import annotations

import re

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    CUDA_DRIVER_FLOORS,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._references import (
    image_tag,
)

_CUDA_TAG_RE = re.compile(r"(?<![a-z0-9])(cu)(\d{2})(\d)(?![0-9])")

# ---------------------------------------------------------------------------------------------
# Image and driver
# ---------------------------------------------------------------------------------------------
_image_tag = image_tag


def _version_tuple(text):
    parts = []
    for piece in str(text).split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def _check_image(image, g, overridden):
    """Return (min_driver or None, reason)."""
    tag = _image_tag(image)
    match = _CUDA_TAG_RE.search(tag)
    driver = g["driver_version"]
    found = _version_tuple(driver) if driver else ()
    if not match:
        return None, (
            "Image %s names no CUDA version in its tag (cuNNN): the driver floor is not checked "
            "(driver %s found)." % (image, driver)
        )
    cu = match.group(0)
    cuda = "%s.%s" % (match.group(2).lstrip("0") or "0", match.group(3))
    floor = CUDA_DRIVER_FLOORS.get(cu)
    whose = "the user's image" if overridden else "image"
    if floor is None:
        have = g["cuda_version"]
        if have and _version_tuple(have) and _version_tuple(have) < _version_tuple(cuda):
            raise PlanError(
                "image %s: its tag %s needs CUDA %s, but driver %s supports CUDA %s at most (gpus.cuda_version); "
                "upgrade the NVIDIA driver or use an image built for CUDA %s or older"
                % (image, cu, cuda, driver, have, have)
            )
        return None, "Image %s: tag %s (CUDA %s) has no known driver floor; gpus.cuda_version is %s." % (
            image,
            cu,
            cuda,
            have,
        )
    if not found:
        return floor["min_driver"], "Image %s needs driver >= %s (%s, CUDA %s); the driver version is unknown (%s)." % (
            image,
            floor["min_driver"],
            cu,
            floor["cuda"],
            driver,
        )
    if found[0] < int(floor["min_driver"]):
        older = [
            "%s (driver >= %s)" % (name, f["min_driver"])
            for name, f in sorted(CUDA_DRIVER_FLOORS.items(), reverse=True)
            if found[0] >= int(f["min_driver"])
        ]
        raise PlanError(
            "gpus.driver_version %s is older than %s %s needs: its tag %s (CUDA %s) needs driver >= %s; upgrade the "
            "NVIDIA driver to %s or newer%s"
            % (
                driver,
                whose,
                image,
                cu,
                floor["cuda"],
                floor["min_driver"],
                floor["min_driver"],
                (", or use an image whose tag your driver supports: " + ", ".join(older)) if older else "",
            )
        )
    return floor["min_driver"], "Driver %s >= %s, which %s %s needs (tag %s, CUDA %s)." % (
        driver,
        floor["min_driver"],
        whose,
        image,
        cu,
        floor["cuda"],
    )
