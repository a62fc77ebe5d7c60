"""Writes tenants/schema.json, the JSON Schema editors use to validate site files."""

import json
import sys
from pathlib import Path

from site_model.loader import TENANTS_DIR
from site_model.model import Site


def render() -> str:
    schema = Site.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Digital Manufacturing Cloud site file"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TENANTS_DIR / "schema.json"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
