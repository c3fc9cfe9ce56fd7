"""TEST DOUBLE: `python3 -m sglang.bench_serving ...` in the engine stand-in image.

Runs the collection's client (extensions/bench/llmfleet_bench) with the flags the benchmark role
gives SGLang's benchmark, then appends one JSON line to --output-file under SGLang's field names
(``*_e2e_latency_ms`` for E2EL), as sglang.bench_serving does. Unknown flags are refused.
"""

import argparse
import json
import os
import sys
import tempfile

# SGLang's names for the fields vLLM calls *_e2el_ms (the collection's normaliser maps them back).
SGLANG_NAMES = {
    "mean_e2el_ms": "mean_e2e_latency_ms",
    "median_e2el_ms": "median_e2e_latency_ms",
    "std_e2el_ms": "std_e2e_latency_ms",
    "p99_e2el_ms": "p99_e2e_latency_ms",
}


def parse(argv):
    parser = argparse.ArgumentParser(prog="python3 -m sglang.bench_serving")
    parser.add_argument("--backend", required=True, choices=["sglang-oai-chat"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--dataset-name", required=True, choices=["random"])
    parser.add_argument("--random-input-len", type=int, required=True)
    parser.add_argument("--random-output-len", type=int, required=True)
    # SGLang draws lengths from [ratio * len, len]: 1 means fixed lengths, the only kind this double runs.
    parser.add_argument("--random-range-ratio", type=float, choices=[1.0], default=1.0)
    parser.add_argument("--num-prompts", type=int, required=True)
    parser.add_argument("--max-concurrency", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output-file", required=True)
    return parser.parse_args(argv)


def main(argv):
    args = parse(argv)
    from llmfleet_bench.cli import main as bench_main

    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "result.json")
        flags = [
            "--backend",
            "openai-chat",
            "--base-url",
            args.base_url,
            "--model",
            args.model,
            "--served-model-name",
            args.served_model_name,
            "--dataset-name",
            "random",
            "--random-input-len",
            str(args.random_input_len),
            "--random-output-len",
            str(args.random_output_len),
            "--random-range-ratio",
            "0",
            "--num-prompts",
            str(args.num_prompts),
            "--seed",
            str(args.seed),
            "--save-result",
            "--result-filename",
            saved,
        ]
        if args.max_concurrency:
            flags += ["--max-concurrency", str(args.max_concurrency)]
        code = bench_main(flags)
        if code:
            return code
        with open(saved) as handle:
            result = json.load(handle)
    for ours, theirs in SGLANG_NAMES.items():
        if ours in result:
            result[theirs] = result.pop(ours)
    with open(args.output_file, "a") as handle:
        handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
