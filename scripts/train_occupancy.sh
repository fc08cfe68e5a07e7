#!/usr/bin/env bash
# Train and evaluate the three near-field occupancy variants (camera, ultrasonic, fused) on simulator data.
# Usage: scripts/train_occupancy.sh TRAIN_ROOT VAL_ROOT [WORK_ROOT]
#   TRAIN_ROOT, VAL_ROOT: `omnifuse sim --scenario parking --condition mixed` outputs (every frame used).
# Re-running resumes unfinished trainings (--resume) and redoes the evaluation.
set -euo pipefail
train_root=$1; val_root=$2; work=${3:-work_dirs/occupancy}
py=${PYTHON:-.venv/bin/python}
opts=(train_dataloader.dataset.data_root="$train_root" train_dataloader.dataset.image_set=trainval
      val_dataloader.dataset.data_root="$val_root" val_dataloader.dataset.image_set=trainval
      test_dataloader.dataset.data_root="$val_root" test_dataloader.dataset.image_set=trainval)
# Per-condition frame lists of the validation set, from the simulator's meta files.
"$py" - "$val_root" <<'PY'
import sys
from pathlib import Path
from omnifuse.datasets.kitti import read_frame_meta
root = Path(sys.argv[1])
split = root / 'training' if (root / 'training').is_dir() else root
groups = {}
for meta in sorted((split / 'meta').glob('*.json')):
    groups.setdefault(read_frame_meta(meta)['condition'], []).append(meta.stem)
for cond, ids in groups.items():
    (root / 'ImageSets' / f'{cond}.txt').write_text('\n'.join(ids) + '\n')
    print(f'{cond}: {len(ids)} frames')
PY
for variant in camera ultrasonic fused; do
  cfg=configs/occupancy/nearfield_${variant}_sim.py
  wd=$work/$variant
  resume=(); [ -f "$wd/last_checkpoint" ] && resume=(--resume)
  if [ ! -f "$wd/weights.pth" ]; then
    nice -n 5 "$py" -m omnifuse train "$cfg" --work-dir "$wd" --no-progress "${resume[@]}" --cfg-options "${opts[@]}"
  fi
  for cond in all day night glare fog; do
    split=(); [ "$cond" != all ] && split=(--split "$cond")
    [ "$cond" != all ] && [ ! -f "$val_root/ImageSets/$cond.txt" ] && continue
    rm -rf "$wd/pred_$cond"
    "$py" -m omnifuse occupancy --kitti-root "$val_root" "${split[@]}" --config "$cfg" --checkpoint "$wd/weights.pth" \
      --out "$wd/pred_$cond" > /dev/null
    esplit=(); [ "$cond" != all ] && esplit=(--split "$val_root/ImageSets/$cond.txt")
    "$py" -m omnifuse eval occupancy --gt "$val_root/training/occupancy" --pred "$wd/pred_$cond" --max-range 5 \
      "${esplit[@]}" --json "$wd/eval_$cond.json" > /dev/null
    echo "$variant $cond: $(cat "$wd/eval_$cond.json" | tr -d '\n ' | cut -c1-200)"
  done
done
