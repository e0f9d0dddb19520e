"""What the edge node and the grid console both need of the MQTT contract (mqtt/topics.md).

This is the seam between the two services: topic builders (`topics`), command signing
(`signing`) and the broker TLS context (`broker_tls`). It depends on the standard library only,
so either side can import it without the other's dependencies, and nothing in it knows about
cameras, cases or databases.
"""
