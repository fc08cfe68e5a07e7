"""mmengine registries of omnifuse, children of mmengine's roots (scope 'omnifuse').

`MODELS.build(dict(type='ClassName', **kwargs))` calls `ClassName(**kwargs)`; configs choose any
registered part by name. `locations` are imported on the first build so that registration happens
without the config having to import modules.
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

__all__ = ['MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS']

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='omnifuse',
                  locations=['omnifuse.ops', 'omnifuse.encoders', 'omnifuse.fusion',
                             'omnifuse.detectors', 'omnifuse.segmentation'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='omnifuse',
                    locations=['omnifuse.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='omnifuse',
                      locations=['omnifuse.datasets'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='omnifuse',
                   locations=['omnifuse.evaluation'])
