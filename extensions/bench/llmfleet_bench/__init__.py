"""Command-line front end of the llmfleet.serving benchmark client (``python -m llmfleet_bench``).

The logic lives in the collection's ``plugins/module_utils/_bench_*.py``; this package only parses
``vllm bench serve``-style flags, prints the summary and saves the result file.
"""
