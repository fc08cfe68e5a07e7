"""Print the near-field occupancy results of scripts/train_occupancy.sh as a Markdown table.

Usage: python scripts/occupancy_table.py WORK_ROOT
"""

import json
import sys
from pathlib import Path

work = Path(sys.argv[1] if len(sys.argv) > 1 else 'work_dirs/occupancy')
conditions = ('all', 'day', 'night', 'glare', 'fog')
print('| input | condition | occupied IoU | mIoU | free | vehicle | pedestrian | cyclist | static |')
print('|---|---|---|---|---|---|---|---|---|')
for variant in ('camera', 'ultrasonic', 'fused'):
    for cond in conditions:
        path = work / variant / f'eval_{cond}.json'
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        pc = r['per_class_iou']
        cells = [f"{pc[k]:.3f}" if k in pc else '–' for k in ('free', 'vehicle', 'pedestrian', 'cyclist', 'static')]
        print(f"| {variant} | {cond} | {r['occupied_iou']:.3f} | {r['miou']:.3f} | " + ' | '.join(cells) + ' |')
