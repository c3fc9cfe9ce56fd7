"""The stand-in accepts every flag of the engines' own parsers (the planner's flag catalog), so a flag the
planner lets through does not crash the emulator; flags outside the catalog still exit 2 as the engines do."""

import pytest
from emulator_harness import SEED_B200_SGLANG, SEED_B200_VLLM
from llmfleet_emulator import cli_sglang, cli_vllm
from llmfleet_emulator.flag_catalog import catalog


@pytest.mark.parametrize("engine, module", [("vllm", cli_vllm), ("sglang", cli_sglang)])
def test_every_catalog_flag_is_an_option_of_the_emulator(engine, module):
    flags, abbrev = catalog(engine)
    parser = module.build_parser()
    assert len(flags) > 300  # the real parsers have hundreds; an empty catalog would pass vacuously
    missing = sorted(f for f in flags if f not in parser._option_string_actions)
    assert missing == []
    assert parser.allow_abbrev is abbrev


def test_vllm_catalog_flags_parse_beside_the_seed_command():
    extra = [
        "--disable-prefix-caching",
        "--otlp-traces-endpoint",
        "http://collector:4317",
        "--max-num-seq",
        "8",
        "--middleware.key",
        "value",
        "--enable_mfu_metrics",
    ]
    spec = cli_vllm.parse(SEED_B200_VLLM[1:] + extra, {})
    # The flags the emulator acts on keep their meaning (an abbreviation is the flag it abbreviates).
    assert (spec.served_name, spec.tensor_parallel_size, spec.max_batch) == ("deepseek", 4, 8)
    assert spec.args["disable_prefix_caching"] is True
    assert spec.args["otlp_traces_endpoint"] == ["http://collector:4317"]
    assert spec.args["middleware"] == ['{"key": "value"}']


def test_sglang_catalog_flags_parse_beside_the_seed_command():
    extra = ["--swa-prefix-tails", "8", "--enable-lora", "--swa-full-tokens-ratio", "0.1"]
    spec = cli_sglang.parse(SEED_B200_SGLANG[1:] + extra, {})
    assert (spec.served_name, spec.tensor_parallel_size, spec.spec_tokens) == ("deepseek", 4, 4)
    assert spec.args["swa_prefix_tails"] == ["8"] and spec.args["enable_lora"] is True


def test_sglang_admin_key_is_accepted_but_never_recorded():
    spec = cli_sglang.parse(["--model-path", "m", "--admin-api-key", "s3cret"], {})
    assert "s3cret" not in repr(spec.args)


@pytest.mark.parametrize(
    "module, argv, complaint",
    [
        (cli_vllm, ["serve", "--model", "m", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (cli_vllm, ["serve", "--model", "m", "--max-num"], "ambiguous option: --max-num"),
        (cli_sglang, ["--model-path", "m", "--swa_full_tokens_ratio", "0.1"], "unrecognized arguments"),
        (cli_sglang, ["--model-path", "m", "--swa", "1"], "ambiguous option: --swa"),
    ],
)
def test_flags_outside_the_catalog_still_exit_2(module, argv, complaint, capsys):
    with pytest.raises(SystemExit) as caught:
        module.parse(argv, {})
    assert caught.value.code == 2
    assert complaint in capsys.readouterr().err
