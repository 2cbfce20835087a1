"""How long loading a dataset takes: the first load (decode, write the cache) and the second (from the cache).

    python bench/data_load.py --data ../shared/data/cifar10-jpeg.tar.gz [--cache-dir DIR]

The cache lives in a fresh temporary folder (inside DIR when given, so it can sit on
a chosen disk), removed afterwards; the project's own cache is never touched.
The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


from cifar_cnn.data import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--cache-dir", type=Path, help="where to make the temporary cache folder (default: the system's temp folder)")
    args = parser.parse_args()
    if args.cache_dir:
        args.cache_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="data-load-bench-", dir=args.cache_dir) as empty_cache:
        cache_dir = Path(empty_cache)
        started = time.perf_counter()
        first = load_dataset(args.data, cache_dir=cache_dir)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = load_dataset(args.data, cache_dir=cache_dir)
        second_s = time.perf_counter() - started
    assert (second.x_train == first.x_train).all() and (second.y_test == first.y_test).all()

    print(f"{first.source}: {len(first.x_train):,} train and {len(first.x_test):,} test images, {first.num_classes} classes")
    for note in first.notes:
        print(f"note: {note}")
    print(f"first load (decode, write the cache): {first_s:.2f} s")
    print(f"second load (from the cache):         {second_s:.2f} s")
    print(json.dumps({"first_load_s": round(first_s, 2), "second_load_s": round(second_s, 2),
                      "n_train": len(first.x_train), "n_test": len(first.x_test)}))


if __name__ == "__main__":
    main()
