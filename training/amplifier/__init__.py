"""The amplifier: predicted public lift of a fans-only post from its first hours among fans."""
