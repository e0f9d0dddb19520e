"""Notifications: who is told about a case, over which channel, and the proof that they were.

The boundary with the people and dispatch code is plain data (channels.Recipient), so this
package does not depend on their tables: `enqueue(session, case_id, recipients, reason, now)`
writes one delivery row per recipient and channel inside the caller's transaction, and a
DeliveryWorker sends them with retries, recording every attempt.
"""

from grid_console.notify.channels import Channel, ChannelKind, Recipient, recipient_from
from grid_console.notify.outbox import enqueue

__all__ = ["Channel", "ChannelKind", "Recipient", "enqueue", "recipient_from"]
