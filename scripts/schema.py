"""Write schema/api.schema.json from the API's pydantic models (tests check it is current)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sandbox.api import json_schema

TARGET = Path(__file__).resolve().parents[1] / "schema" / "api.schema.json"

if __name__ == "__main__":
    TARGET.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {TARGET}")
