"""Recipes (which activation at which step) and the one-cosine learning-rate schedule."""
import math

RECIPES = ("silu", "relu", "swi+ft", "stocha", "stocha+ft")


def switch_step(recipe, steps, alpha):
    """First step trained with ReLU in a *+ft recipe (the last alpha of the steps); else None."""
    if recipe in ("swi+ft", "stocha+ft"):
        return int(round((1.0 - alpha) * steps))
    return None


def activation_at(recipe, step, steps, alpha):
    """Activation used at training step `step` (0-based)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; one of {RECIPES}")
    sw = switch_step(recipe, steps, alpha)
    if sw is not None and step >= sw:
        return "relu"
    return {"silu": "silu", "relu": "relu", "swi+ft": "silu",
            "stocha": "stocha", "stocha+ft": "stocha"}[recipe]


def default_activation(recipe):
    """What inference should use by default for a model trained with this recipe."""
    return {"silu": "silu", "relu": "relu", "swi+ft": "relu",
            "stocha": "stocha", "stocha+ft": "relu"}[recipe]


def lr_at(step, steps, peak, warmup, min_frac=0.01):
    """Linear warm-up to peak, then ONE cosine over the rest of the run down to min_frac*peak.

    The schedule ignores the activation switch: no restart and no new warm-up at it.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - 1 - warmup)
    t = min(max(t, 0.0), 1.0)
    return peak * (min_frac + (1.0 - min_frac) * 0.5 * (1.0 + math.cos(math.pi * t)))
