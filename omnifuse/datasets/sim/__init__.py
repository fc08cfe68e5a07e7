"""The multi-sensor synthetic world: LiDAR, camera, thermal and ultrasonic rendered from one procedural
scene, with exact labels (boxes with KITTI fields, camera/thermal masks, per-point classes, BEV occupancy).

    from omnifuse.datasets.sim import generate_frame, write_kitti
    frame = generate_frame(0, condition='night')   # a SimFrame (a SensorFrame with dense labels)
    write_kitti([frame], 'out/sim')

Modules: classes (class ids), world (scene), raycast (vectorised ray casting), lidar, camera, thermal,
ultrasonic, labels, rig (calibration), generate (frames and sequences), writer_kitti. Its pictures (the contact
sheet) are drawn by omnifuse.viz.contact_sheet, in the class palette of omnifuse.viz.colors.
"""

from omnifuse.datasets.sim.classes import SEMANTIC_CLASSES, THING_CLASSES, THING_TO_ID
from omnifuse.datasets.sim.generate import SimFrame, generate_frame, generate_sequence, iter_sequence
from omnifuse.datasets.sim.lidar import LidarModel
from omnifuse.datasets.sim.rig import default_calibration
from omnifuse.datasets.sim.thermal import thermal_to_8bit, thermal_to_kelvin
from omnifuse.datasets.sim.writer_kitti import write_kitti

__all__ = ['SEMANTIC_CLASSES', 'THING_CLASSES', 'THING_TO_ID', 'SimFrame', 'generate_frame',
           'generate_sequence', 'iter_sequence', 'LidarModel', 'default_calibration', 'thermal_to_8bit',
           'thermal_to_kelvin', 'write_kitti']
