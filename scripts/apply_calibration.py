"""Copy a calibrated parameter set (JSON: id -> value) into parameters.tsv nominal values."""

import json
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "src/cllsim/model/data/parameters.tsv"

values = json.loads(Path(sys.argv[1]).read_text())
lines = TABLE.read_text().splitlines()
out = []
for line in lines:
    f = line.split("\t")
    if f[0] in values:
        f[3] = f"{float(values[f[0]]):.4g}"
    out.append("\t".join(f))
TABLE.write_text("\n".join(out) + "\n")
print(f"updated {len(values)} rows")
