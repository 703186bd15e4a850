"""The joint network: shared representation, four heads (MI, DC, TR, ACT)."""
from .config import ModelConfig, TrainConfig
from .network import JointNet, NetOutput

__all__ = ["ModelConfig", "TrainConfig", "JointNet", "NetOutput"]
