"""One hardware-aware fine-tuning run of the tiny LM on glass-pcm-200mm, for the kill-and-resume
test: ``python resume_run.py CHECKPOINT_DIR`` trains ``STEPS`` steps with a checkpoint every 2,
pausing after each step so that the test can kill it between two checkpoints. :func:`run` is the
same run in the test's own process."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tiny_models import tiny_lm, token_ids  # noqa: E402
from torch_photonic.train import finetune  # noqa: E402

STEPS = 10
PRESET = "glass-pcm-200mm"


def run(checkpoint_dir=None, resume=False, pause=0.0, steps=STEPS):
    """(model, result) of the run; ``checkpoint_dir`` None: no checkpoints."""
    model = tiny_lm(dropout=0.1)
    res = finetune(model, PRESET, token_ids(), steps=steps, batch_size=4, lr=3e-3,
                   checkpoint_dir=checkpoint_dir, checkpoint_every=2 if checkpoint_dir else None,
                   resume=resume, progress=False, on_step=lambda r: time.sleep(pause))
    return model, res


if __name__ == "__main__":
    run(sys.argv[1], pause=float(sys.argv[2]) if len(sys.argv) > 2 else 0.3)
    print("finished", flush=True)
