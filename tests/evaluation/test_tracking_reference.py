"""`omnifuse eval tracking` against the reference implementations, on tracking results derived from KITTI labels.

Golden values measured with the unchanged reference code on the files `tests/tracking_inputs.py` writes
(`python -m tests.tracking_inputs /tmp/inputs`), validation sequences 1, 6, 8, 10, 12, 13, 14, 15, 16, 18, 19:

- MOT: AB3DMOT @ 61f3bd7 (xinshuoweng/AB3DMOT), scripts/KITTI/evaluate.py, i.e.
  `python3 scripts/KITTI/evaluate.py <variant> 1 3D 0.25` with the results in results/KITTI/<variant>/data_0,
  scripts/KITTI/label = label_02 and its evaluate_tracking.seqmap.val; the values are the script's own
  (e.MOTA ... after the best-threshold pass, stat.sAMOTA/amota/amotp) read at full precision by a
  wrapper around its `evaluate()` (numpy 1.23.5, scipy 1.15.3, Python 3.11).
- HOTA: TrackEval @ 12c8791 (JonathonLuiten/TrackEval), trackeval.Evaluator with
  datasets.Kitti2DBox (SPLIT_TO_EVAL 'val', the same seqmap) and metrics.HOTA; the mean over alpha of
  COMBINED_SEQ HOTA, DetA, AssA, LocA.

Counts agree exactly. HOTA agrees bit for bit; the MOT ratios bit for bit too except MOTP and AMOTP, which
sum 3D IoUs that the reference computes with another polygon clipper (differences ~1e-15).
The `gt` variant (ground truth as predictions) cannot be scored by AB3DMOT: its 3D IoU of a box with
itself is unreliable (values like -5.3 or 41.6, or a crash on NaN); TrackEval gives 1 for every number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnifuse.cli import main
from tests.conftest import SHARED_DATA
from tests.tracking_inputs import label_dir, write_inputs

pytestmark = pytest.mark.slow

REFERENCE = {
    'noisy': {
        'car': dict(sAMOTA=0.829404233355311, AMOTA=0.4129729084616304, AMOTP=0.6799348105561478, MOTA=0.8752834467120182, MOTP=0.7339983958878015, IDS=35, FRAG=644, FP=182, FN=828, HOTA=0.6882735281506646, DetA=0.701459707057171, AssA=0.6783344110873589, LocA=0.8538369344726522),  # noqa: E501
        'pedestrian': dict(sAMOTA=0.8598644132402307, AMOTA=0.3994712373556758, AMOTP=0.5265637460776793, MOTA=0.8625728006539287, MOTP=0.5839572313898876, IDS=30, FRAG=836, FP=261, FN=1054, HOTA=0.6825792422825949, DetA=0.7153427368772968, AssA=0.652887700666757, LocA=0.8614164660141405),  # noqa: E501
        'cyclist': dict(sAMOTA=0.8264042144863881, AMOTA=0.4002410979228486, AMOTP=0.5736047345404603, MOTA=0.7566765578635015, MOTP=0.6180261106289163, IDS=2, FRAG=95, FP=208, FN=118),  # noqa: E501
    },
    'heavy': {
        'car': dict(sAMOTA=0.41169165732830476, AMOTA=0.16331006086645183, AMOTP=0.32154351709843104, MOTA=0.46986513903807137, MOTP=0.4587748479578379, IDS=32, FRAG=1184, FP=1302, FN=3108, HOTA=0.3343271737624175, DetA=0.34360187539105447, AssA=0.32841212183945606, LocA=0.7548325263857483),  # noqa: E501
        'pedestrian': dict(sAMOTA=0.0, AMOTA=-0.012439971390620207, AMOTP=0.1283769684412965, MOTA=-0.09083478083171559, MOTP=0.39504952843262137, IDS=107, FRAG=662, FP=3847, FN=6722, HOTA=0.34501993256895097, DetA=0.3763837475646284, AssA=0.3178334128311976, LocA=0.7597271194702611),  # noqa: E501
        'cyclist': dict(sAMOTA=0.0, AMOTA=-0.09662462908011868, AMOTP=0.17044559624208502, MOTA=-0.4510385756676558, MOTP=0.39817324769524165, IDS=2, FRAG=114, FP=1141, FN=813),  # noqa: E501
    },
}


# The same reference run with the 3D IoU threshold 0.5 (`evaluate.py noisy 1 3D 0.5`); HOTA does not depend on it.
REFERENCE_IOU_05 = {
    'car': dict(sAMOTA=0.8206290731555572, AMOTA=0.4089539324501731, AMOTP=0.6820040495120429, MOTA=0.8608425826470939, MOTP=0.7359921257813314, IDS=34, FRAG=683, FP=240, FN=892),  # noqa: E501
    'pedestrian': dict(sAMOTA=0.41843765517604525, AMOTA=0.14850056196996014, AMOTP=0.43606234101125807, MOTA=0.4221927046081537, MOTP=0.6451061403400308, IDS=12, FRAG=1338, FP=2227, FN=3416),  # noqa: E501
    'cyclist': dict(sAMOTA=0.5520264000198473, AMOTA=0.21470697329376848, AMOTP=0.5117101832155875, MOTA=0.44881305637982194, MOTP=0.6588605177748922, IDS=0, FRAG=180, FP=409, FN=334),  # noqa: E501
}


@pytest.fixture(scope='module')
def inputs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # skips only when the shared data as a whole is absent (conftest); a missing tracking sample there fails
    assert (shared_data / 'kitti_tracking').is_dir(), f'{shared_data}/kitti_tracking is missing'
    return write_inputs(shared_data, tmp_path_factory.mktemp('tracking_inputs'))


def _evaluate(pred: Path, out: Path, *extra: str) -> dict:
    code = main(['eval', 'tracking', '--gt', str(label_dir(SHARED_DATA)), '--pred', str(pred), '--seqs', 'val',
                 '--json', str(out), *extra])
    assert code == 0
    return json.loads(out.read_text())


def _check(got: dict, reference: dict) -> None:
    assert sorted(got) == sorted(reference)
    for cls, want in reference.items():
        for key, value in want.items():
            if isinstance(value, int):
                assert got[cls][key] == value, (cls, key)
            else:
                assert got[cls][key] == pytest.approx(100 * value, rel=1e-12, abs=1e-12), (cls, key)


@pytest.mark.parametrize('variant', sorted(REFERENCE))
def test_eval_tracking_gives_the_reference_numbers(inputs, tmp_path, variant):
    got = _evaluate(inputs[variant], tmp_path / 'out.json')
    _check(got, REFERENCE[variant])
    for cls, want in REFERENCE[variant].items():
        assert sorted(got[cls]) == sorted(want), cls


def test_eval_tracking_gives_the_reference_numbers_at_iou_05(inputs, tmp_path):
    got = _evaluate(inputs['noisy'], tmp_path / 'out.json', '--iou', '0.5', '--classes', 'car,pedestrian,cyclist')
    _check(got, REFERENCE_IOU_05)


def test_ground_truth_as_predictions_scores_perfectly(inputs, tmp_path):
    got = _evaluate(inputs['gt'], tmp_path / 'out.json')
    for cls in ('car', 'pedestrian', 'cyclist'):
        assert (got[cls]['IDS'], got[cls]['FRAG'], got[cls]['FP'], got[cls]['FN']) == (0, 0, 0, 0)
        for key in ('sAMOTA', 'AMOTA', 'MOTA', 'MOTP', 'AMOTP') + (('HOTA', 'DetA', 'AssA', 'LocA')
                                                                  if cls != 'cyclist' else ()):
            assert got[cls][key] == pytest.approx(100.0, abs=1e-9), (cls, key)
