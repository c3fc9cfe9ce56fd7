# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The url_host and address_problem filters: plugins/module_utils/_net_address.py for the weights role's blob
servers. Documentation: url_host.yml and address_problem.yml beside this file."""

from __future__ import annotations

from ansible_collections.llmfleet.serving.plugins.module_utils._net_address import address_problem, url_host


class FilterModule:
    def filters(self):
        return {"url_host": url_host, "address_problem": address_problem}
