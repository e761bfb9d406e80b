"""Choosing a tf.distribute strategy by name, and splitting a CPU into logical devices."""

from __future__ import annotations

import tensorflow as tf

from cfgrl_tf.errors import UserError

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker")


def configure_logical_cpus(num_devices: int) -> None:
    """Splits the first CPU into `num_devices` logical devices (must run before TF initialises).

    This is how distribution is exercised on a machine with no accelerators: MirroredStrategy
    then runs one replica per logical CPU, with real cross-replica reductions.
    """
    if num_devices <= 1:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices
        )
    except RuntimeError as e:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != num_devices:
            raise UserError(
                f"cannot split the CPU into {num_devices} devices: TensorFlow is already "
                f"initialised with {existing} ({e})"
            ) from None


def worker_id(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """(is_chief, task index) of this process in a multi-worker cluster; (True, 0) otherwise.

    Only the chief writes a run's files; with no `chief` task in the cluster, worker 0 is chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    task_type, index = resolver.task_type, int(resolver.task_id or 0)
    return task_type == "chief" or (not has_chief and task_type == "worker" and index == 0), index


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the named strategy.

    Args:
      name: "default" (no distribution), "one_device" (the first GPU, else the CPU), "mirrored"
        (every GPU on this machine, else every logical CPU), or "multi_worker" (synchronous
        data parallelism over the workers named in the TF_CONFIG environment variable).

    Raises:
      UserError: an unknown name.
    """
    if name == "multi_worker":
        # Before anything lists devices: collective ops must be set up before TF initialises.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # NCCL is GPU-only; on CPUs reduce through one device.
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    raise UserError(f"--strategy={name!r} is not known; expected one of {', '.join(STRATEGIES)}")
