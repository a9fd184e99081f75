"""Edge-MoE: golden model, float reference, weights (and later the latency model)."""
