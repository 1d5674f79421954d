"""Store shipped zoo entries again in another dtype (maintainers; issue #30's 40 MB budget), re-measured.

    python scripts/maintenance/convert_weights.py transformer_enja alexnet_cifar10 --dtype int8

Each entry's file is rewritten from its current file (milestones/zoo.py `convert`), its number re-measured from
the new file on the full test set (MILESTONES_DATA or --data for the image entries), and the registry updated;
the old dtype and number are kept under `converted_from`. Then: python scripts/maintenance/update_docs.py
"""

from __future__ import annotations

import argparse

from milestones.zoo import convert


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--dtype", choices=["int8", "float16", "float32"], required=True)
    p.add_argument("--data", metavar="DIR")
    args = p.parse_args()
    for name in args.names:
        e = convert(name, args.dtype, data_root=args.data)
        print(f"{name}: {e['converted_from']['value']} ({e['converted_from']['dtype']}, "
              f"{e['converted_from']['bytes']:,} bytes) -> {e['value']} ({e['dtype']}, {e['bytes']:,} bytes)")


if __name__ == "__main__":
    main()
