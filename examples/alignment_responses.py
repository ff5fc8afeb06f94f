"""Phase-correlation responses of DeepPCB's real image/template pairs against pairs of unrelated images, and the
template offsets: the measurement behind the default ``min_response`` (README, Golden-template inspection).

Usage: python examples/alignment_responses.py [DEEPPCB_TRAINVAL_DIR] [UNRELATED_PAIRS]
"""

import statistics
import sys
from pathlib import Path

import numpy as np

from yolo_freq.reference import MIN_RESPONSE, Golden, read_image
from yolo_freq.reference.compose import as_grey

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/DeepPCB-trainval")
n_unrelated = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
tests = sorted(src.rglob("*_test.jpg"))
greys = {p: as_grey(read_image(p, 3)) for p in tests}
paired = [Golden.read(p.with_name(p.name.replace("_test", "_temp"))).align(greys[p]) for p in tests]
rng = np.random.default_rng(0)
unrelated = []
for _ in range(n_unrelated):
    a, b = rng.choice(len(tests), 2, replace=False)
    unrelated.append(Golden.read(tests[b].with_name(tests[b].name.replace("_test", "_temp"))).align(greys[tests[a]]))
applied = [max(abs(a.dx), abs(a.dy)) for a in paired if a.applied]
print(
    f"{len(tests)} real pairs: {sum(a.response < MIN_RESPONSE for a in paired)} below {MIN_RESPONSE}, "
    f"response median {statistics.median(a.response for a in paired):.2f}; applied shifts (larger axis): median "
    f"{statistics.median(applied):.2f} px, 90th percentile {np.percentile(applied, 90):.2f} px, max {max(applied):.2f} px"
)
print(
    f"{n_unrelated} pairs of unrelated images (seed 0): {sum(a.response >= MIN_RESPONSE for a in unrelated)} at or "
    f"above {MIN_RESPONSE}, response median {statistics.median(a.response for a in unrelated):.3f}, "
    f"99th percentile {np.percentile([a.response for a in unrelated], 99):.3f}, max {max(a.response for a in unrelated):.3f}"
)
