"""How long loading a dataset takes: the first load (decoding) and the second (from the cache).

    python bench/data_load.py --data ../shared/data/cifar10-jpeg.tar.gz

Uses a fresh temporary cache folder; the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cifar_cnn.data import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache_dir:
        started = time.perf_counter()
        first = load_dataset(args.data, cache_dir=Path(cache_dir))
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = load_dataset(args.data, cache_dir=Path(cache_dir))
        second_s = time.perf_counter() - started
    assert (second.x_train == first.x_train).all()
    print(f"{first.source}: {len(first.x_train):,} train and {len(first.x_test):,} test images, {first.num_classes} classes")
    print(f"first load (decode and cache): {first_s:.2f} s")
    print(f"second load (from the cache):  {second_s:.2f} s")
    print(json.dumps({"first_load_s": round(first_s, 2), "second_load_s": round(second_s, 2),
                      "n_train": len(first.x_train), "n_test": len(first.x_test)}))


if __name__ == "__main__":
    main()
