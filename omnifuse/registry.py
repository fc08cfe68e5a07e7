"""mmengine registries of omnifuse, children of mmengine's roots (scope 'omnifuse').

`MODELS.build(dict(type='ClassName', **kwargs))` calls `ClassName(**kwargs)`; configs choose any
registered part by name. `locations` are imported on the first build so that registration happens
without the config having to import modules. Every mmengine root has a child here, so that a build
under `default_scope='omnifuse'` finds mmengine's own parts (optimizers, hooks, loops, ...) through the
parent without mmengine's "failed to search registry" fallback.
"""

from mmengine import registry as mmr
from mmengine.registry import Registry

__all__ = ['MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'DATA_SAMPLERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
           'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'HOOKS', 'LOOPS', 'LOG_PROCESSORS', 'VISUALIZERS',
           'VISBACKENDS', 'EVALUATOR', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'FUNCTIONS', 'RUNNERS',
           'RUNNER_CONSTRUCTORS', 'TASK_UTILS', 'INFERENCERS']

MODELS = Registry('model', parent=mmr.MODELS, scope='omnifuse',
                  locations=['omnifuse.ops', 'omnifuse.encoders', 'omnifuse.fusion',
                             'omnifuse.detectors', 'omnifuse.segmentation'])
DATASETS = Registry('dataset', parent=mmr.DATASETS, scope='omnifuse', locations=['omnifuse.datasets'])
TRANSFORMS = Registry('transform', parent=mmr.TRANSFORMS, scope='omnifuse', locations=['omnifuse.datasets'])
METRICS = Registry('metric', parent=mmr.METRICS, scope='omnifuse',
                   locations=['omnifuse.evaluation.kitti_metric', 'omnifuse.evaluation.waymo_metric',
                              'omnifuse.evaluation.occupancy_metric', 'omnifuse.evaluation.seg_metric',
                              'omnifuse.evaluation.point_seg_metric'])

# Children of the remaining roots: nothing of omnifuse registers there yet; mmengine's parts are found
# through the parent.
DATA_SAMPLERS = Registry('data sampler', parent=mmr.DATA_SAMPLERS, scope='omnifuse')
OPTIMIZERS = Registry('optimizer', parent=mmr.OPTIMIZERS, scope='omnifuse')
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=mmr.OPTIM_WRAPPERS, scope='omnifuse')
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor', parent=mmr.OPTIM_WRAPPER_CONSTRUCTORS,
                                      scope='omnifuse')
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=mmr.PARAM_SCHEDULERS, scope='omnifuse')
HOOKS = Registry('hook', parent=mmr.HOOKS, scope='omnifuse')
LOOPS = Registry('loop', parent=mmr.LOOPS, scope='omnifuse')
LOG_PROCESSORS = Registry('log_processor', parent=mmr.LOG_PROCESSORS, scope='omnifuse')
VISUALIZERS = Registry('visualizer', parent=mmr.VISUALIZERS, scope='omnifuse')
VISBACKENDS = Registry('vis_backend', parent=mmr.VISBACKENDS, scope='omnifuse')
EVALUATOR = Registry('evaluator', parent=mmr.EVALUATOR, scope='omnifuse')
MODEL_WRAPPERS = Registry('model_wrapper', parent=mmr.MODEL_WRAPPERS, scope='omnifuse')
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=mmr.WEIGHT_INITIALIZERS, scope='omnifuse')
FUNCTIONS = Registry('function', parent=mmr.FUNCTIONS, scope='omnifuse')
RUNNERS = Registry('runner', parent=mmr.RUNNERS, scope='omnifuse')
RUNNER_CONSTRUCTORS = Registry('runner constructor', parent=mmr.RUNNER_CONSTRUCTORS, scope='omnifuse')
TASK_UTILS = Registry('task util', parent=mmr.TASK_UTILS, scope='omnifuse')
INFERENCERS = Registry('inferencer', parent=mmr.INFERENCERS, scope='omnifuse')
