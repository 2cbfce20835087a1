"""Training: settings, the training loop and its callbacks.

- `config`: `TrainConfig` (checked when made) and the bounds of each setting;
- `presets`: the named recipes and `build_config`, the one way to turn a user's choices into a `TrainConfig`;
- `loop`: `train`, which trains and writes a run;
- the callbacks and helpers it uses: `budget` (time budgets), `lookahead`, `batchnorm` (re-estimating
  BatchNorm statistics), `live` (metrics for the app and the CLI), `epoch_records` (the confusion matrix and the
  watch set's guesses after every epoch), `optimizers`, `schedules`, `precision`.
"""

from cifar_cnn.training.config import (LEARNING_RATE_RANGE, MAX_BATCH_SIZE, MAX_EPOCHS, MAX_MINUTES, MAX_NAME_LENGTH, MAX_SEED,
                                       OPTIMIZERS, PRECISIONS, SCHEDULES, STRATEGIES, UNCAPPED_EPOCHS, VALIDATION_CHOICES, ConfigError,
                                       TrainConfig, describe_config, label_problem, recipe_in_words,
                                       settings_rows, settings_table)
from cifar_cnn.training.loop import (DataSplit, TrainResult, build_for_training, learning_rate_schedule, make_loss, make_optimizer,
                                     make_strategy, score, split_training_data, train)

__all__ = [
    "LEARNING_RATE_RANGE", "MAX_BATCH_SIZE", "MAX_EPOCHS", "MAX_MINUTES", "MAX_NAME_LENGTH", "MAX_SEED", "OPTIMIZERS", "PRECISIONS", "SCHEDULES",
    "STRATEGIES", "UNCAPPED_EPOCHS", "VALIDATION_CHOICES", "ConfigError", "DataSplit", "TrainConfig", "TrainResult", "build_for_training",
    "describe_config", "label_problem", "learning_rate_schedule", "make_loss", "make_optimizer", "make_strategy", "score", "recipe_in_words", "settings_rows", "settings_table", "split_training_data", "train",
]
