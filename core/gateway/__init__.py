"""The gateway runtime: TCP listeners, device sessions, and the types plugins exchange with it."""
