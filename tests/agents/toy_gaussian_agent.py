"""A toy agent family written the way a user adds one: this file and a gin file, nothing else.

A one-step Gaussian policy pi(a | s) fit by maximum likelihood (plain Gaussian BC), sampled at
its mean plus `temperature` times its standard deviation of noise. It plugs into the agent seam
only (`Agent`, the update helpers, a `Sweep`), so the learner, the bandit suite, the exporter and
the binaries take it without a change. `new_family_test.py` trains, evaluates and exports it
through the CLI.
"""

import gin
import keras
import tensorflow as tf

from cfgrl_tf.agents.base import Agent
from cfgrl_tf.agents.updates import apply_gradients, average
from cfgrl_tf.generative.noise import initial_noise
from cfgrl_tf.networks import GaussianPolicy
from cfgrl_tf.networks.gaussian import distribution
from cfgrl_tf.sweep import Sweep


@gin.configurable
class OneStepGaussianAgent(Agent):
    name = "one_step_gaussian"

    def __init__(self, observation_dim, action_dim, hidden_dims=(32,), temperature=0.5):
        super().__init__(observation_dim, action_dim)
        self.temperature = float(temperature)
        self.policy_net = GaussianPolicy(action_dim, hidden_dims, name="toy_gaussian")
        self.optimizer = keras.optimizers.Adam(1e-3)

    def build(self):
        self.policy_net(self.dummy_batch())
        self.optimizer.build(self.policy_net.trainable_variables)

    def train_step(self, batch, seed, global_batch_size):
        del seed
        with tf.GradientTape() as tape:
            log_probs = distribution(self.policy_net(batch)).log_prob(batch["actions"])
            loss = average(-log_probs, global_batch_size)
        apply_gradients(self.optimizer, tape, loss, self.policy_net.trainable_variables)
        return {"actor/nll": loss}

    def sample_actions(self, inputs, knob_values, seed):
        del knob_values
        params = self.policy_net({"observations": inputs["observations"]})
        noise = initial_noise(tf.shape(params["mean"])[0], self.action_dim, seed)
        actions = params["mean"] + self.temperature * tf.exp(params["log_std"]) * noise
        return tf.clip_by_value(actions, -1.0, 1.0)

    def networks(self):
        return {"toy_gaussian": self.policy_net}

    def optimizers(self):
        return {"actor": self.optimizer}

    def sampling_networks(self):
        return self.networks()

    def eval_sweep(self):
        return Sweep("none", (0.0,))
