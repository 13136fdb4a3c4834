"""Property test of the validation layer: any value either passes or gives a UserError naming its key."""
from hydra import compose, initialize_config_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import UserError
from pipeline.config_check import CONF_DIR, check_config

anything = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False),
                     st.text(max_size=8))
KEYS = {"opset": anything, "precision": st.one_of(anything, st.sampled_from(["fp32", "fp16", "bf16", "int8"])),
        "input.size": anything, "input.batch": anything, "bench.runs": anything, "bench.warmup": anything,
        "bench.threads": anything}

with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
    BASE = compose("config", overrides=["+graph=openvino", "model=tiny_cnn", "cache.enabled=false"])


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(KEYS)), data=st.data())
def test_value_passes_or_is_named(key, data):
    value = data.draw(KEYS[key])
    cfg = BASE.copy()
    node, leaf = (cfg, key) if "." not in key else (cfg[key.split(".")[0]], key.split(".")[1])
    node[leaf] = value
    try:
        check_config(cfg)
    except UserError as error:
        assert str(error).startswith(f"{key}=") or key in str(error)
        assert "\n" not in str(error)  # one line, whatever the value holds
        return
    # it passed: then it must really be valid
    if key == "opset":
        assert isinstance(value, int) and 13 <= value <= 21
    elif key == "precision":
        assert value in ("fp32", "fp16", "bf16", "int8")
    elif key in ("input.size", "input.batch", "bench.runs"):
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1
    elif key == "bench.warmup":
        assert isinstance(value, int) and value >= 0
    elif key == "bench.threads":
        assert value is None or (isinstance(value, int) and value >= 1)
