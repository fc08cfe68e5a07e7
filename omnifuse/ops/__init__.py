"""Torch ops that run on CPU and CUDA alike: voxelisation, scatter, voxel lookup, image projection."""

from omnifuse.ops.features import ImageFeatures, LidarFeatures, SparseLevel
from omnifuse.ops.projection import project_points, sample_image_features, sample_multi_camera
from omnifuse.ops.roi_grid import roi_cell_stats, roi_grid_points, roi_grid_unit, to_roi_frame
from omnifuse.ops.timing import StageRecorder, recording, stage
from omnifuse.ops.voxel_query import VoxelTable, interpolate, linear_keys, sparse_trilinear, trilinear_neighbours
from omnifuse.ops.voxelize import (
    Voxelization,
    batch_voxelize,
    dynamic_voxelize,
    grid_shape,
    hard_voxelize,
    point_to_voxel_coords,
    scatter_max,
    scatter_mean,
    scatter_sum,
    unique_voxels,
)

__all__ = ['ImageFeatures', 'LidarFeatures', 'SparseLevel', 'project_points', 'sample_image_features',
           'sample_multi_camera', 'roi_cell_stats', 'roi_grid_points', 'roi_grid_unit', 'to_roi_frame', 'StageRecorder',
           'recording', 'stage', 'VoxelTable', 'linear_keys', 'sparse_trilinear', 'trilinear_neighbours', 'interpolate',
           'Voxelization', 'batch_voxelize', 'dynamic_voxelize',
           'grid_shape', 'hard_voxelize', 'point_to_voxel_coords', 'scatter_max', 'scatter_mean', 'scatter_sum',
           'unique_voxels']
