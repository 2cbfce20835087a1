"""Which floating-point precision trains fastest on this machine.

bfloat16 mixed precision roughly doubles training speed where the hardware
multiplies bfloat16 natively (CPUs with AVX-512 BF16 or AMX, GPUs from NVIDIA
Ampere on), and makes it several times slower where it is emulated: measured
on a 2-core AMD EPYC without AVX-512, `fast_cnn` trained at 11 images/s in
bfloat16 against 75 in float32. "auto" picks per machine.
"""

from __future__ import annotations

import functools
from pathlib import Path

from cifar_cnn import devices

PRECISIONS = ("float32", "mixed_bfloat16", "auto")
_NATIVE_BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True if the CPU flags (Linux) list a bfloat16 instruction set; False where they cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & _NATIVE_BFLOAT16_CPU_FLAGS)


def gpus_have_native_bfloat16() -> bool | None:
    """True if every visible GPU computes bfloat16 natively, False if one does not, None without GPUs."""
    found = devices.gpus()
    if not found:
        return None
    return all(gpu.compute_capability >= (8, 0) for gpu in found)


@functools.cache  # the hardware does not change while the app runs; pages ask on every rerun
def hardware_has_native_bfloat16() -> bool:
    """The GPUs' answer where there are GPUs, the CPU's otherwise."""
    on_gpus = gpus_have_native_bfloat16()
    return cpu_has_native_bfloat16() if on_gpus is None else on_gpus


def resolve_precision(name: str) -> str:
    """"auto" becomes "mixed_bfloat16" where the hardware computes bfloat16 natively and "float32" elsewhere."""
    if name != "auto":
        return name
    return "mixed_bfloat16" if hardware_has_native_bfloat16() else "float32"
