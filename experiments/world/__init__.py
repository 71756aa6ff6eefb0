"""The simulated Weitao world: population, user behaviour, slots and the closed loop."""
