#!/usr/bin/env bash
# Train (or resume) the three fast detector variants on the 12-epoch CPU schedule, all at once with one
# thread each, then write their test-set predictions (clean, cameras dropped, 1 deg / 0.2 m extrinsic error).
# Usage: scripts/train_detection_12e.sh [TRAIN_ROOT] [VAL_ROOT] [TEST_ROOT]   (re-run it to resume)
set -euo pipefail
TRAIN=${1:-data/sim_train}; VAL=${2:-data/sim_val}; TEST=${3:-data/sim_test}
OMNIFUSE=${OMNIFUSE:-omnifuse}
SETS="train_dataloader.dataset.data_root=$TRAIN train_dataloader.dataset.image_set=trainval
      val_dataloader.dataset.data_root=$VAL val_dataloader.dataset.image_set=trainval
      test_dataloader.dataset.data_root=$VAL test_dataloader.dataset.image_set=trainval"
run() {  # variant
  local v=$1 wd=work_dirs/det_fast_${1}_12e_sim cfg=configs/logonet/fast_${1}_1xb2-12e_sim.py resume=()
  [ -f "$wd/last_checkpoint" ] && resume=(--resume)
  [ -f "$wd/weights.pth" ] || OMP_NUM_THREADS=1 $OMNIFUSE train "$cfg" --work-dir "$wd" "${resume[@]}" --cfg-options $SETS
  local out=work_dirs/det_eval/test12e/$v O=(--data-root "$TEST" --cfg-options test_dataloader.dataset.image_set=trainval)
  OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_clean"
  if [ "$v" != lidar ]; then
    OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_nocam" --drop camera thermal
    OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_ext" --extrinsic-error 1 0.2
  fi
}
mkdir -p work_dirs
for v in lidar lidar-cam lidar-cam-thermal; do run "$v" > "work_dirs/train12e_$v.log" 2>&1 & done
wait
echo "predictions in work_dirs/det_eval/test12e; table: python scripts/detection_table.py --root $TEST" \
     "lidar_only=work_dirs/det_eval/test12e/lidar_clean logonet=work_dirs/det_eval/test12e/lidar-cam_clean" \
     "logonet_thermal=work_dirs/det_eval/test12e/lidar-cam-thermal_clean"
