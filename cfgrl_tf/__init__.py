"""cfgrl_tf: classifier-free guidance of flow policies for offline RL (TensorFlow 2, Keras 3)."""

__version__ = "0.1.0"
