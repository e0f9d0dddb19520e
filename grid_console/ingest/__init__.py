"""MQTT in: subscribe, validate against the contract's schemas, apply each event once."""
