"""Errors that name a config field are shown with the flag or ROS parameter the user sets it by.

The runtime says "pass ModelConfig.model as ..."; a command line says "pass --model as ...",
a node "pass parameter 'model' as ...", from the same settings metadata the options and
parameters are derived from.
"""

from vlm2vla_policy.cli_options import Options, flag_message
from vlm2vla_policy.nodes import policy_config
from vlm2vla_policy.nodes.params import param_message
from vlm2vla_policy.runtime.config import ModelConfig, PolicyConfig, SamplingConfig
from vlm2vla_policy.runtime.errors import ModelLoadError
from vlm2vla_policy.settings import spell_fields

UNCACHED = (
    "model 'google/gemma-3-4b-it' is not in the cache; pass ModelConfig.model as a local "
    "directory, or set ModelConfig.allow_download=True and unset HF_HUB_OFFLINE"
)


def test_spell_fields_replaces_each_reference_and_keeps_the_unknown():
    said = []

    def spell(key, value):
        said.append((key, value))
        return None if key == "Other.thing" else f"<{key}|{value}>"

    text = spell_fields("a ModelConfig.model b, Other.thing c ModelConfig.dtype=float32; d", spell)
    assert text == "a <ModelConfig.model|None> b, Other.thing c <ModelConfig.dtype|float32>; d"
    assert said == [
        ("ModelConfig.model", None),
        ("Other.thing", None),
        ("ModelConfig.dtype", "float32"),
    ]


def test_flag_message_names_the_flags_the_command_line_has():
    options = Options(PolicyConfig, ("model.model", "model.allow_download", "model.dtype"))
    text = flag_message(ModelLoadError(UNCACHED), options)
    assert "pass --model as a local directory" in text
    assert "set --allow-download and unset" in text
    assert "ModelConfig" not in text
    assert flag_message("ModelConfig.dtype=float16 is slow", options) == "--dtype float16 is slow"


def test_flag_message_spells_a_bool_that_defaults_to_true_as_its_no_flag():
    options = Options(PolicyConfig, ("constrained",))
    assert options.options[0].flag == "--no-constrained"
    assert flag_message("set PolicyConfig.constrained=False", options) == "set --no-constrained"


def test_hand_written_flags_win_and_unmapped_or_ambiguous_fields_keep_their_names():
    options = Options(PolicyConfig, tuple(f"sampling.{s}.temperature" for s in ("plan", "chunk")))
    text = flag_message(
        "ModelConfig.model; SamplingConfig.temperature; ModelConfig.revision\nwrapped",
        options,
        flags={"ModelConfig.model": "--model"},
    )
    # Two flags set SamplingConfig.temperature: neither is named. No flag sets the revision.
    assert text == "--model; SamplingConfig.temperature; ModelConfig.revision wrapped"


def test_validation_errors_name_the_flag_too():
    options = Options(SamplingConfig, ("temperature",))
    try:
        SamplingConfig(temperature=9.0)
    except ValueError as err:
        assert flag_message(err, options).startswith("--temperature must be within")
    else:
        raise AssertionError("temperature 9.0 was accepted")


def test_param_message_names_the_ros_parameters():
    text = param_message(ModelLoadError(UNCACHED), policy_config.PARAMS)
    assert "pass parameter 'model' as a local directory" in text
    assert "set allow_download:=true and unset" in text
    assert "ModelConfig" not in text


def test_policy_node_has_a_parameter_for_every_field_its_load_errors_name():
    """The runtime's advice must be followable on the node: allow_download is a parameter."""
    names = {p.name for p in policy_config.PARAMS}
    assert {"model", "adapter", "allow_download"} <= names
    assert ModelConfig().allow_download is False
