#!/usr/bin/env bash
# Train (or resume) several detector configs at once, one thread each, then write their test-set predictions
# (clean; for image models also cameras dropped and a 1 deg / 0.2 m extrinsic error).
# Usage: scripts/train_detection_variants.sh NAME SEED CONFIG...     (re-run the same line to resume)
#   work dir:    work_dirs/<NAME>/<config stem>_s<SEED>
#   predictions: work_dirs/<NAME>/preds/<config stem>_s<SEED>_{clean,nocam,ext}
# Environment: TRAIN, VAL, TEST data roots (default data/sim_{train,val,test}); OMNIFUSE (default omnifuse).
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,7p "$0"; exit 2; }
NAME=$1 SEED=$2; shift 2
TRAIN=${TRAIN:-data/sim_train} VAL=${VAL:-data/sim_val} TEST=${TEST:-data/sim_test}
OMNIFUSE=${OMNIFUSE:-omnifuse}
SETS="train_dataloader.dataset.data_root=$TRAIN train_dataloader.dataset.image_set=trainval
      val_dataloader.dataset.data_root=$VAL val_dataloader.dataset.image_set=trainval
      test_dataloader.dataset.data_root=$VAL test_dataloader.dataset.image_set=trainval randomness.seed=$SEED"
run() {  # config
  local cfg=$1 stem wd resume=()
  stem=$(basename "$cfg" .py)_s$SEED
  wd=work_dirs/$NAME/$stem
  [ -f "$wd/last_checkpoint" ] && resume=(--resume)
  [ -f "$wd/weights.pth" ] || OMP_NUM_THREADS=1 $OMNIFUSE train "$cfg" --work-dir "$wd" "${resume[@]}" --cfg-options $SETS
  local out=work_dirs/$NAME/preds/$stem O=(--data-root "$TEST" --cfg-options test_dataloader.dataset.image_set=trainval)
  OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_clean"
  if grep -q "image_encoder=None" "$cfg"; then return; fi
  OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_nocam" --drop camera thermal
  OMP_NUM_THREADS=1 $OMNIFUSE test "$cfg" "$wd/weights.pth" "${O[@]}" --out "${out}_ext" --extrinsic-error 1 0.2
}
mkdir -p "work_dirs/$NAME/preds"
for cfg in "$@"; do
  [ -f "$cfg" ] || { echo "no such config: $cfg" >&2; exit 2; }
  run "$cfg" > "work_dirs/$NAME/$(basename "$cfg" .py)_s$SEED.log" 2>&1 &
done
wait
echo "predictions in work_dirs/$NAME/preds"
