import keras
import pytest

from cifar_cnn import runs
from cifar_cnn.training.precision import cpu_has_native_bfloat16, resolve_precision
from cifar_cnn.training import TrainConfig, train
from synthetic_arrays import make_dataset

ZEN3_FLAGS = "flags\t\t: fpu vme sse sse2 avx f16c fma avx2 bmi2 sha_ni vaes\n"
ZEN4_FLAGS = "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"


@pytest.mark.parametrize("flags, native", [(ZEN3_FLAGS, False), (ZEN4_FLAGS, True), ("flags : amx_bf16 amx_tile\n", True), ("", False)])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: test\n" + flags)
    assert cpu_has_native_bfloat16(cpuinfo) is native


def test_unreadable_cpu_flags_mean_no_bfloat16(tmp_path):
    assert cpu_has_native_bfloat16(tmp_path / "missing") is False


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16"])
def test_explicit_precisions_are_kept(name):
    assert resolve_precision(name) == name


@pytest.mark.parametrize("native, chosen, compute_dtype", [(True, "mixed_bfloat16", "bfloat16"), (False, "float32", "float32")])
def test_auto_precision_trains_in_the_precision_the_hardware_suits_and_records_it(tmp_path, monkeypatch, native, chosen, compute_dtype):
    from cifar_cnn.training import precision

    monkeypatch.setattr(precision, "hardware_has_native_bfloat16", lambda: native)
    dataset = make_dataset(n_train=64, n_test=16)
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, precision="auto"), dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    run = runs.load_run(result.run_dir)
    assert run.config["precision"] == chosen
    assert runs.load_model(run).get_layer("conv1").compute_dtype == compute_dtype
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("capabilities, chosen", [([(9, 0)], "mixed_bfloat16"), ([(8, 0), (8, 6)], "mixed_bfloat16"),
                                                  ([(7, 5)], "float32"), ([(9, 0), (7, 0)], "float32")])
def test_auto_precision_follows_the_gpus_where_there_are_gpus(monkeypatch, capabilities, chosen):
    from cifar_cnn import devices
    from cifar_cnn.training import precision

    monkeypatch.setattr(devices, "gpus", lambda: tuple(devices.Gpu(f"gpu{i}", c) for i, c in enumerate(capabilities)))
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: chosen == "float32")  # the CPU would say the opposite
    precision.hardware_has_native_bfloat16.cache_clear()
    try:
        assert resolve_precision("auto") == chosen
    finally:
        precision.hardware_has_native_bfloat16.cache_clear()
