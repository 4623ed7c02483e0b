"""The mechanisms: one process each, acting on the world once a week (order: sn_sim.model)."""
