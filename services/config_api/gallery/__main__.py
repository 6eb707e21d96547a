"""``python -m services.config_api.gallery``: check the template files, write their migration.

``--check`` exits 1 when the files differ from what the latest generated migration ships;
``--write-migration`` then writes the next-numbered migration (nothing when they agree).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.config_api.gallery import (
    InvalidSource,
    latest_generated,
    load_sources,
    migration_files,
    migrations_directory,
    next_migration_name,
    render_migration,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.config_api.gallery")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 if a migration is due")
    action.add_argument(
        "--write-migration", action="store_true", help="write the migration the files need"
    )
    action.add_argument("--print", action="store_true", help="print the migration's SQL")
    args = parser.parse_args(argv)
    try:
        rendered = render_migration(load_sources())
    except InvalidSource as invalid:
        print(f"error: {invalid}", file=sys.stderr)
        return 1
    if args.print:
        sys.stdout.write(rendered)
        return 0
    migrations = migration_files()
    latest = latest_generated(migrations)
    if latest is not None and latest[1] == rendered:
        print(f"the system templates are up to date ({latest[0]})", file=sys.stderr)
        return 0
    name = next_migration_name(migrations)
    if args.check:
        print(
            f"the template files changed: run --write-migration (it writes {name})", file=sys.stderr
        )
        return 1
    target = Path(str(migrations_directory())) / name
    target.write_text(rendered, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
