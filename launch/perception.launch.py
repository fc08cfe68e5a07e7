"""Launch the omnifuse perception lifecycle node and bring it to 'active'.

    ros2 launch omnifuse perception.launch.py
    ros2 launch omnifuse perception.launch.py lidar_topic:=/velodyne_points checkpoint:=/path/det.pth device:=cuda

Arguments (all optional): params_file, checkpoint (a detector checkpoint; empty keeps the params
file's detector, by default the shipped one), segmenter_checkpoint, occupancy_checkpoint (likewise),
device, num_threads, ros_distro, use_sim_time, lidar_topic, camera_topic, camera_info_topic,
thermal_topic, thermal_info_topic, objects_topic, markers_topic, occupancy_topic,
segmentation_topic, diagnostics_topic, namespace, autostart.

Topic arguments remap the node's default topic names (docs/ros.md), so the params file can keep
the contract's names. With autostart:=true (default) the node is configured, then activated.
Play bags with `ros2 bag play --clock` and launch with use_sim_time:=true, so that a slow CPU does not
find every stamp overdue.

Cyclone DDS drops multi-MB best-effort point clouds when its socket receive buffer (kernel default
208 KiB) overflows; unless CYCLONEDDS_URI is set, the node asks for a 4 MB buffer (the kernel caps it
at net.core.rmem_max; docs/ros.md).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

try:
    from ament_index_python.packages import get_package_share_directory

    _SHARE = get_package_share_directory('omnifuse')
except Exception:  # running from a source checkout
    _SHARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_PARAMS = os.path.join(_SHARE, 'configs', 'ros', 'perception.yaml')

# launch argument -> (default topic of the contract, description)
TOPICS = {
    'lidar_topic': ('/sensors/lidar/points', 'LiDAR sensor_msgs/PointCloud2 input'),
    'camera_topic': ('/sensors/camera/front/image_raw', 'front camera sensor_msgs/Image input'),
    'camera_info_topic': ('/sensors/camera/front/camera_info', 'front camera sensor_msgs/CameraInfo input'),
    'thermal_topic': ('/sensors/thermal/front/image_raw', 'front thermal sensor_msgs/Image (mono16) input'),
    'thermal_info_topic': ('/sensors/thermal/front/camera_info', 'front thermal sensor_msgs/CameraInfo input'),
    'objects_topic': ('/perception/objects', 'vision_msgs/Detection3DArray output'),
    'markers_topic': ('/perception/markers', 'visualization_msgs/MarkerArray output'),
    'occupancy_topic': ('/perception/occupancy', 'nav_msgs/OccupancyGrid output'),
    'segmentation_topic': ('/perception/segmentation', 'sensor_msgs/Image mono8 class-id output'),
    'diagnostics_topic': ('/diagnostics', 'diagnostic_msgs/DiagnosticArray output'),
}


CYCLONEDDS_BUFFER = ('<CycloneDDS><Domain><Internal><SocketReceiveBufferSize min="4MB"/></Internal></Domain>'
                     '</CycloneDDS>')


def _dds_env():
    """A larger DDS receive buffer for 64-beam clouds, unless the user configured Cyclone DDS."""
    return {} if os.environ.get('CYCLONEDDS_URI') else {'CYCLONEDDS_URI': CYCLONEDDS_BUFFER}


def _node(context, *args, **kwargs):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {}
    if arg('use_sim_time'):
        overrides['use_sim_time'] = arg('use_sim_time').lower() in ('true', '1', 'yes')
    if arg('device'):
        overrides['device'] = arg('device')
    if arg('ros_distro'):
        overrides['ros_distro'] = arg('ros_distro')
    if arg('num_threads'):
        overrides['num_threads'] = int(arg('num_threads'))
    for role, name in (('detector', 'checkpoint'), ('segmenter', 'segmenter_checkpoint'),
                       ('occupancy', 'occupancy_checkpoint')):
        if arg(name):
            overrides[f'models.{role}.kind'] = 'checkpoint'
            overrides[f'models.{role}.checkpoint'] = arg(name)
    remappings = [(default, arg(name)) for name, (default, _) in TOPICS.items() if arg(name) != default]
    node = LifecycleNode(
        package='omnifuse', executable='perception_node', name='perception_node',
        namespace=arg('namespace'), output='screen',
        parameters=[arg('params_file'), overrides], remappings=remappings, additional_env=_dds_env())
    actions = [node]
    if arg('autostart').lower() in ('true', '1', 'yes'):
        actions += [
            # Once only: a later `ros2 lifecycle set ... deactivate` must leave the node inactive.
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=node, goal_state='inactive', handle_once=True,
                entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                      transition_id=Transition.TRANSITION_ACTIVATE))])),
            EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                        transition_id=Transition.TRANSITION_CONFIGURE)),
        ]
    return actions


def generate_launch_description():
    """The launch description (arguments, the node, autostart transitions)."""
    args = [
        DeclareLaunchArgument('params_file', default_value=DEFAULT_PARAMS,
                              description='node parameters (/**: ros__parameters: YAML)'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='detector checkpoint (.pth); empty keeps the params file detector '
                              '(by default the shipped fast_lidar-cam_sim.pth)'),
        DeclareLaunchArgument('segmenter_checkpoint', default_value='',
                              description='CMX segmentation checkpoint (.pth); empty keeps the params file '
                              'segmenter (by default the shipped cmx_rgbt_sim.pth)'),
        DeclareLaunchArgument('occupancy_checkpoint', default_value='',
                              description='near-field occupancy checkpoint (.pth); empty keeps the params file '
                              'model (by default the shipped nearfield_fused_sim.pth)'),
        DeclareLaunchArgument('num_threads', default_value='',
                              description='torch CPU threads of the models (0 = torch default); empty keeps '
                              'the params file value (1)'),
        DeclareLaunchArgument('device', default_value='', description='torch device (cpu, cuda, cuda:1); '
                              'empty keeps the params file value'),
        DeclareLaunchArgument('ros_distro', default_value='',
                              description='message definitions (humble, jazzy); empty: $ROS_DISTRO'),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              description='true: the node clock follows /clock (ros2 bag play --clock); '
                              'empty keeps the params file value (false)'),
        DeclareLaunchArgument('namespace', default_value='', description='node namespace'),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate the lifecycle node at launch'),
    ]
    args += [DeclareLaunchArgument(name, default_value=default, description=text)
             for name, (default, text) in TOPICS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_node)])
