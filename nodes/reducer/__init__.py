"""Reducers: pure state machines that turn (state, event) into intents for an effect."""
